"""SnapshotsRebuildOperator: a stack run whose snapshots are stale has the `loadstack_snapshots` DAG rebuild
them, and waits for it without a worker slot, before any step runs.

It reads what `snapshots-current` found stale (its XCom) and is skipped when nothing is. Otherwise it is
providers-standard's TriggerDagRunOperator: it triggers the snapshots DAG (whose builds reuse current
snapshots and rebuild the others) and waits deferred, polling the run's state, for it to end; a failed run
fails the task, so the steps are upstream_failed and nothing is stood up. Around that:

- The snapshots DAG paused or missing fails the task at once, naming the fix: a run of a paused DAG stays
  queued, and the stack would wait for it forever (the reaper's teardown trigger refuses a paused DAG so too).
- A run of the snapshots DAG already queued or running (another stack's, or a person's) is waited for instead
  of starting a second one; if the snapshots are still stale once it ended, this task starts its own run.
- After the run, the stale snapshots are checked again: a run that succeeded without making them current
  (say, another snapshots directory) fails the task with the reasons, rather than the restores later.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import DagIsPaused, TriggerDagRunOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowRuntimeError, AirflowSkipException

from loadstack.airflow.operators.base import TaskProfile
from loadstack.airflow.triggers.dag_runs import DagRunsEndedTrigger
from loadstack.snapshots.current import sort_by_currency

ACTIVE_RUN_STATES = ["queued", "running"]
# A run of the snapshots DAG builds Aurora snapshots (hours at most, BUILD_WAIT_TIMEOUT) one try after another.
ACTIVE_RUN_WAIT = timedelta(hours=8)
AFTER_ACTIVE_RUNS = "after_active_runs"


class SnapshotsRebuildOperator(TriggerDagRunOperator, TaskProfile):
    """Rebuild what `check_task_id` returned as stale (`{"stale": {step: {snapshot, reason}}}`) by a run of
    `trigger_dag_id`, found in `snapshots_dir` the way the check and the restores judge it."""

    ui_color = "#e8f6e8"

    def __init__(self, *, stack: str, check_task_id: str, snapshots_dir: str, poke_interval: int = 15,
                 **kwargs: Any) -> None:
        super().__init__(
            # The snapshots DAG's own default: rebuild only what is not current.
            conf={"rebuild": False},
            wait_for_completion=True,
            deferrable=True,
            poke_interval=poke_interval,
            failed_states=["failed"],
            fail_when_dag_is_paused=True,
            **kwargs,
        )
        self.stack = stack
        self.check_task_id = check_task_id
        self.snapshots_dir = snapshots_dir

    def execute(self, context) -> None:
        stale = self._stale(context)
        if not stale:
            raise AirflowSkipException("every snapshot this run restores is current: nothing to rebuild")
        ti = context["ti"]
        self._require_runnable_dag(ti)
        active = ti.get_dr_count(dag_id=self.trigger_dag_id, states=ACTIVE_RUN_STATES)
        if active:
            self.log.info("%d run(s) of %s queued or running already: waiting for them, then checking %s again",
                          active, self.trigger_dag_id, ", ".join(sorted(stale.values())))
            self.defer(trigger=DagRunsEndedTrigger(dag_id=self.trigger_dag_id, states=ACTIVE_RUN_STATES,
                                                   poll_interval=self.poke_interval),
                       method_name=AFTER_ACTIVE_RUNS, timeout=ACTIVE_RUN_WAIT)
        self._trigger(context, stale)

    def after_active_runs(self, context, event: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The runs that were active have ended: what they left stale gets a run of this task's own."""
        still = self._still_stale(self._stale(context))
        if not still:
            self.log.info("the %s run(s) that were active made every snapshot current", self.trigger_dag_id)
            return {"rebuilt_by": None}
        self._require_runnable_dag(context["ti"])
        return self._trigger(context, {step: found["snapshot"] for step, found in still.items()})

    def execute_complete(self, context, event: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        super().execute_complete(context, event)  # raises when the run failed
        still = self._still_stale(self._stale(context))
        if still:
            raise AirflowFailException(
                f"{self.trigger_dag_id} run {self.trigger_run_id} succeeded, but not every snapshot is current, so "
                "nothing was stood up:\n" + "\n".join(f"step {step}: {found['reason']}" for step, found in still.items()))
        self.log.info("%s run %s rebuilt what was stale", self.trigger_dag_id, self.trigger_run_id)
        return {"rebuilt_by": self.trigger_run_id}

    def _trigger(self, context, stale: dict[str, str]) -> None:
        self.log.info("triggering %s to rebuild %s, then waiting for its run (deferred, every %s s)",
                      self.trigger_dag_id, ", ".join(sorted(set(stale.values()))), self.poke_interval)
        try:
            super().execute(context)  # raises the exception by which the task runner triggers and defers
        except DagIsPaused:
            raise AirflowFailException(self._paused_message()) from None

    def _require_runnable_dag(self, ti) -> None:
        try:
            dag = ti.get_dag(self.trigger_dag_id)
        except AirflowRuntimeError as exc:
            raise AirflowFailException(
                f"{self.stack}: {self.trigger_dag_id} is not known to this Airflow ({exc}), so its stale snapshots "
                f"cannot be rebuilt: deploy dags/{self.trigger_dag_id}.py and unpause {self.trigger_dag_id}, or "
                "trigger this stack with rebuild_snapshots off to fail at once") from None
        if dag.is_paused:
            raise AirflowFailException(self._paused_message())

    def _paused_message(self) -> str:
        return (f"{self.stack}: {self.trigger_dag_id} is paused, so a run of it would wait forever: unpause "
                f"{self.trigger_dag_id}, then clear this task (nothing of the stack was stood up)")

    def _stale(self, context) -> dict[str, str]:
        """{step: snapshot} that the check found stale."""
        found = context["ti"].xcom_pull(task_ids=self.check_task_id) or {}
        return {step: entry["snapshot"] for step, entry in (found.get("stale") or {}).items()}

    def _still_stale(self, stale: dict[str, str]) -> dict[str, dict[str, str]]:
        return sort_by_currency(self.profile, stale, Path(self.snapshots_dir))[1]
