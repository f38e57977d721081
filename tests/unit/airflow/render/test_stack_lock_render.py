"""The stack lock in both DAGs of a stack: taken before every task, given back after every task."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadstack.spec import load_stack

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"


@pytest.fixture(scope="module")
def storefront():
    return load_stack(FIXTURES / "good_specs" / "storefront.yaml", modules_dir=FIXTURES / "modules")


@pytest.mark.parametrize("builder", ["build_dag", "build_teardown_dag"])
def test_lock_first_unlock_last_as_a_setup_teardown_pair(storefront, builder):
    from airflow.sdk import TriggerRule

    from loadstack.airflow import render

    dag = getattr(render, builder)(storefront)
    lock, unlock = dag.get_task("stack-lock"), dag.get_task("stack-unlock")
    assert lock.is_setup and lock.upstream_task_ids == set() and lock.mode == "reschedule"
    assert lock.timeout == 12 * 3600 and lock.poke_interval == 30
    assert unlock.is_teardown and unlock.trigger_rule == TriggerRule.ALL_DONE_SETUP_SUCCESS
    assert not unlock.on_failure_fail_dagrun  # a lock left behind is broken by the next run, not a failed run
    # Every task hangs below the lock, and the unlock waits for its setup and every other task but the outcome
    # (and the other setups: a setup's direct downstream tasks must be all_success or teardowns).
    assert [t.task_id for t in dag.tasks if not t.upstream_task_ids] == ["stack-lock"]
    others = {t.task_id for t in dag.tasks if not t.is_setup} - {"stack-unlock", "run-outcome"}
    assert unlock.upstream_task_ids == others | {"stack-lock"}
    assert lock.stack == unlock.stack == "storefront"
    dag.validate_setup_teardown()


def test_the_outcome_comes_after_the_unlock(storefront):
    from loadstack.airflow.render import build_dag

    dag = build_dag(storefront)
    assert "stack-unlock" in dag.get_task("run-outcome").upstream_task_ids
    assert dag.get_task("stack-lock").downstream_task_ids == {"network.apply", "stack-unlock"}
