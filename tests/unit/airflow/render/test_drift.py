"""The drift DAG as rendered: nightly, no catch-up, live steps mapped to plan tasks, report after all."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def dag():
    from loadstack.airflow.render.drift import build_drift_dag

    return build_drift_dag(ROOT / "include" / "stacks")


def test_structure_find_then_mapped_plans_then_report(dag):
    assert {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks} == {
        "find_live_steps": [], "plan": ["find_live_steps"], "report": ["plan"],
    }


def test_nightly_without_catch_up_one_run_at_a_time(dag):
    assert dag.dag_id == "loadstack_drift"
    assert dag.schedule == "0 3 * * *"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert set(dag.tags) == {"loadstack", "drift"}
    assert {t.owner for t in dag.tasks} == {"loadstack"}


def test_reapply_is_a_boolean_param_off_by_default(dag):
    from airflow.sdk.definitions.param import ParamValidationError

    reapply = dag.params.get_param("reapply")
    assert reapply.value is False and reapply.schema["type"] == "boolean"
    assert reapply.resolve(True) is True
    with pytest.raises(ParamValidationError):
        reapply.resolve("maybe")
    tasks = {t.task_id: t for t in dag.tasks}
    assert tasks["plan"].partial_kwargs["reapply"] == "{{ params.reapply }}"
    assert tasks["report"].reapply == "{{ params.reapply }}"


def test_plans_are_mapped_over_the_live_steps_and_limited(dag):
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    plan = dag.get_task("plan")
    assert isinstance(plan, MappedOperator)
    (arg,) = plan.expand_input.value.values()
    assert arg.operator.task_id == "find_live_steps"
    assert plan.partial_kwargs["retries"] == 0
    assert plan.partial_kwargs["max_active_tis_per_dag"] == 2


def test_report_runs_whatever_the_plans_did(dag):
    report = dag.get_task("report")
    assert report.trigger_rule == "all_done"
    assert report.targets_task_id == "find_live_steps"


def test_the_dags_folder_file_builds_it_from_the_stacks_dir():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "loadstack_drift.py"), safe_mode=True)
    assert bag.import_errors == {}
    assert bag.dags["loadstack_drift"].get_task("find_live_steps").stacks_dir == str(ROOT / "include" / "stacks")


def test_plans_run_terraform_so_they_go_to_the_infrastructure_queue(monkeypatch):
    from loadstack.airflow.render.drift import build_drift_dag

    monkeypatch.setenv("LOADSTACK_QUEUES", "infra=tf,load=load")
    assert {task.queue for task in build_drift_dag(ROOT / "include" / "stacks").tasks} == {"tf"}
