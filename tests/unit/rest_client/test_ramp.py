"""loadstack.rest_client.ramp against the fake api-server (tests/unit/conftest.py): which ramp task a
command addresses, the control records it writes (numbered after what came before), and the status."""

from __future__ import annotations

import pytest

from loadstack.ramp.control import CONTROL_KEY, STATUS_KEY, ControlRecord
from loadstack.rest_client.client import AirflowRestClient, ApiSettings
from loadstack.rest_client.ramp import RampNotFound, RampTask, find_ramp, read_status, send_control

RAMP_TASKS = {
    ("db.restore", -1): ("success", 1),
    ("surge.gate_app", -1): ("success", 1),
    ("surge.ramp", -1): ("running", 2),
    ("surge.report", -1): (None, 0),
}


@pytest.fixture
def fake(fake_airflow):
    fake, _ = fake_airflow
    fake.add_dag("shop")
    fake.frames = [("running", RAMP_TASKS)]
    return fake


def client_of(fake) -> AirflowRestClient:
    return AirflowRestClient(ApiSettings(base_url=fake.url, user="admin", password=fake.password))


def test_the_ramp_of_the_newest_running_run(fake):
    fake.add_run("shop", "older", "running")
    fake.add_run("shop", "newer", "running")
    fake.add_run("shop", "finished", "success")  # the newest, but over
    assert find_ramp(client_of(fake), "shop") == RampTask("shop", "newer", "surge.ramp", "running")


def test_a_queued_run_counts_and_a_given_run_is_taken_even_if_finished(fake):
    fake.add_run("shop", "finished", "failed")
    fake.add_run("shop", "waiting", "queued")
    assert find_ramp(client_of(fake), "shop").run_id == "waiting"
    assert find_ramp(client_of(fake), "shop", run_id="finished").run_id == "finished"


def test_no_running_run_says_how_to_address_a_finished_one(fake):
    fake.add_run("shop", "finished", "success")
    with pytest.raises(RampNotFound, match="^shop has no running run: give --run RUN_ID to address a finished one$"):
        find_ramp(client_of(fake), "shop")


def test_a_run_without_a_ramp_task_is_named(fake):
    fake.add_run("shop", "r1", "running")
    fake.frames = [("running", {("db.restore", -1): ("running", 1)})]
    with pytest.raises(RampNotFound, match=r"^run r1 of shop has no ramp task \(\*\.ramp\)$"):
        find_ramp(client_of(fake), "shop")
    with pytest.raises(RampNotFound, match=r"^run r1 of shop has no task surge\.ramp$"):
        find_ramp(client_of(fake), "shop", step="surge")


def test_several_ramps_are_named_and_step_chooses_one(fake):
    fake.add_run("shop", "r1", "running")
    fake.frames = [("running", {**RAMP_TASKS, ("soak.ramp", -1): ("scheduled", 0)})]
    with pytest.raises(
        RampNotFound, match=r"^run r1 of shop has several ramps \(soak, surge\): choose one with --step$"
    ):
        find_ramp(client_of(fake), "shop")
    assert find_ramp(client_of(fake), "shop", step="soak") == RampTask("shop", "r1", "soak.ramp", "scheduled")


def test_control_records_are_numbered_one_after_another(fake):
    fake.add_run("shop", "r1", "running")
    client = client_of(fake)
    ramp = find_ramp(client, "shop")
    first = send_control(client, ramp, "pause", reason="look at the dashboards", by="ana")
    assert (first.action, first.seq, first.by, first.reason) == ("pause", 1, "ana", "look at the dashboards")
    assert fake.task_state[("shop", "r1", "surge.ramp", CONTROL_KEY)] == first.to_json()
    second = send_control(client, ramp, "resume", by="ana")
    assert (second.action, second.seq, second.reason) == ("resume", 2, "resume from the command line")
    assert second.at >= first.at
    assert ControlRecord.from_json(fake.task_state[("shop", "r1", "surge.ramp", CONTROL_KEY)]) == second


def test_a_record_follows_what_the_ramp_applied_even_when_the_stored_one_is_gone_or_garbled(fake):
    fake.add_run("shop", "r1", "running")
    client = client_of(fake)
    ramp = find_ramp(client, "shop")
    where = ("shop", "r1", "surge.ramp")
    # The ramp applied record 3, then someone deleted the control key in the UI.
    fake.task_state[(*where, STATUS_KEY)] = {"phase": "paused", "applied_control_seq": 3}
    assert send_control(client, ramp, "resume").seq == 4
    fake.task_state[(*where, CONTROL_KEY)] = {"action": "explode", "seq": 7}  # not a record the ramp can apply
    assert send_control(client, ramp, "terminate").seq == 8


def test_status_and_control_are_read_back(fake):
    fake.add_run("shop", "r1", "running")
    client = client_of(fake)
    ramp = find_ramp(client, "shop")
    assert read_status(client, ramp) == (None, None)
    fake.task_state[("shop", "r1", "surge.ramp", STATUS_KEY)] = {"phase": "holding", "stage": 3}
    record = send_control(client, ramp, "pause")
    assert read_status(client, ramp) == ({"phase": "holding", "stage": 3}, record.to_json())
