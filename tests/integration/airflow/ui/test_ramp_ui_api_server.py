"""The ramp app on a real api-server: loaded from the project's plugins folder, refusing anonymous and
unauthorized requests, serving a checkpoint from the state bucket, and writing the CLI's control record."""

from __future__ import annotations

import httpx
import pytest

from loadstack.ramp.control import CONTROL_KEY, STATUS_KEY
from loadstack.ramp_store import RampStore
from loadstack.rest_client.ramp import RampTask, send_control

pytestmark = pytest.mark.integration

# The probe DAG of this directory's conftest: a stack with a ramp step.
STACK, STEP, RAMP_TASK = "ramp_probe", "surge", "surge.ramp"


def ramp_url(api_server, run_id: str, tail: str) -> str:
    return api_server.ramp_url(STACK, run_id, RAMP_TASK, tail)


def test_the_api_server_loads_the_plugin_from_the_projects_plugins_folder(api_server):
    listed = httpx.get(f"{api_server.url}/api/v2/plugins", headers={"Authorization": f"Bearer {api_server.token('admin')}"})
    assert listed.status_code == 200, listed.text
    (plugin,) = [p for p in listed.json()["plugins"] if p["name"] == "loadstack_ramp"]
    assert plugin["source"] == "$PLUGINS_FOLDER/loadstack_ramp_ui.py"
    assert [(a["url_prefix"], a["name"]) for a in plugin["fastapi_apps"]] == [("/loadstack", "loadstack ramp")]
    assert [(v["name"], v["destination"]) for v in plugin["external_views"]] == [("Ramp", "task_instance")]
    assert listed.json()["total_entries"] >= 1


def test_anonymous_requests_are_refused_and_a_logged_in_user_is_served(api_server):
    run_id = api_server.trigger(STACK)
    for method, tail in (("GET", "page"), ("GET", "live"), ("POST", "pause"), ("POST", "terminate")):
        answer = httpx.request(method, ramp_url(api_server, run_id, tail), json={})
        assert answer.status_code == 401, (method, tail, answer.text)
        forged = httpx.request(method, ramp_url(api_server, run_id, tail), json={}, headers={"Authorization": "Bearer x.y.z"})
        assert forged.status_code == 403, (method, tail, forged.text)

    viewer = {"Authorization": f"Bearer {api_server.token('watcher')}"}
    page = httpx.get(ramp_url(api_server, run_id, "page"), headers=viewer)
    assert page.status_code == 200 and 'id="qps-chart"' in page.text and '"user": "watcher"' in page.text
    live = httpx.get(ramp_url(api_server, run_id, "live"), headers=viewer)
    assert live.status_code == 200, live.text
    assert live.json()["found"] is False and live.json()["checkpoint"] == RampStore(
        api_server.profile, STACK, run_id, STEP).location
    refused = httpx.post(ramp_url(api_server, run_id, "pause"), headers=viewer, json={"reason": "a viewer tries"})
    assert refused.status_code == 403
    with api_server.client() as client:
        assert client.task_state(STACK, run_id, RAMP_TASK, CONTROL_KEY) is None


def test_the_page_shows_the_checkpoint_and_the_buttons_write_the_clis_control_record(api_server, finished_ramp_checkpoint):
    run_id = api_server.trigger(STACK)
    RampStore(api_server.profile, STACK, run_id, STEP).save(finished_ramp_checkpoint)
    admin = {"Authorization": f"Bearer {api_server.token('admin')}"}

    live = httpx.get(ramp_url(api_server, run_id, "live"), headers=admin, params={"samples_from": 0}).json()
    assert live["found"] is True and live["state"]["phase"] == "done"
    assert live["samples"]["items"] == finished_ramp_checkpoint["state"]["timeline"]["samples"]
    assert live["task_state"] in (None, "scheduled", "queued")

    paused = httpx.post(ramp_url(api_server, run_id, "pause"), headers=admin, json={"reason": "p99 alert"})
    assert paused.status_code == 200, paused.text
    with api_server.client() as client:
        record = client.task_state(STACK, run_id, RAMP_TASK, CONTROL_KEY)
        assert (record["action"], record["seq"], record["by"], record["reason"]) == ("pause", 1, "admin", "p99 alert")
        # The CLI numbers after the UI's record, and the UI after the CLI's and after what the ramp applied.
        ramp = RampTask(STACK, run_id, RAMP_TASK, "running")
        assert send_control(client, ramp, "resume", by="cli-user").seq == 2
        client.set_task_state(STACK, run_id, RAMP_TASK, STATUS_KEY, {"phase": "ramping", "applied_control_seq": 6})
        terminated = httpx.post(ramp_url(api_server, run_id, "terminate"), headers=admin, json={}).json()
        assert (terminated["action"], terminated["seq"]) == ("terminate", 7)
        assert client.task_state(STACK, run_id, RAMP_TASK, CONTROL_KEY) == terminated
    live = httpx.get(ramp_url(api_server, run_id, "live"), headers=admin).json()
    assert live["control"] == terminated and live["status"]["applied_control_seq"] == 6


def test_a_task_that_is_no_ramp_or_no_task_instance_is_404(api_server):
    admin = {"Authorization": f"Bearer {api_server.token('admin')}"}
    missing = httpx.get(ramp_url(api_server, "manual__nope", "live"), headers=admin)
    assert missing.status_code == 404 and "no task instance" in missing.json()["detail"]
