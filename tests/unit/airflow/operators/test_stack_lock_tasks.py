"""The lock tasks against moto's in-process S3: wait while another run holds it, break it when that run is over."""

from __future__ import annotations

from unittest import mock

import pytest

from loadstack.airflow.operators.stack_lock import StackLockSensor, StackUnlockOperator
from loadstack.stack_lock import StackLock


@pytest.fixture
def lock(s3_profile) -> StackLock:
    return StackLock(s3_profile, "shop")


def context(run_id: str, dag_id: str = "shop", active_runs: int = 1) -> dict:
    ti = mock.Mock(dag_id=dag_id)
    ti.get_dr_count.return_value = active_runs
    return {"ti": ti, "dag_run": mock.Mock(run_id=run_id)}


def sensor(lock) -> StackLockSensor:
    op = StackLockSensor(task_id="stack-lock", stack="shop")
    op.lock = lock
    return op


def test_the_sensor_waits_without_a_worker_slot():
    assert StackLockSensor(task_id="stack-lock", stack="shop").mode == "reschedule"


def test_a_free_lock_is_taken(lock):
    assert sensor(lock).poke(context("scheduled__1")) is True
    assert lock.holder()[0].run_id == "scheduled__1"


def test_a_backfill_run_waits_while_the_nightly_run_holds_it(lock):
    lock.acquire(dag_id="shop", run_id="scheduled__1")
    waiting = context("backfill__1", active_runs=1)
    assert sensor(lock).poke(waiting) is False
    waiting["ti"].get_dr_count.assert_called_once_with(dag_id="shop", run_ids=["scheduled__1"],
                                                       states=["queued", "running"])
    assert lock.holder()[0].run_id == "scheduled__1"


def test_a_lock_left_by_a_run_that_is_over_is_broken_and_taken(lock):
    lock.acquire(dag_id="shop", run_id="scheduled__1")
    assert sensor(lock).poke(context("manual__2", dag_id="shop__teardown", active_runs=0)) is True
    holder = lock.holder()[0]
    assert (holder.dag_id, holder.run_id) == ("shop__teardown", "manual__2")


def test_unlock_gives_back_only_its_own_lock(lock):
    lock.acquire(dag_id="shop", run_id="scheduled__1")
    unlock = StackUnlockOperator(task_id="stack-unlock", stack="shop")
    unlock.lock = lock
    unlock.execute(context("backfill__1"))
    assert lock.holder()[0].run_id == "scheduled__1"
    unlock.execute(context("scheduled__1"))
    assert lock.holder() == (None, None)
