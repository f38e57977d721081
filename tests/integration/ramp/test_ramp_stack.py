"""The ramp step through Airflow (dag.test) on a local stack: real MariaDB, Redis, the app behind
HAProxy, Prometheus and Locust.

Gates on real health, a short three-stage ramp to 40 QPS held in band, checks and a stored report;
an injected error burst aborts and drains; terminate drains and fails, and the same run started
again completes from its checkpoint.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from loadstack.ramp_store import RampStore
from loadstack.spec import load_stack

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
STACK = "it_ramp"


def results(run, key="return_value"):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(run_id=run.run_id, key=key).all()
        return {row.task_id: row.value for row in rows}


def task_states(run):
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=run.dag_id, run_id=run.run_id).all()
        return {ti.task_id: (ti.state, ti.try_number) for ti in tis}


def locust_processes() -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(b"locust" in part for part in cmdline[:3]) and any(b"include/locust/shop.py" in p for p in cmdline):
                found.append(int(proc.name))
    return found


@pytest.fixture(scope="module")
def snapshots(local_env):
    from loadstack.profiles import load_profile
    from loadstack.snapshots.build_local import build_mariadb_snapshot, build_redis_snapshot
    from loadstack.snapshots.catalog import load_definitions

    profile = load_profile(local_env)
    definitions = load_definitions(FIXTURES / "snapshots")
    build_mariadb_snapshot(profile, "fx-seeded", definitions["fx-seeded"])
    build_redis_snapshot(profile, "fx-cache-seeded", definitions["fx-cache-seeded"])


@pytest.fixture
def ramp_dag(snapshots, loadstack_env, local_profile):
    from loadstack.airflow.render import build_dag
    from loadstack.backends import backends_for

    stack = load_stack(FIXTURES / "it_stacks" / "it_ramp.yaml", modules_dir=FIXTURES / "tf_modules")
    yield build_dag(stack)
    # Stop the app, HAProxy, Prometheus, MariaDB and Redis by PID, whatever the test did.
    backends = backends_for(local_profile)
    backends.app(STACK, "app").teardown()
    backends.cache(STACK, "cache").teardown()
    backends.database(STACK, "db").teardown()


def watch(store: RampStore, until, action, timeout: float = 240.0) -> threading.Thread:
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


def test_gates_pass_then_the_ramp_holds_its_band_checks_pass_and_the_report_is_stored(ramp_dag, run_dag, local_profile):
    from airflow.utils.state import DagRunState

    run = run_dag(ramp_dag)
    out = results(run)
    assert run.state == DagRunState.SUCCESS, task_states(run)
    ramp = out["surge.ramp"]
    assert ramp["succeeded"] and ramp["phase"] == "done" and ramp["in_band_s"] >= 20

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
    s3 = local_profile.client("s3")
    prefix = f"reports/{STACK}/{run.run_id}/surge/"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=local_profile.report_bucket, Prefix=prefix)["Contents"]}
    assert {prefix + name for name in ("index.html", "timeline.json", "qps.png", "latency.png", "errors.png")} <= keys
    document = json.loads(s3.get_object(Bucket=local_profile.report_bucket, Key=prefix + "timeline.json")["Body"].read())
    assert document["passed"] is True
    assert results(run, key="report_url")["surge.report"] == report["url"]
    assert locust_processes() == []  # whatever the ramp starts it stops
