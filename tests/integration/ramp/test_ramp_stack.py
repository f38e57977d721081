"""The ramp step through Airflow (dag.test) on a local stack: real MariaDB, Redis, the app behind
HAProxy, Prometheus and Locust.

Gates on real health, a short three-stage ramp to 40 QPS; terminate drains and fails, and the same run
started again holds its band from its checkpoint, passes its checks and stores its report; an injected
error burst aborts and drains; a killed load generator is retried and resumes at the stage reached.
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from loadstack.ramp_store import RampStore

pytestmark = pytest.mark.integration
STACK = "it_ramp"



def task_states(run):
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=run.dag_id, run_id=run.run_id).all()
        return {ti.task_id: (ti.state, ti.try_number) for ti in tis}


def locust_processes() -> list[int]:
    """This session's Locust processes (their log files are under its LOADSTACK_HOME; another pytest worker
    may be running its own)."""
    home = os.environ["LOADSTACK_HOME"].encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if (
                any(b"locust" in part for part in cmdline[:3])
                and any(b"include/locust/shop.py" in p for p in cmdline)
                and any(home in p for p in cmdline)
            ):
                found.append(int(proc.name))
    return found


@pytest.fixture
def ramp_dag(stack_dag):
    return stack_dag(STACK)


def watch(store: RampStore, until, action, timeout: float = 600.0) -> threading.Thread:
    """In the background: poll the ramp's checkpoint until `until(state)` holds, then call `action()`."""

    def run() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            saved = store.load()
            if saved is not None and until(saved["state"]):
                action()
                return
            time.sleep(0.5)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def assert_held_checked_and_reported(run, out, local_profile) -> None:
    """A ramp that went through its stages, held its band, passed its checks and stored its report."""
    import urllib.request

    ramp = out["surge.ramp"]
    assert ramp["succeeded"] and ramp["phase"] == "done" and ramp["in_band_s"] >= 15

    saved = RampStore(local_profile, STACK, run.run_id, "surge").load()
    decisions = saved["state"]["timeline"]["decisions"]
    stages = [d["stage"] for d in decisions if d["action"] == "stage_reached"]
    assert stages == sorted(stages) and len(stages) >= 2, stages
    assert any(d["action"] == "hold_started" for d in decisions)
    for sample in saved["state"]["timeline"]["samples"]:
        assert sample["qps"] is None or sample["qps"] <= 46 * 1.5  # never far above the high watermark

    assert all(result["passed"] for result in out["surge.checks"])
    report = out["surge.report"]
    assert report["summary"]["outcome"] == "done"
    assert report["url"].startswith(local_profile.endpoint_url)
    with urllib.request.urlopen(report["url"], timeout=10) as page:  # a browser, no credentials: presigned
        assert page.status == 200 and b"<html" in page.read(2000).lower()
    s3 = local_profile.client("s3")
    prefix = f"reports/{STACK}/{run.run_id}/surge/"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=local_profile.report_bucket, Prefix=prefix)["Contents"]}
    assert {prefix + name for name in ("index.html", "timeline.json", "qps.png", "latency.png", "errors.png")} <= keys
    document = json.loads(s3.get_object(Bucket=local_profile.report_bucket, Key=prefix + "timeline.json")["Body"].read())
    assert document["passed"] is True


def set_fault(local_profile, error_ratio: float) -> None:
    """Switch on the app's dynamic fault (every process reads it from Redis within a second)."""
    from loadstack.cache.redis_server import RedisServer
    from loadstack.credentials import get_json_secret
    from loadstack.restore.local_cache import LocalCache

    cache = LocalCache(local_profile, STACK, "cache")
    secret = get_json_secret(local_profile, cache.secret_name)
    client = RedisServer(cache.base_dir, secret["port"], secret["password"]).connect()
    try:
        client.set("shopapp:fault", json.dumps({"latency_ms": 0, "error_ratio": error_ratio, "until": None}))
    finally:
        client.close()


def write_control(run_id: str, action: str, seq: int, *, at: float | None = None) -> dict:
    """What `loadstack ramp <action>` writes, through the store the REST API writes to."""
    from airflow._shared.state import TaskScope
    from airflow.state.metastore import MetastoreBackend

    from loadstack.ramp.control import CONTROL_KEY, ControlRecord

    record = ControlRecord(action=action, seq=seq, at=time.time() if at is None else at, by="test", reason=f"{action} from the test")
    MetastoreBackend().set(TaskScope(STACK, run_id, "surge.ramp"), CONTROL_KEY, json.dumps(record.to_json()))
    return record.to_json()


def test_an_error_burst_aborts_the_ramp_drains_it_and_fails_the_task_naming_the_rule(run_xcoms, ramp_dag, run_dag, local_profile):
    from airflow.utils.state import DagRunState, TaskInstanceState

    logical_date = datetime.now(timezone.utc)
    run_id = f"manual__{logical_date.isoformat()}"
    burst_at: list[float] = []

    def burst() -> None:
        set_fault(local_profile, 0.5)
        burst_at.append(time.time())

    store = RampStore(local_profile, STACK, run_id, "surge")
    watcher = watch(store, lambda state: state["stage"] >= 2, burst)
    try:
        run = run_dag(ramp_dag, logical_date=logical_date, run_after=logical_date)
    finally:
        set_fault(local_profile, 0.0)
    watcher.join(timeout=5)
    assert run.run_id == run_id and burst_at, "the burst was never injected"
    assert run.state == DagRunState.FAILED
    states = task_states(run)
    assert states["surge.ramp"] == (TaskInstanceState.FAILED, 1)  # an abort is not retried
    assert states["surge.checks"][0] == TaskInstanceState.UPSTREAM_FAILED
    assert states["surge.report"][0] == TaskInstanceState.SUCCESS  # the report is written whatever happened

    state = store.load()["state"]
    assert state["phase"] == "aborted" and "error_ratio" in state["end_reason"]
    abort = next(d for d in state["timeline"]["decisions"] if d["action"] == "abort")
    assert abort["values"]["error_ratio"] > 0.1 and abort["sample_age_s"] is not None
    # The rule is sustained over 4 s; the sample is dated back by the window (4 s) and a scrape (1 s).
    assert abort["at"] - burst_at[0] < 4 + 5 + 4 + 10, abort
    # abort_drain_s 6: the traffic goes down in steps, then to 0.
    steps = [d for d in state["timeline"]["decisions"] if d["action"] == "drain_step"]
    drain = next(d for d in state["timeline"]["decisions"] if d["action"] == "drain")
    assert len(steps) >= 2 and drain["buckets_after"] == 0 and 5 <= drain["at"] - abort["at"] <= 9, (steps, drain)
    assert run_xcoms(run)["surge.report"]["summary"]["outcome"] == "aborted"
    assert locust_processes() == []


@pytest.mark.long
def test_terminate_drains_and_fails_then_the_same_run_started_again_holds_its_band_and_reports(run_xcoms, ramp_dag, run_dag, local_profile):
    # One scenario for both paths through the gates, stages, hold, checks and report (each ramp costs minutes).
    from airflow.utils.state import DagRunState, TaskInstanceState

    logical_date = datetime.now(timezone.utc)
    run_id = f"manual__{logical_date.isoformat()}"
    store = RampStore(local_profile, STACK, run_id, "surge")
    sent: list[dict] = []
    watcher = watch(store, lambda state: state["phase"] == "holding", lambda: sent.append(write_control(run_id, "terminate", 1)))
    run = run_dag(ramp_dag, logical_date=logical_date, run_after=logical_date)
    watcher.join(timeout=5)
    assert sent, "terminate was never sent"
    assert run.state == DagRunState.FAILED
    assert task_states(run)["surge.ramp"] == (TaskInstanceState.FAILED, 1)
    state = store.load()["state"]
    assert state["phase"] == "terminated" and "terminate from the test" in state["end_reason"]
    assert locust_processes() == []

    # Clearing the task: the same run id runs the ramp again, with the old terminate still on record.
    write_control(run_id, "terminate", 1, at=sent[0]["at"])
    again = run_dag(ramp_dag, logical_date=logical_date, run_after=logical_date)
    assert again.run_id == run_id
    assert again.state == DagRunState.SUCCESS, task_states(again)
    out = run_xcoms(again)
    assert_held_checked_and_reported(again, out, local_profile)
    assert run_xcoms(again, key="report_url")["surge.report"] == out["surge.report"]["url"]
    assert locust_processes() == []


@pytest.mark.long
def test_a_retry_resumes_at_the_stage_reached(ramp_dag, run_dag, local_profile):
    import signal

    from airflow.utils.state import DagRunState

    logical_date = datetime.now(timezone.utc)
    run_id = f"manual__{logical_date.isoformat()}"
    store = RampStore(local_profile, STACK, run_id, "surge")
    killed: list[int] = []

    def kill_load_generator() -> None:
        for pid in locust_processes():
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    watcher = watch(store, lambda state: state["stage"] >= 2, kill_load_generator)
    run = run_dag(ramp_dag, logical_date=logical_date, run_after=logical_date)
    watcher.join(timeout=5)
    assert killed, "the load generator was never killed"
    assert run.state == DagRunState.SUCCESS, task_states(run)
    assert task_states(run)["surge.ramp"][1] == 2  # the first try failed, the retry finished the ramp
    decisions = store.load()["state"]["timeline"]["decisions"]
    starts = [d for d in decisions if d["action"] == "start"]
    assert len(starts) == 2 and starts[1]["stage"] >= 2, starts
    assert locust_processes() == []
