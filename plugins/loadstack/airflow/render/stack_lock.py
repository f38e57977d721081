"""The stack lock around a stack's DAGs (loadstack.stack_lock): `stack-lock` before every other task,
`stack-unlock` after them, as a setup/teardown pair, so the lock is given back whatever became of the run.

The stack DAG and the teardown DAG take the same lock, so a backfill run (which Airflow does not count against
the DAG's max_active_runs), a nightly run and a teardown run (by hand or by the reaper) never apply, restore or
destroy the same stack at once: the later one waits, without a worker slot, until the earlier one is done.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from loadstack.airflow.operators.stack_lock import StackLockSensor, StackUnlockOperator
from loadstack.spec import Stack

LOCK_TASK_ID = "stack-lock"
UNLOCK_TASK_ID = "stack-unlock"
# How long a run waits for another run of its stack: a production ramp holds for hours.
LOCK_WAIT = timedelta(hours=12)
LOCK_POKE_INTERVAL = timedelta(seconds=30)


def add_stack_lock(dag: DAG, stack: Stack, *, before: list | None = None) -> tuple[StackLockSensor, StackUnlockOperator]:
    """Lock before the DAG's roots, unlock after every task, except those in `before` (tasks that must come
    after the unlock, such as the run's outcome). Call it once every other task is in the DAG."""
    after_unlock = {task.task_id for task in before or ()}
    tasks = [task for task in dag.tasks if task.task_id not in after_unlock]
    roots = [task for task in tasks if not task.upstream_task_ids]
    lock = StackLockSensor(
        task_id=LOCK_TASK_ID, dag=dag, stack=stack.name, poke_interval=LOCK_POKE_INTERVAL.total_seconds(),
        timeout=LOCK_WAIT.total_seconds(), retries=2, retry_delay=timedelta(seconds=10),
        doc_md="Waits until no other run of this stack (a backfill, a nightly run, its teardown DAG) holds the "
        "stack's lock in the state bucket, then takes it.",
    ).as_setup()
    unlock = StackUnlockOperator(
        task_id=UNLOCK_TASK_ID, dag=dag, stack=stack.name, retries=2, retry_delay=timedelta(seconds=5),
        execution_timeout=timedelta(minutes=2), doc_md="Gives the stack's lock back, whatever became of the run.",
    ).as_teardown(setups=lock)
    lock.set_downstream(roots)
    # Every task directly, setups aside (a setup's direct downstream tasks must be all_success or teardowns).
    unlock.set_upstream([task for task in tasks if not task.is_setup])
    for task in before or ():
        task.set_upstream(unlock)
    return lock, unlock
