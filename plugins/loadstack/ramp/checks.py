"""Post-ramp checks: conditions a spec declares on what the ramp achieved, judged from its timeline.

A check is a metric (from a fixed list, computed by `loadstack.ramp.summary`), an operator, a value and
the window it is measured over (the hold unless `over` says otherwise), e.g. ``p99_ms < 800`` or
``{metric: in_band_share, operator: ">=", value: 0.95}``. A spec may write either form.

A metric without data in its window (the hold never started, no sample carried it) FAILS with
"no data": a ramp that measured nothing has not shown it is healthy.

A capacity search (`mode: capacity`) has no target, band or hold: its checks judge what it found
(`CAPACITY_METRICS`, from its `CapacityResult`), e.g. ``capacity_qps >= 300``; the spec refuses the others
there, and these in the hold mode.
"""

from __future__ import annotations

import operator as operators
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from loadstack.ramp.capacity import CapacityParams, CapacityResult
from loadstack.ramp.params import RampParams
from loadstack.ramp.summary import Spans, Window, WindowMetrics, spans, summarize, window_metrics
from loadstack.ramp.timeline import Timeline

# Measured over a window (`over`): the fields of `summary.WindowMetrics` of these names.
WINDOW_METRICS = (
    "achieved_qps_mean", "achieved_qps_min", "achieved_qps_max", "achieved_ratio", "in_band_share",
    "samples_above_high", "error_ratio", "error_ratio_max", "p50_ms", "p95_ms", "p99_ms",
)  # fmt: skip
# Measured over the whole ramp; `over` does not apply.
RAMP_METRICS = ("time_to_band_s",)
# A capacity search's result (`CapacityResult`): the highest sustainable QPS, the width of the bracket it lies in,
# how long the search took, the knee; `over` does not apply.
CAPACITY_METRICS = ("capacity_qps", "precision_qps", "search_s", "knee_qps")
_CAPACITY_RESULT_FIELDS = {
    "capacity_qps": "capacity_qps", "precision_qps": "precision_qps", "search_s": "duration_s", "knee_qps": "knee_qps",
}  # fmt: skip
CheckMetric = Literal[
    "achieved_qps_mean", "achieved_qps_min", "achieved_qps_max", "achieved_ratio", "in_band_share",
    "samples_above_high", "error_ratio", "error_ratio_max", "p50_ms", "p95_ms", "p99_ms", "time_to_band_s",
    "capacity_qps", "precision_qps", "search_s", "knee_qps",
]  # fmt: skip
Operator = Literal["<", "<=", ">", ">="]
_COMPARE = {"<": operators.lt, "<=": operators.le, ">": operators.gt, ">=": operators.ge}
_WINDOW_NAMES = {"hold": "the hold", "ramp": "the ramp before the hold", "all": "the whole ramp"}
_TEXT = re.compile(r"^\s*(?P<metric>\w+)\s*(?P<operator><=|>=|<|>)\s*(?P<value>\S+?)\s*(?:over\s+(?P<over>\w+)\s*)?$")


class Check(BaseModel):
    """One post-ramp check; `Check.model_validate("p99_ms < 800 over hold")` reads the short form."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: CheckMetric
    operator: Operator
    value: float
    # The window a window metric is measured over; None: the hold.
    over: Window | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        m = _TEXT.match(data)
        if not m:
            raise ValueError(
                f"'{data}' is not a check; write 'METRIC OPERATOR VALUE [over hold|ramp|all]', e.g. 'p99_ms < 800', "
                "or a mapping with metric, operator, value and over"
            )
        return {k: v for k, v in m.groupdict().items() if v is not None}

    @model_validator(mode="after")
    def _over_fits_the_metric(self) -> Check:
        if self.metric in (*RAMP_METRICS, *CAPACITY_METRICS) and self.over is not None:
            raise ValueError(f"{self.metric} is measured over the whole ramp: remove 'over: {self.over}'")
        return self

    @property
    def window(self) -> Window | None:
        """The window measured over; None for a metric of the whole ramp (or of a capacity search)."""
        return None if self.metric in (*RAMP_METRICS, *CAPACITY_METRICS) else (self.over or "hold")

    @property
    def name(self) -> str:
        return f"{self.metric} {self.operator} {self.value:g}" + (f" over {self.window}" if self.window else "")


@dataclass(frozen=True)
class CheckResult:
    """A check's verdict: `observed` is None when there was no data (and then `passed` is False)."""

    name: str
    metric: str
    operator: str
    window: str | None
    passed: bool
    observed: float | None
    limit: float
    message: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _why_no_data(check: Check, ramp: Spans, metrics: WindowMetrics | None, where: str) -> str:
    if ramp.start is None:
        return "the timeline is empty"
    if metrics is None:
        return f"no sample in {where} was in band"
    if metrics.start_s is None:
        return "the hold never started"
    if metrics.samples == 0 and metrics.covered_s == 0:
        return f"no sample in {where}"
    return f"no sample in {where} carried {check.metric}"


def evaluate_checks(
    checks: Iterable[Check],
    params: RampParams | CapacityParams,
    timeline: Timeline,
    capacity: CapacityResult | None = None,
) -> list[CheckResult]:
    """Judge every check against the timeline (a capacity search's: against its result), in the order given."""
    checks = list(checks)
    if not checks:
        return []
    if isinstance(params, CapacityParams):
        return [_capacity_check(check, capacity) for check in checks]
    ramp = spans(timeline)
    by_window = {w: window_metrics(params, timeline, w) for w in {c.window for c in checks} if w is not None}
    summary = summarize(params, timeline) if any(c.window is None for c in checks) else None
    results = []
    for check in checks:
        metrics = by_window[check.window] if check.window else None
        observed = getattr(metrics if metrics is not None else summary, check.metric)
        where = _WINDOW_NAMES[check.window] if check.window else "the ramp"
        results.append(
            _judged(check, observed, f"over {where}", lambda: _why_no_data(check, ramp, metrics, where), check.window)
        )
    return results


def _judged(
    check: Check, observed: float | None, where: str, why_no_data: Callable[[], str], window: str | None
) -> CheckResult:
    """The verdict on one observed value (None: no data, and the check fails saying why)."""
    if observed is None:
        passed = False
        message = f"{check.metric} {where}: no data ({why_no_data()}); a check without data fails"
    else:
        passed = _COMPARE[check.operator](observed, check.value)
        message = (
            f"{check.metric} {where} was {observed:.4g}, {'' if passed else 'not '}{check.operator} "
            f"{check.value:g}: {'passed' if passed else 'failed'}"
        )
    return CheckResult(
        name=check.name,
        metric=check.metric,
        operator=check.operator,
        window=window,
        passed=passed,
        observed=None if observed is None else float(observed),
        limit=check.value,
        message=message,
    )


def failures(results: Sequence[CheckResult]) -> str | None:
    """One message naming every failed check (what a failed task says), or None when all passed."""
    failed = [r for r in results if not r.passed]
    if not failed:
        return None
    return f"{len(failed)} of {len(results)} post-ramp checks failed: " + "; ".join(r.message for r in failed)


def _capacity_check(check: Check, result: CapacityResult | None) -> CheckResult:
    """A check of a capacity search's result; a metric of the hold mode has no data there (the spec refuses it)."""
    field = _CAPACITY_RESULT_FIELDS.get(check.metric)
    observed = getattr(result, field) if result is not None and field is not None else None

    def why() -> str:
        if field is None:
            return "a capacity search has no hold or band; check capacity_qps, precision_qps, search_s or knee_qps"
        if result is None:
            return "the search left no result"
        if check.metric == "knee_qps":
            return "no level showed a rise of error ratio or latency"
        return f"the search found none (limited by {result.limited_by or 'nothing yet'})"

    return _judged(check, observed, "of the capacity search", why, None)
