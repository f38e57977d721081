"""GateSensor through Airflow (dag.test): a gate that is not ready yet defers to its trigger and
passes, and a gate that cannot pass fails its task naming the gate and the last value seen."""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = pytest.mark.integration


def gate_dag(dag_id: str, gate: dict):
    from airflow.sdk import DAG

    from loadstack.airflow.operators.gates import GateSensor

    with DAG(dag_id, schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False) as dag:
        GateSensor(task_id=gate["name"], stack="gates_it", step="ramp", variant="minimal", gate=gate, output_sources={})
    return dag


def task_instance(run, task_id: str):
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.query(TaskInstance).filter_by(run_id=run.run_id, task_id=task_id).one()


def test_a_gate_not_ready_at_first_defers_and_passes(run_dag, loadstack_env, slow_health_server, caplog):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    gate = {
        "name": "app_started",
        "kind": "http",
        "url": f"{slow_health_server.url}/health",
        "body": {"path": "status", "condition": "== ok"},
        "poke_interval_seconds": 0.5,
        "timeout_seconds": 60,
    }
    with caplog.at_level("INFO"):
        run = run_dag(gate_dag("gates_it_pass", gate))
    assert run.state == DagRunState.SUCCESS
    with create_session() as session:
        event = (
            session.query(XComModel).filter_by(run_id=run.run_id, task_id="app_started", key="return_value").one().value
        )
    # The worker's check saw "starting" (1st), the trigger's saw "starting" (2nd, 3rd), then "ok".
    assert "running trigger in line" in caplog.text
    assert event["status"] == "success" and event["observed"] == "ok" and event["checks"] == 3
    assert task_instance(run, "app_started").try_number == 1


def test_a_gate_that_times_out_fails_naming_the_gate_and_the_last_value(run_dag, loadstack_env, health_server, capsys):
    from airflow.utils.state import DagRunState, TaskInstanceState

    gate = {
        "name": "app_up",
        "kind": "http",
        "url": f"{health_server.url}/down",
        "poke_interval_seconds": 0.5,
        "timeout_seconds": 2,
    }
    run = run_dag(gate_dag("gates_it_timeout", gate))
    assert run.state == DagRunState.FAILED
    assert task_instance(run, "app_up").state == TaskInstanceState.FAILED
    task_log = "".join(capsys.readouterr())  # dag.test prints the task's log
    assert (
        "AirflowSensorTimeout: gate app_up did not pass within 2 s: last value 503 (condition HTTP 200; HTTP 503, expected 200)"
        in task_log
    )
