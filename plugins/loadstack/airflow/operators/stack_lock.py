"""The lock tasks of a stack's DAGs (loadstack.stack_lock): take it first, give it back last.

`StackLockSensor` waits without a worker slot (reschedule mode) while another run of the stack holds the lock,
and breaks a lock whose holder's run Airflow no longer has queued or running. `StackUnlockOperator` is the
lock's teardown task: it runs whatever became of the run.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator, BaseSensorOperator

from loadstack.airflow.operators.base import TaskProfile
from loadstack.stack_lock import StackLock

ACTIVE_RUN_STATES = ["queued", "running"]


class _StackLockTask(TaskProfile):
    stack: str

    @cached_property
    def lock(self) -> StackLock:
        return StackLock(self.profile, self.stack)


class StackLockSensor(BaseSensorOperator, _StackLockTask):
    ui_color = "#f3e8ff"

    def __init__(self, *, stack: str, **kwargs: Any) -> None:
        kwargs.setdefault("mode", "reschedule")
        super().__init__(**kwargs)
        self.stack = stack

    def poke(self, context) -> bool:
        ti, run_id = context["ti"], context["dag_run"].run_id
        holder = self.lock.acquire(dag_id=ti.dag_id, run_id=run_id)
        if holder is None:
            self.log.info("%s locked for run %s of %s (s3://%s/%s)", self.stack, run_id, ti.dag_id,
                          self.lock.profile.state_bucket, self.lock.key)
            return True
        if holder.run_id != "?" and not ti.get_dr_count(dag_id=holder.dag_id, run_ids=[holder.run_id],
                                                        states=ACTIVE_RUN_STATES):
            if self.lock.break_stale(holder):
                self.log.warning("%s: broke the lock left by %s, which is no longer queued or running",
                                 self.stack, holder.describe())
            return self.lock.acquire(dag_id=ti.dag_id, run_id=run_id) is None
        self.log.info("%s is locked by %s: waiting", self.stack, holder.describe())
        return False


class StackUnlockOperator(BaseOperator, _StackLockTask):
    ui_color = "#f3e8ff"

    def __init__(self, *, stack: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stack = stack

    def execute(self, context) -> None:
        ti, run_id = context["ti"], context["dag_run"].run_id
        if self.lock.release(dag_id=ti.dag_id, run_id=run_id):
            self.log.info("%s unlocked by run %s of %s", self.stack, run_id, ti.dag_id)
        else:
            self.log.info("%s was not locked by this run (it never got the lock): nothing to give back", self.stack)
