"""loadstack.airflow.ui.app: the ramp app's routes over fake sources, with real JWTs from the simple auth manager."""

from __future__ import annotations

import json
import re
import time

import pytest

from loadstack.airflow.ui.app import render_page
from loadstack.airflow.ui.paths import ramp_page_path
from loadstack.airflow.ui.live_view import RampAddress
from loadstack.ramp.control import CONTROL_KEY, STATUS_KEY, ControlRecord

RUN = "manual__2026-11-30T05:48:18.123+00:00"  # what Airflow names a manual run: ':' and '+' in a path
BASE = "/ramps/shop/" + RUN.replace("+", "%2B") + "/surge.ramp"


@pytest.fixture
def ramp(sources, finished_ramp_checkpoint):
    sources.task_instances[("shop", RUN, "surge.ramp")] = "running"
    sources.task_instances[("shop", RUN, "surge.report")] = None
    sources.checkpoints[("shop", RUN, "surge")] = finished_ramp_checkpoint
    return sources


def bearer(token, name="ana", role="user"):
    return {"Authorization": f"Bearer {token(name, role)}"}


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", BASE + "/page"), ("get", BASE + "/live"), ("post", BASE + "/pause"), ("post", BASE + "/resume"),
     ("post", BASE + "/terminate")],
)
def test_every_route_refuses_an_anonymous_request(client, ramp, method, path):
    answer = client.request(method.upper(), path, json={"reason": "x"})
    assert answer.status_code == 401
    assert ramp.writes == []


def test_a_viewer_sees_the_ramp_but_cannot_steer_it(client, ramp, token):
    headers = bearer(token, "vic", "viewer")
    assert client.get(BASE + "/live", headers=headers).status_code == 200
    assert client.get(BASE + "/page", headers=headers).status_code == 200
    assert client.post(BASE + "/pause", headers=headers, json={}).status_code == 403
    assert ramp.writes == []


def test_live_serves_the_checkpoint_the_control_record_and_the_status(client, ramp, token, finished_ramp_checkpoint):
    ramp.store[("shop", RUN, "surge.ramp", CONTROL_KEY)] = {"action": "pause", "seq": 2, "at": 1.0, "by": "ana"}
    ramp.store[("shop", RUN, "surge.ramp", STATUS_KEY)] = {"phase": "paused", "applied_control_seq": 2}
    answer = client.get(BASE + "/live", params={"samples_from": 5, "decisions_from": 1}, headers=bearer(token))
    assert answer.status_code == 200
    got = answer.json()
    assert (got["dag_id"], got["run_id"], got["task_id"], got["step"]) == ("shop", RUN, "surge.ramp", "surge")
    assert got["task_state"] == "running" and got["found"] is True
    assert got["checkpoint"] == f"s3://state/ramps/shop/{RUN}/surge/state.json"
    assert got["control"]["seq"] == 2 and got["status"]["phase"] == "paused"
    assert got["state"]["phase"] == "done" and got["params"]["target_qps"] == 600.0
    timeline = finished_ramp_checkpoint["state"]["timeline"]
    assert got["samples"]["from"] == 5 and got["samples"]["items"] == timeline["samples"][5:]
    assert got["decisions"]["items"] == timeline["decisions"][1:]


def test_live_before_the_first_checkpoint(client, ramp, token):
    ramp.checkpoints.clear()
    got = client.get(BASE + "/live", headers=bearer(token)).json()
    assert got["found"] is False and got["task_state"] == "running"


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/ramps/shop/" + RUN.replace("+", "%2B") + "/surge.report/live", "is not a ramp task"),
        ("/ramps/shop/manual__9/surge.ramp/live", "no task instance 'surge.ramp' in run 'manual__9' of DAG 'shop'"),
    ],
)
def test_live_for_a_task_that_is_no_ramp_or_does_not_exist_is_404(client, ramp, token, path, detail):
    answer = client.get(path, headers=bearer(token))
    assert answer.status_code == 404 and detail in answer.json()["detail"]


def test_commands_write_the_clis_control_record_numbered_by_the_logged_in_user(client, ramp, token):
    key = ("shop", RUN, "surge.ramp", CONTROL_KEY)
    before = time.time()
    first = client.post(BASE + "/pause", headers=bearer(token, "ana"), json={"reason": "  p99 alert  "})
    assert first.status_code == 200
    record = ControlRecord.from_json(ramp.store[key])
    assert (record.action, record.seq, record.by, record.reason) == ("pause", 1, "ana", "p99 alert")
    assert before <= record.at <= time.time() and first.json() == record.to_json()

    assert client.post(BASE + "/resume", headers=bearer(token, "bo", "op"), json={}).json()["seq"] == 2
    assert ControlRecord.from_json(ramp.store[key]).reason == "resume from the Airflow UI"
    # The ramp applied #4 (a CLI command since): the UI numbers after it, as the CLI does.
    ramp.store[("shop", RUN, "surge.ramp", STATUS_KEY)] = {"applied_control_seq": 4}
    third = client.post(BASE + "/terminate", headers=bearer(token, "ana"), json={"reason": "db CPU at 95 %"}).json()
    assert (third["action"], third["seq"], third["by"], third["reason"]) == ("terminate", 5, "ana", "db CPU at 95 %")
    assert [w[3] for w in ramp.writes] == [CONTROL_KEY] * 3


def test_a_command_needs_a_json_body_and_a_known_action(client, ramp, token):
    headers = bearer(token)
    # What a cross-site HTML form can send: refused, nothing written.
    form = client.post(BASE + "/pause", headers={**headers, "Content-Type": "text/plain"}, content='{"reason": "x"}')
    assert form.status_code == 422
    assert client.post(BASE + "/stop", headers=headers, json={}).status_code == 422
    assert client.post(BASE + "/pause", headers=headers, json={"reason": "x" * 501}).status_code == 422
    missing = client.post("/ramps/shop/manual__9/surge.ramp/pause", headers=headers, json={})
    assert missing.status_code == 404
    assert ramp.writes == []


def test_the_page_carries_its_script_and_the_ramps_address_and_nothing_external(client, ramp, token):
    answer = client.get(BASE + "/page", headers=bearer(token, "ana"))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    page = answer.text
    config = json.loads(re.search(r'<script type="application/json" id="ramp-config">(.*?)</script>', page, re.S)[1])
    assert config == {"dag_id": "shop", "run_id": RUN, "task_id": "surge.ramp", "user": "ana",
                      "base": "/loadstack/ramps/", "poll_s": 2.0}
    assert 'id="pause"' in page and 'id="resume"' in page and 'id="terminate"' in page and 'id="qps-chart"' in page
    assert "{{" not in page and "function drawChart" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # no CDN, no external reference


def test_the_page_escapes_what_it_is_given():
    page = render_page(RampAddress("shop", "</script><script>alert(1)</script>", "a<b>.ramp"), user_name="ana")
    assert "</script><script>alert(1)" not in page and "<title>Ramp a&lt;b&gt;.ramp" in page


def test_the_page_path_is_url_encoded():
    assert ramp_page_path("shop", RUN, "surge.ramp") == (
        "/loadstack/ramps/shop/manual__2026-11-30T05%3A48%3A18.123%2B00%3A00/surge.ramp/page"
    )


def test_the_app_publishes_no_schema_or_docs(client):
    assert client.get("/openapi.json").status_code == 404 and client.get("/docs").status_code == 404



def test_a_checkpoint_this_version_cannot_read_is_named_in_the_error(client, ramp, token, finished_ramp_checkpoint):
    ramp.checkpoints[("shop", RUN, "surge")] = {**finished_ramp_checkpoint,
                                                "state": {**finished_ramp_checkpoint["state"], "warp": 1}}
    answer = client.get(BASE + "/live", headers=bearer(token))
    assert answer.status_code == 500
    assert answer.json()["detail"].startswith(f"the ramp checkpoint s3://state/ramps/shop/{RUN}/surge/state.json cannot be read")
    assert "unknown field(s) warp" in answer.json()["detail"]
