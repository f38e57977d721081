"""Snapshots as Assets: the snapshot DAG's builds update them, a stack DAG checks them before every step."""

from __future__ import annotations

from pathlib import Path

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
    assert check.template_fields == ("snapshots",)
    assert check.snapshots_dir == str(ROOT / "include" / "snapshots")
    assert check.inlets == [snapshot_asset(name) for name in ("shop-cache", "shop-migrated", "shop-seeded")]
    assert check.retries == 2


def test_a_stack_that_restores_nothing_has_no_check():
    from loadstack.airflow.render import build_dag

    dag = build_dag(load_stack(FIXTURES / "good_specs" / "storefront.yaml", modules_dir=FIXTURES / "modules"))
    assert "snapshots-current" not in dag.task_ids


def test_each_build_of_the_snapshot_dag_updates_its_snapshots_asset():
    from loadstack.airflow.operators.snapshots import snapshot_asset
    from loadstack.airflow.render.snapshots import build_snapshots_dag
    from loadstack.snapshots.catalog import load_definitions

    dag = build_snapshots_dag(ROOT / "include" / "snapshots")
    names = sorted(load_definitions(ROOT / "include" / "snapshots"))
    assert {task.task_id: task.outlets for task in dag.tasks} == {
        f"build_{name.replace('-', '_')}": [snapshot_asset(name)] for name in names
    }
