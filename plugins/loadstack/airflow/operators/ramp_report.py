"""The ramp kind's closing tasks: post-ramp checks (pass or fail the run) and the report.

Both read the ramp's checkpoint from the state bucket (`loadstack.ramp_store`): whatever worker ran
the ramp, its timeline is there. The report runs whatever happened before it (an aborted or
terminated ramp is exactly when a report matters), stores timeline.json, the charts and index.html
in the report bucket under reports/<stack>/<run>/<step>/, links it from the task (an extra link)
and emits an Asset event whose extra is the ramp's summary (a capacity search's: what it found).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.sdk import Asset, BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

from loadstack.airflow.operators.base import StackStepOperator
from loadstack.artifacts import ensure_bucket
from loadstack.ramp.capacity import CapacityParams, CapacityResult, CapacityState, result_of
from loadstack.ramp.checks import Check, evaluate_checks, failures
from loadstack.ramp.modes import Params, State, params_from_json, state_from_json
from loadstack.ramp_store import RampStore
from loadstack.report.bundle import build_report, report_prefix, report_summary, store_report

REPORT_URL_KEY = "report_url"


def report_asset(stack: str, step: str) -> Asset:
    """The Asset a ramp step's report updates (one per stack and step; each run adds an event)."""
    return Asset(name=f"loadstack-report.{stack}.{step}", group="loadstack-reports")


class RampReportLink(BaseOperatorLink):
    """'Ramp report' on the report task: the stored index.html of that run."""

    name = "Ramp report"

    def get_link(self, operator, *, ti_key) -> str:
        return XCom.get_value(key=REPORT_URL_KEY, ti_key=ti_key) or ""


class _FromCheckpoint(StackStepOperator):
    def __init__(self, *, checks: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.checks = checks

    def checkpoint(self, context) -> tuple[Params, State, CapacityResult | None] | None:
        """(params, state, a capacity search's result or None) from the ramp's checkpoint; None without one."""
        saved = RampStore(self.profile, self.stack, context["run_id"], self.step).load()
        if saved is None:
            return None
        params = params_from_json(saved["params"])
        state = state_from_json(params, saved["state"])
        if isinstance(params, CapacityParams):
            assert isinstance(state, CapacityState)
            return params, state, result_of(params, state)
        return params, state, None

    def parsed_checks(self) -> list[Check]:
        return [Check.model_validate(check) for check in self.checks]


class RampChecksOperator(_FromCheckpoint):
    """Judge the spec's post-ramp checks on the ramp's timeline; any failing check fails the task."""

    ui_color = "#eef7e8"

    def execute(self, context) -> list[dict[str, Any]]:
        found = self.checkpoint(context)
        if found is None:
            raise AirflowFailException(f"{self.step}: the ramp left no checkpoint in the state bucket: nothing to check")
        params, state, capacity = found
        results = evaluate_checks(self.parsed_checks(), params, state.timeline, capacity)
        for result in results:
            self.log.info("%s %s", "PASS" if result.passed else "FAIL", result.message)
        failed = failures(results)
        if failed:
            raise AirflowFailException(failed)
        return [result.to_json() for result in results]


class RampReportOperator(_FromCheckpoint):
    """Build and store the report; push its URL (the extra link) and the summary (XCom and Asset event)."""

    ui_color = "#f0ecff"
    operator_extra_links = (RampReportLink(),)

    def execute(self, context) -> dict[str, Any]:
        found = self.checkpoint(context)
        if found is None:
            raise AirflowSkipException(f"{self.step}: the ramp never started (no checkpoint): no report")
        params, state, capacity = found
        bucket = self.profile.report_bucket
        ensure_bucket(self.profile, bucket, "report")  # before the charts: a missing bucket fails at once
        files = build_report(stack=self.stack, run_id=context["run_id"], params=params, timeline=state.timeline,
                             checks=self.parsed_checks(), capacity=capacity)
        stored = store_report(self.profile.client("s3"), bucket, report_prefix(self.stack, context["run_id"], self.step), files)
        url = self.profile.object_url(bucket, stored.index_key)
        context["ti"].xcom_push(key=REPORT_URL_KEY, value=url)
        summary = report_summary(params, state.timeline, capacity).to_json()
        context["outlet_events"][report_asset(self.stack, self.step)].extra = {
            "run_id": context["run_id"], "url": url, "outcome": summary["outcome"], "reason": summary["reason"],
            **_asset_numbers(summary, capacity),
        }
        self.log.info("ramp report: %s", url)
        return {"url": url, "location": stored.uri(), "summary": summary}


def _asset_numbers(summary: dict[str, Any], capacity: CapacityResult | None) -> dict[str, Any]:
    """The headline numbers an Asset event carries: a hold's, or what a capacity search found."""
    if capacity is not None:
        return {
            "capacity_qps": capacity.capacity_qps, "precision_qps": capacity.precision_qps,
            "bracket_qps": list(capacity.bracket_qps) if capacity.bracket_qps is not None else None,
            "knee_qps": capacity.knee_qps, "search_s": capacity.duration_s, "limited_by": capacity.limited_by,
        }  # fmt: skip
    hold = summary["hold"]
    return {
        "time_to_band_s": summary["time_to_band_s"], "achieved_ratio": hold["achieved_ratio"],
        "in_band_share": hold["in_band_share"], "p99_ms": hold["p99_ms"], "error_ratio": hold["error_ratio"],
    }  # fmt: skip
