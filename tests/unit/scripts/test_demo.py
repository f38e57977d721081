"""scripts/demo.py as `make demo` runs it, against the fake api-server of tests/unit/conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _demo(fake, passwords, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LOADSTACK_"))}
    env.update({
        "LOADSTACK_HOME": str(tmp_path), "LOADSTACK_API_URL": fake.url, "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "plugins"), os.environ.get("PYTHONPATH")])),
    })
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_make_demo_runs_the_snapshots_first_then_the_stack(fake_airflow, tmp_path):
    fake, passwords = fake_airflow
    fake.add_dag("loadstack_snapshots")
    fake.add_dag("shop")
    fake.frames = [("success", {("build", -1): ("success", 1), ("surge.report", -1): ("success", 1)})]
    report = "http://127.0.0.1:5055/loadstack-reports/reports/shop/run/surge/index.html"
    fake.links["surge.report"] = {"Ramp report": report}
    done = _demo(fake, passwords, tmp_path, "--first", "loadstack_snapshots", "--dag-id", "shop", "--conf", "{}",
                 "--timeout", "30", "--parse-timeout", "10", "--poll", "0.01")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.index("first: loadstack_snapshots") < out.index("DAG 'loadstack_snapshots' is parsed") < out.index("DAG 'shop' is parsed")
    assert [call[1] for call in fake.calls("POST", r"/api/v2/dags/.*/dagRuns")] == [
        "/api/v2/dags/loadstack_snapshots/dagRuns", "/api/v2/dags/shop/dagRuns"]
    run_id = next(r for r in fake.runs.values() if r["dag_id"] == "shop")["dag_run_id"]
    assert f"Airflow UI:     {fake.url}   (this run: {fake.url}/dags/shop/runs/" in out
    assert f"login:          user admin, password in {passwords}" in out and fake.password not in out
    assert f"task logs:      {tmp_path}/airflow/logs/dag_id=shop/run_id={run_id}/" in out
    assert f"ramp report:    {report}   (surge.report)" in out and out.rstrip().endswith("stop everything: make down")


def test_the_demo_stops_when_a_first_dag_fails(fake_airflow, tmp_path):
    fake, passwords = fake_airflow
    fake.add_dag("loadstack_snapshots")
    fake.add_dag("shop")
    fake.frames = [("failed", {("build", -1): ("failed", 1)})]
    done = _demo(fake, passwords, tmp_path, "--first", "loadstack_snapshots", "--dag-id", "shop", "--poll", "0.01")
    assert done.returncode == 1
    assert "FAILED: loadstack_snapshots did not succeed; not running shop" in done.stderr
    assert not fake.calls("POST", "/api/v2/dags/shop/dagRuns")


def test_the_demo_explains_a_missing_password_file(tmp_path, fake_airflow):
    fake, _ = fake_airflow
    done = _demo(fake, tmp_path / "nope.json", tmp_path)
    assert done.returncode == 1 and f"password file {tmp_path}/nope.json: cannot read" in done.stderr
