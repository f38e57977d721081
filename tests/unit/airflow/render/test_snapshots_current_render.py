"""Snapshots as Assets: the snapshot DAG's builds update them, a stack DAG checks them before every step and has
what is stale rebuilt first (skipped when nothing is)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadstack.spec import load_stack

ROOT = Path(__file__).resolve().parents[4]
FIXTURES = ROOT / "tests" / "fixtures"


def test_the_stack_dag_checks_its_snapshots_before_every_step():
    from loadstack.airflow.operators.snapshots import snapshot_asset
    from loadstack.airflow.render import build_dag

    dag = build_dag(load_stack(ROOT / "include" / "stacks" / "shop.yaml"))
    check = dag.get_task("snapshots-current")
    # After the stack lock only: before every step.
    assert check.upstream_task_ids == {"stack-lock"}
    first = {task.task_id for task in dag.tasks if task.upstream_task_ids == {"stack-lock"}}
    assert first == {"snapshots-current"}
    # The run's snapshot Param for the database; the cache's is fixed in the spec.
    assert check.snapshots == {"events_db": "{{ params.events_db_snapshot }}", "cache": "shop-cache"}
    assert check.template_fields == ("snapshots", "rebuild")
    assert check.rebuild == "{{ params.rebuild_snapshots }}"
    assert check.snapshots_dir == str(ROOT / "include" / "snapshots")
    assert check.inlets == [snapshot_asset(name) for name in ("shop-cache", "shop-migrated", "shop-seeded")]
    assert check.retries == 2


def test_the_rebuild_follows_the_check_and_every_step_that_came_first_waits_for_it_even_skipped():
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
    from airflow.sdk import TriggerRule

    from loadstack.airflow.render import build_dag

    dag = build_dag(load_stack(ROOT / "include" / "stacks" / "shop.yaml"))
    rebuild = dag.get_task("snapshots-rebuild")
    assert isinstance(rebuild, TriggerDagRunOperator)
    assert rebuild.upstream_task_ids == {"snapshots-current"}
    assert (rebuild.trigger_dag_id, rebuild.wait_for_completion, rebuild.deferrable, rebuild.poke_interval) == (
        "loadstack_snapshots", True, True, 15)
    assert rebuild.fail_when_dag_is_paused and [str(s) for s in rebuild.failed_states] == ["failed"]
    assert rebuild.check_task_id == "snapshots-current" and rebuild.snapshots_dir == str(ROOT / "include" / "snapshots")
    assert rebuild.retries == 0
    first = {task.task_id: task.trigger_rule for task in dag.tasks if task.upstream_task_ids == {"snapshots-rebuild"}}
    assert first == {"network.apply": TriggerRule.NONE_FAILED, "events_db.restore": TriggerRule.NONE_FAILED,
                     "cache.restore": TriggerRule.NONE_FAILED}


def test_the_rebuild_snapshots_param_is_in_the_stack_section_and_on_by_default():
    from airflow.sdk.exceptions import ParamValidationError

    from loadstack.airflow.render import build_dag

    param = build_dag(load_stack(ROOT / "include" / "stacks" / "shop.yaml")).params.get_param("rebuild_snapshots")
    assert param.value is True
    assert (param.schema["type"], param.schema["section"], param.schema["title"]) == (
        "boolean", "Stack", "Rebuild stale snapshots")
    assert param.description.startswith("on: a snapshot whose definition changed")
    with pytest.raises(ParamValidationError):
        param.resolve("sometimes")


def test_a_stack_that_restores_nothing_has_no_check_no_rebuild_and_no_param():
    from loadstack.airflow.render import build_dag

    dag = build_dag(load_stack(FIXTURES / "good_specs" / "storefront.yaml", modules_dir=FIXTURES / "modules"))
    assert not {"snapshots-current", "snapshots-rebuild"} & set(dag.task_ids)
    assert "rebuild_snapshots" not in dag.params
    assert {task.trigger_rule for task in dag.tasks if task.task_id == "network.apply"} == {"all_success"}


def test_each_build_of_the_snapshot_dag_updates_its_snapshots_asset():
    from loadstack.airflow.operators.snapshots import snapshot_asset
    from loadstack.airflow.render.snapshots import build_snapshots_dag
    from loadstack.snapshots.catalog import load_definitions

    dag = build_snapshots_dag(ROOT / "include" / "snapshots")
    names = sorted(load_definitions(ROOT / "include" / "snapshots"))
    assert {task.task_id: task.outlets for task in dag.tasks} == {
        f"build_{name.replace('-', '_')}": [snapshot_asset(name)] for name in names
    }


def test_snapshot_builds_go_to_the_infrastructure_queue(monkeypatch):
    from loadstack.airflow.render.snapshots import build_snapshots_dag

    monkeypatch.setenv("LOADSTACK_QUEUES", "infra=tf,load=load")
    assert {task.queue for task in build_snapshots_dag(ROOT / "include" / "snapshots").tasks} == {"tf"}
