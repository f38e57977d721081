"""A stack run's own tasks around its steps: whether it tears the stack down at the end, and its outcome.

`TeardownDecisionOperator` is the setup task of the run's teardown tasks (setup/teardown semantics): it
succeeds when the run tears down, and is skipped when the run keeps the stack up, which skips every teardown
task with it. `RunOutcomeOperator` is the run's last task: it records the run in the stack's history (state
bucket), rebuilds the history page (report bucket), and fails when any task of the run failed, so the run's
state tells the truth although its teardown tasks, which run whatever happened, succeeded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from botocore.exceptions import ClientError

from loadstack.airflow.operators.base import TaskProfile
from loadstack.artifacts import ArtifactError, ensure_bucket
from loadstack.keep_up import KEEP_UP_PARAM, describe, keeps_stack_up
from loadstack.profiles import Profile
from loadstack.run_history import RampResult, RunHistory, RunRecord, failed_tasks, teardown_of


def run_type_of(context) -> str:
    run_type = context["dag_run"].run_type
    return str(getattr(run_type, "value", run_type))


class TeardownDecisionOperator(BaseOperator):
    """Tear the stack down at the end of this run, or keep it up (the run's `keep_up` Param, else its type)."""

    ui_color = "#fff4e5"

    def __init__(self, *, stack: str, teardown_dag: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stack = stack
        self.teardown_dag = teardown_dag

    def execute(self, context) -> dict[str, Any]:
        keep_up, run_type = context["params"].get(KEEP_UP_PARAM), run_type_of(context)
        decision = describe(keep_up, run_type)
        if keeps_stack_up(keep_up, run_type):
            raise AirflowSkipException(
                f"this run {decision}: its teardown tasks are skipped; tear {self.stack} down with the "
                f"{self.teardown_dag} DAG, or the reaper does at its expiry (`loadstack ls`)"
            )
        self.log.info("this run %s: the teardown tasks follow", decision)
        return {"keep_up": False, "run_type": run_type}


class RunOutcomeOperator(BaseOperator, TaskProfile):
    """Record the run in the stack's history; fail when any of its tasks failed."""

    ui_color = "#e8eefc"
    template_fields = ("variant",)

    def __init__(self, *, stack: str, variant: str, register_task_id: str, remove_task_id: str,
                 decision_task_id: str, ramp_report_task_ids: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stack = stack
        self.variant = variant
        self.register_task_id = register_task_id
        self.remove_task_id = remove_task_id
        self.decision_task_id = decision_task_id
        self.ramp_report_task_ids = ramp_report_task_ids

    @cached_property
    def history(self) -> RunHistory:
        return RunHistory(self.profile)

    def _spin_up_s(self, ti, started_at: datetime) -> float | None:
        entry = ti.xcom_pull(task_ids=self.register_task_id)
        if not entry or not entry.get("created_at"):
            return None
        return round((datetime.fromisoformat(entry["created_at"]) - started_at).total_seconds(), 1)

    def _ramps(self, ti) -> tuple[RampResult, ...]:
        results = []
        for step, task_id in sorted(self.ramp_report_task_ids.items()):
            report = ti.xcom_pull(task_ids=task_id)
            if not report:
                results.append(RampResult(step=step, outcome="no report"))
                continue
            summary = report.get("summary", {})
            results.append(RampResult(step=step, outcome=str(summary.get("outcome", "?")),
                                      reason=str(summary.get("reason") or ""), url=str(report.get("url", ""))))
        return tuple(results)

    def execute(self, context) -> dict[str, Any]:
        ti, dag_run = context["ti"], context["dag_run"]
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[dag_run.run_id]).get(dag_run.run_id, {})
        started_at = dag_run.start_date or datetime.now(UTC)
        failed = failed_tasks(states, ignore=(self.task_id,))
        record = RunRecord(
            stack=self.stack, run_id=dag_run.run_id, run_type=run_type_of(context), variant=self.variant,
            outcome="fail" if failed else "pass", started_at=started_at, ended_at=datetime.now(UTC),
            failed_tasks=failed, spin_up_s=self._spin_up_s(ti, started_at), ramps=self._ramps(ti),
            teardown=teardown_of(states, remove_task=self.remove_task_id, decision_task=self.decision_task_id),
        )
        key = self.history.record(record)
        self.log.info("recorded %s in s3://%s/%s", record.outcome, self.profile.state_bucket, key)
        try:
            ensure_bucket(self.profile, self.profile.report_bucket, "report")
            page = self.history.publish_index(self.stack)
            self.log.info("history page: %s", self.profile.object_url(self.profile.report_bucket, page))
        except (ArtifactError, ClientError) as exc:
            # The record is what counts (`loadstack history` reads it); the page is rebuilt by the next run.
            self.log.warning("history page not updated: %s", exc)
        if failed:
            # AirflowFailException: a retry would find the same failed tasks.
            raise AirflowFailException(f"the run failed at {record.failed_at} (see those tasks' logs); "
                                       f"its teardown: {record.teardown}")
        return record.to_json()
