"""A ramp's settings, as the controller takes them (the spec's `ramp` step converts into these).

LinkedIn's vocabulary: a target QPS reached in stages (75 %, 90 %, 100 %); a threshold that puts a
low and a high watermark either side of the target; buckets (a unit of traffic, here `bucket_qps`),
bucket groups (buckets moved in one jump during stages 1 and 2), a group interval (the wait after a
jump) and a bucket interval (the wait between single-bucket moves in stage 3); a hold duration in
band. Plus what monitoring lag and safety need: the most a sample may be stale before the ramp
holds, how long "no data" is tolerated before the ramp drains, and abort rules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Mapping

from loadstack.ramp.approval import point_problem

Metric = Literal["error_ratio", "p50_ms", "p95_ms", "p99_ms"]


@dataclass(frozen=True)
class AbortRule:
    """Abort when `metric` stays above `limit` for `window_s` (every fresh sample in the window above).

    window_s = 0 makes it a hard limit: the first fresh sample above aborts.
    """

    metric: Metric
    limit: float
    window_s: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.metric} > {self.limit:g}" + (f" for {self.window_s:g} s" if self.window_s else " (hard limit)")


@dataclass(frozen=True)
class RampParams:
    target_qps: float
    threshold_qps: float
    bucket_qps: float
    stages: tuple[float, ...] = (0.75, 0.90, 1.0)
    bucket_group: int = 5
    group_interval_s: float = 30.0
    bucket_interval_s: float = 10.0
    hold_s: float = 120.0
    # A sample older than this (now - at) is not acted on; the ramp holds its traffic meanwhile.
    max_staleness_s: float = 30.0
    # No usable sample for this long: drain and fail ("no data" is neither pass nor breach).
    no_data_limit_s: float = 90.0
    # Live traffic the stack receives anyway; part of the target (LinkedIn's target includes it).
    organic_qps: float = 0.0
    abort_rules: tuple[AbortRule, ...] = field(default_factory=tuple)
    # Overall limit on the ramp (stages + hold + waits), seconds; None: no limit of its own.
    max_duration_s: float | None = None
    # An abort on a sustained rule or on no data ramps the traffic down over this many seconds instead of
    # dropping it at once (a real surge ends gradually; caches and autoscalers see no cliff). A hard limit,
    # a terminate and max_duration_s still drain at once. 0: always at once.
    abort_drain_s: float = 0.0
    # A human's approval before this point ("stage_N" or "hold", see loadstack.ramp.approval): the ramp holds its
    # traffic there until approved; rejected or unanswered for approval_timeout_s, it is terminated.
    approve_before: str | None = None
    approval_timeout_s: float = 3600.0

    def __post_init__(self) -> None:
        problems = []
        if self.target_qps <= 0:
            problems.append("target_qps must be > 0")
        if self.bucket_qps <= 0:
            problems.append("bucket_qps must be > 0")
        if not 0 < self.threshold_qps < self.target_qps:
            problems.append("threshold_qps must be > 0 and below target_qps")
        if not self.stages or list(self.stages) != sorted(self.stages) or self.stages[-1] != 1.0 or self.stages[0] <= 0:
            problems.append("stages must rise and end at 1.0")
        if self.bucket_group < 1:
            problems.append("bucket_group must be >= 1")
        if self.abort_drain_s < 0:
            problems.append("abort_drain_s must be >= 0")
        if self.organic_qps < 0 or self.organic_qps >= self.target_qps:
            problems.append("organic_qps must be >= 0 and below target_qps")
        if self.approve_before is not None and (problem := point_problem(self.approve_before, len(self.stages))):
            problems.append(problem)
        if self.approval_timeout_s <= 0:
            problems.append("approval_timeout_s must be > 0")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def low_watermark(self) -> float:
        return self.target_qps - self.threshold_qps

    @property
    def high_watermark(self) -> float:
        return self.target_qps + self.threshold_qps

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["stages"] = list(self.stages)
        data["abort_rules"] = [asdict(rule) for rule in self.abort_rules]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "RampParams":
        values = dict(data)
        values["stages"] = tuple(values.get("stages", (0.75, 0.90, 1.0)))
        values["abort_rules"] = tuple(AbortRule(**rule) for rule in values.get("abort_rules", ()))
        return cls(**values)
