"""A live traffic shift through Airflow (dag.test) on a local stack: real MariaDB, Redis, the app's stack and
production pools in one HAProxy backend, Prometheus labelling them by pool, and an organic generator (Locust)
sending live users through HAProxy.

No load is generated for the test: the ramp moves HAProxy weight from production's server to the stack's,
reading only the stack's traffic (pool="stack") from Prometheus, until the stack holds its band; then the
checks pass, the report is stored, all weight is back on production while the live users keep flowing, and
every process of the deployment stops by its PID.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from loadstack.ramp_store import RampStore
from loadstack.supervisor import pid_alive

pytestmark = pytest.mark.integration
STACK = "it_shift"
LIVE_QPS = 40.0


def task_states(run):
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=run.dag_id, run_id=run.run_id).all()
        return {ti.task_id: (ti.state, ti.try_number) for ti in tis}


def deployment_pids(base_dir: Path) -> dict[str, int]:
    """{PID file (relative to the deployment): its PID} for every process the app step runs."""
    found = {}
    for pid_file in sorted(base_dir.rglob("*.pid")):
        text = pid_file.read_text().strip()
        if text.isdigit():
            found[str(pid_file.relative_to(base_dir))] = int(text)
    return found


def prometheus_number(url: str, promql: str) -> float | None:
    body = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()
    result = body["data"]["result"]
    return float(result[0]["value"][1]) if result else None


@pytest.fixture
def shift_dag(stack_dag):
    return stack_dag(STACK)


def test_a_live_shift_moves_weight_onto_the_stack_until_it_holds_its_band_then_gives_it_back(
    shift_dag, run_dag, run_xcoms, local_profile
):
    from airflow.utils.state import DagRunState

    from loadstack.backends import backends_for
    from loadstack.haproxy.runtime import HAProxyRuntime

    logical_date = datetime.now(UTC)
    run = run_dag(shift_dag, logical_date=logical_date, run_after=logical_date)
    assert run.state == DagRunState.SUCCESS, task_states(run)
    out = run_xcoms(run)
    app = out["app.deploy"]
    assert app["live_qps"] == LIVE_QPS and len(app["production_servers"]) == 1 and len(app["stack_servers"]) == 1

    # The ramp went through its stages by moving weight, and held the stack's own traffic in its band.
    ramp = out["shift.ramp"]
    assert ramp["succeeded"] and ramp["phase"] == "done" and ramp["in_band_s"] >= 15, ramp
    saved = RampStore(local_profile, STACK, run.run_id, "shift").load()
    decisions = saved["state"]["timeline"]["decisions"]
    stages = [d["stage"] for d in decisions if d["action"] == "stage_reached"]
    assert stages == sorted(stages) and len(stages) >= 2, stages
    assert any(d["action"] == "hold_started" for d in decisions)
    # What HAProxy reported back: whole units of 40/256 QPS, close to what was asked, never above the live traffic.
    applied = [d["values"]["applied_qps"] for d in decisions if "applied_qps" in d.get("values", {})]
    assert applied and max(applied) <= LIVE_QPS and max(applied) >= 12, applied
    for value in applied:
        units = value / LIVE_QPS * 256
        assert abs(units - round(units)) < 1e-6, value
    # Prometheus counted the stack's pool only: in band while holding, never near all the live traffic.
    measured = [s["qps"] for s in saved["state"]["timeline"]["samples"] if s["qps"] is not None]
    assert measured and max(measured) < 16 + 4 * 2.5, measured

    # The checks passed and the report is in the report bucket.
    assert all(result["passed"] for result in out["shift.checks"])
    report = out["shift.report"]
    assert report["summary"]["outcome"] == "done" and report["url"].startswith(local_profile.endpoint_url)
    prefix = f"reports/{STACK}/{run.run_id}/shift/"
    listed = local_profile.client("s3").list_objects_v2(Bucket=local_profile.report_bucket, Prefix=prefix)
    assert {prefix + name for name in ("index.html", "timeline.json", "qps.png")} <= {o["Key"] for o in listed["Contents"]}

    # Drained: all weight back on production (256), the stack's server at 0, read back from HAProxy itself.
    rows = {row.name: row for row in HAProxyRuntime(app["admin_socket"]).servers(app["haproxy_backend"])}
    assert [rows[name].weight for name in app["stack_servers"]] == [0]
    assert sum(rows[name].weight for name in app["production_servers"]) == 256
    # The live users never stopped: both pools together still serve the organic rate, now all on production.
    everything = 'sum(rate(shopapp_requests_total{job="app",route!~"/health|/metrics"}[10s]))'
    total = prometheus_number(app["prometheus_url"], everything)
    assert total is not None and abs(total - LIVE_QPS) < LIVE_QPS * 0.25, total
    production = prometheus_number(app["prometheus_url"], everything.replace('job="app"', 'job="app",pool="production"'))
    assert production is not None and production > LIVE_QPS * 0.5, production

    # Teardown stops every process of the deployment by its PID: organic users, both pools, HAProxy, Prometheus.
    service = backends_for(local_profile).app(STACK, "app")
    pids = deployment_pids(service.base_dir)
    assert {"organic/master.pid", "organic/worker-0.pid", "lb/haproxy.pid"} <= set(pids), pids
    assert sum(1 for name in pids if name.startswith("apps/")) == 2, pids
    assert all(pid_alive(pid) for pid in pids.values()), pids
    assert service.teardown() is True
    assert [name for name, pid in pids.items() if pid_alive(pid)] == []
    assert not service.base_dir.exists()
