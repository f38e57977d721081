"""The drift DAG's tasks: find the live stacks' Terraform steps, plan each one (mapped), report.

Each plan task leaves its step's result in the state bucket; the report task reads them all, on
whatever host it runs, and stores the report in the report bucket. The logic is Airflow-free
(`loadstack.drift`); these operators only bind it to the task's profile and run id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, BaseOperatorLink
from airflow.sdk.exceptions import AirflowFailException
from airflow.sdk.execution_time.xcom import XCom

from loadstack.airflow.operators.base import TaskProfile
from loadstack.artifacts import ensure_bucket
from loadstack.drift.check import check_step
from loadstack.drift.live import DriftTarget, live_targets
from loadstack.drift.report import collect_report, report_prefix, run_slug, save_step_result
from loadstack.report.bundle import store_report
from loadstack.terraform.runner import TerraformRunner

UNREADABLE_SPECS_KEY = "unreadable_specs"
REPORT_URL_KEY = "report_url"


def as_bool(value: Any) -> bool:
    """A rendered `{{ params.x }}` is text ("True"), a native render or a test gives a bool."""
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


class DriftReportLink(BaseOperatorLink):
    """'Drift report' on the report task: the stored index.html of that run."""

    name = "Drift report"

    def get_link(self, operator, *, ti_key) -> str:
        return XCom.get_value(key=REPORT_URL_KEY, ti_key=ti_key) or ""


class _DriftOperator(BaseOperator, TaskProfile):
    pass


class DriftTargetsOperator(_DriftOperator):
    """Every Terraform step of every live stack, as JSON targets for the mapped plan tasks."""

    ui_color = "#e4f1ff"

    def __init__(self, *, stacks_dir: str, modules_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stacks_dir = stacks_dir
        self.modules_dir = modules_dir

    def execute(self, context) -> list[dict[str, Any]]:
        if self.profile.allowed_account_ids:
            self.log.info("profile %s, account %s", self.profile.name, self.profile.verify_account())
        targets, unreadable = live_targets(self.profile, Path(self.stacks_dir), modules_dir=(
            None if self.modules_dir is None else Path(self.modules_dir)))
        for name, reason in sorted(unreadable.items()):
            self.log.warning("spec %s skipped (it does not load): %s", name, reason.splitlines()[0])
        for target in targets:
            self.log.info("live: %s/%s (workspace %s, %d resources)", target.stack, target.step, target.workspace,
                          target.resources)
        if not targets:
            self.log.info("no live stack: no Terraform step holds resources in s3://%s", self.profile.state_bucket)
        context["ti"].xcom_push(key=UNREADABLE_SPECS_KEY, value=unreadable)
        return [target.to_json() for target in targets]


class DriftPlanOperator(_DriftOperator):
    """`plan -detailed-exitcode` of one live step in a disposable working copy; with `reapply`, applies
    the saved plan of a drifted step. A step that cannot be planned is recorded as an error."""

    template_fields = ("reapply",)
    ui_color = "#ede4ff"

    def __init__(self, *, target: dict[str, Any], reapply: Any = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = target
        self.reapply = reapply
        self._runner: TerraformRunner | None = None

    def execute(self, context) -> dict[str, Any]:
        target = DriftTarget.from_json(self.target)
        run_id = context["run_id"]
        work = self.profile.work_dir / "drift" / run_slug(run_id) / target.stack / target.step
        self._runner = TerraformRunner(profile=self.profile, working_dir=work, logger=self.log)
        result = check_step(self.profile, target, working_dir=work, reapply=as_bool(self.reapply), logger=self.log,
                            runner=self._runner)
        key = save_step_result(self.profile, run_id, result)
        self.log.info("%s/%s: %s (%d resources would change); result at s3://%s/%s", target.stack, target.step,
                      result.status, len(result.resources), self.profile.state_bucket, key)
        for resource in result.resources:
            self.log.info("  %s %s: %s", resource.action, resource.address,
                          ", ".join(a.name for a in resource.attributes) or "whole resource")
        return result.to_json()

    def on_kill(self) -> None:
        # Terraform runs in a session of its own, out of reach of Airflow's SIGTERM to the task's group; a reapply
        # holds the step's state lock, which it releases itself when stopped.
        if self._runner is not None:
            self._runner.stop()


class DriftReportOperator(_DriftOperator):
    """Collect the run's results into the drift report (JSON, Markdown, HTML) in the report bucket;
    returns its summary. Fails, after storing the report, when a step could not be planned."""

    template_fields = ("reapply",)
    ui_color = "#f0ecff"
    operator_extra_links = (DriftReportLink(),)

    def __init__(self, *, targets_task_id: str, reapply: Any = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.targets_task_id = targets_task_id
        self.reapply = reapply

    def execute(self, context) -> dict[str, Any]:
        ti = context["ti"]
        found = ti.xcom_pull(task_ids=self.targets_task_id)
        if found is None:
            raise AirflowFailException(f"{self.targets_task_id} left no list of live steps (it failed): no report")
        targets = [DriftTarget.from_json(t) for t in found]
        unreadable = ti.xcom_pull(task_ids=self.targets_task_id, key=UNREADABLE_SPECS_KEY) or {}
        report = collect_report(
            self.profile, context["run_id"], [(t.stack, t.step, t.workspace, t.variant) for t in targets],
            reapply=as_bool(self.reapply), unreadable_specs=unreadable,
        )
        bucket = self.profile.report_bucket
        ensure_bucket(self.profile, bucket, "report")
        stored = store_report(self.profile.client("s3"), bucket, report_prefix(context["run_id"]), report.files())
        url = self.profile.object_url(bucket, stored.index_key)
        ti.xcom_push(key=REPORT_URL_KEY, value=url)
        self.log.info("drift report: %s\n%s", url, report.markdown())
        summary = {**report.summary(), "url": url, "location": stored.uri()}
        if summary["errors"]:
            ti.xcom_push(key="summary", value=summary)
            raise AirflowFailException(
                f"{len(summary['errors'])} steps could not be planned ({', '.join(summary['errors'])}); "
                f"their errors are in the report: {stored.uri()}"
            )
        return summary
