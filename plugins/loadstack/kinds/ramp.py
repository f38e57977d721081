"""The `ramp` step kind: gates, then a traffic-shift ramp to a target QPS held in band, then checks and a report.

`mode: capacity` searches instead for the highest QPS the stack sustains (`loadstack.ramp.capacity`): the load
grows, then bisects, until an abort rule is about to trip; its `capacity:` block says how, and its checks
judge what it found (`capacity_qps >= 300`). The hold's own settings (target, band, stages, hold) do not
apply there, and a spec giving them is told so.

The step renders as one task group: every gate (a deferrable sensor) must pass before the ramp
starts; the ramp drives traffic through the controller in `loadstack.ramp`; the checks pass or
fail the run on what the ramp saw; the report (timeline, charts, one HTML page) is stored in the
report bucket whatever happened.

The traffic (`load.driver`) is generated load (`locust`) or live traffic shifted onto the stack by
load-balancer weights (`haproxy_shift`: the app's `live:` pools; `alb_shift`: two weighted target
groups; `route53_shift`: two weighted records). The metrics (`metrics.source`) come from Prometheus
(`labels` narrow its queries to the stack's pool), Locust's own counters, or CloudWatch (an ALB).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, ClassVar, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loadstack.gates.models import GateList, SqlGate
from loadstack.haproxy.config import BACKEND
from loadstack.kinds.base import VARIANTS, CheckContext, StepBase, StepKind, Variant, register_kind
from loadstack.metrics.cloudwatch import (
    DEFAULT_PERIOD_S,
    DEFAULT_PUBLISH_LAG_S,
    CloudWatchSourceError,
    check_period,
    load_balancer_dimension,
    target_group_dimension,
)
from loadstack.profiles import PROJECT_ROOT
from loadstack.queues import LOAD
from loadstack.ramp.approval import point_problem
from loadstack.ramp.capacity import CONFIRM_TRIES, CapacityParams
from loadstack.ramp.checks import CAPACITY_METRICS, Check
from loadstack.ramp.params import AbortRule, RampParams
from loadstack.refs import is_whole_reference
from loadstack.shift import alb, haproxy, route53
from loadstack.shift.weights import WeightSplit

DEFAULT_LOCUSTFILE = "include/locust/shop.py"
LoadDriver = Literal["locust", "haproxy_shift", "alb_shift", "route53_shift"]
SHIFT_DRIVERS = ("haproxy_shift", "alb_shift", "route53_shift")
#: Each driver's weight scale (its largest weight; production always keeps 1).
MAX_WEIGHTS = {"haproxy_shift": haproxy.MAX_WEIGHT, "alb_shift": alb.MAX_WEIGHT, "route53_shift": route53.MAX_WEIGHT}
# A time limit needs a Route 53 record's TTL before it is read: assume up to this much (raise timeout_minutes beyond).
ASSUMED_RECORD_TTL_S = 300.0
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class Load(BaseModel):
    """Where the traffic comes from: generated (Locust) or live traffic shifted onto the stack by weights.

    locust:        a Locust master the ramp starts with `workers` (or an existing one, `master_url`).
    haproxy_shift: the app's live pools in one HAProxy backend (`live:` on the app step), weights set
                   through its admin socket.
    alb_shift:     an ALB listener forwarding to production's and the stack's target groups.
    route53_shift: two weighted records of one name (production's and the stack's set identifiers).
    Each shift moves part of `live_qps`, the live traffic the load balancer receives.
    `DRIVER_FIELDS` says which fields each driver needs and which it may have.
    """

    model_config = ConfigDict(extra="forbid")

    driver: LoadDriver = "locust"
    # locust
    locustfile: str = Field(default=DEFAULT_LOCUSTFILE, description="relative to the project root")
    workers: int = Field(
        default=1, ge=1, le=32,
        description="Locust worker processes the ramp starts; with master_url, the workers connected to it",
    )
    master_url: str = Field(
        default="",
        description="a standing Locust master's web URL (python -m loadstack.locust.service up); the ramp then starts "
        "nothing and sets the master's target to its app",
    )
    # every shift
    live_qps: float | str | None = Field(
        default=None, description="the live QPS the load balancer splits, e.g. ${steps.app.outputs.live_qps}"
    )
    # haproxy_shift
    admin_socket: str = Field(default="", description="HAProxy's admin socket, e.g. ${steps.app.outputs.admin_socket}")
    backend: str = Field(default=BACKEND, description="the HAProxy backend holding both pools")
    production_servers: list[str] | str | None = Field(
        default=None, description="production's servers, e.g. ${steps.app.outputs.production_servers}"
    )
    stack_servers: list[str] | str | None = Field(
        default=None, description="the stack's servers, e.g. ${steps.app.outputs.stack_servers}"
    )
    # alb_shift
    listener_arn: str = ""
    production_target_group_arn: str = ""
    stack_target_group_arn: str = ""
    settle_s: float | None = Field(default=None, ge=0, le=3600, description="alb: seconds a weight change takes")
    # route53_shift
    hosted_zone_id: str = ""
    record_name: str = ""
    record_type: str = "A"
    production_set_identifier: str = ""
    stack_set_identifier: str = ""
    propagation_s: float | None = Field(default=None, ge=0, le=3600, description="route53: seconds to reach every name server")
    alias_ttl_s: float | None = Field(default=None, ge=0, le=86400, description="route53: the TTL of alias records")

    def settings(self) -> dict[str, Any]:
        """The driver and its own fields only (what the ramp task gets: the other drivers' defaults are noise)."""
        needed, allowed = DRIVER_FIELDS[self.driver]
        return {"driver": self.driver, **{field: getattr(self, field) for field in (*needed, *allowed)}}

    def settle_estimate_s(self) -> float:
        """Seconds a change takes to reach traffic, as far as the spec tells (Route 53 assumes a TTL)."""
        if self.driver == "haproxy_shift":
            return haproxy.SETTLE_S
        if self.driver == "alb_shift":
            return alb.SETTLE_S if self.settle_s is None else self.settle_s
        if self.driver == "route53_shift":
            propagation = route53.PROPAGATION_S if self.propagation_s is None else self.propagation_s
            return propagation + ASSUMED_RECORD_TTL_S
        return 0.0


_SHIFT = ("live_qps",)
#: driver -> (fields it needs, further fields it may have); any other field given is a mistake.
DRIVER_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "locust": ((), ("locustfile", "workers", "master_url")),
    "haproxy_shift": ((*_SHIFT, "admin_socket", "production_servers", "stack_servers"), ("backend",)),
    "alb_shift": ((*_SHIFT, "listener_arn", "production_target_group_arn", "stack_target_group_arn"), ("settle_s",)),
    "route53_shift": (
        (*_SHIFT, "hosted_zone_id", "record_name", "production_set_identifier", "stack_set_identifier"),
        ("record_type", "propagation_s", "alias_ttl_s"),
    ),
}
_LOAD_EXAMPLES = {
    "live_qps": "${steps.app.outputs.live_qps} (an app step with live:) or the live requests per second it receives",
    "admin_socket": "${steps.app.outputs.admin_socket}",
    "production_servers": "${steps.app.outputs.production_servers} (an app step with live:)",
    "stack_servers": "${steps.app.outputs.stack_servers} (an app step with live:)",
    "listener_arn": "the listener's ARN, arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/NAME/ID/ID",
    "production_target_group_arn": "production's target group ARN, arn:aws:elasticloadbalancing:...:targetgroup/NAME/ID",
    "stack_target_group_arn": "${steps.app.outputs.target_group_arn} or the stack's target group ARN",
    "hosted_zone_id": "the hosted zone's id, e.g. Z0123456789ABCDEFGHIJ",
    "record_name": "the weighted records' DNS name, e.g. shop.example.com",
    "production_set_identifier": "the SetIdentifier of production's weighted record",
    "stack_set_identifier": "the SetIdentifier of the stack's weighted record",
}
RECORD_TYPES = ("A", "AAAA", "CNAME")


class Metrics(BaseModel):
    """Where the ramp reads traffic and health: Prometheus (the stack's monitoring), Locust's own counters,
    or CloudWatch (an Application Load Balancer, optionally one target group). `SOURCE_FIELDS` says which
    fields each source may have."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["prometheus", "locust", "cloudwatch"] = "prometheus"
    url: str = Field(default="", description="the Prometheus base URL (source: prometheus)")
    window_s: float = Field(default=5, ge=1, le=300, description="the rate() window of the Prometheus queries")
    scrape_interval_s: float = Field(default=1, gt=0, le=300, description="how often that Prometheus scrapes the app")
    labels: dict[str, str] = Field(
        default_factory=dict, description='prometheus: labels every series must carry, e.g. {pool: stack} (pool="stack")'
    )
    load_balancer: str = Field(default="", description="cloudwatch: the ALB's ARN (or its arn_suffix)")
    target_group: str = Field(default="", description="cloudwatch: one target group's ARN; empty: the whole ALB")
    period_s: int = Field(default=DEFAULT_PERIOD_S, ge=1, le=3600, description="cloudwatch: the period of a sample")
    publish_lag_s: float = Field(
        default=DEFAULT_PUBLISH_LAG_S, ge=0, lt=3600, description="cloudwatch: how long after a period its data is all in"
    )
    percentiles: bool = Field(default=True, description="cloudwatch: ask p50/p95/p99 (False: the Average only)")

    def settings(self) -> dict[str, Any]:
        """The source and its own fields only (what the ramp task gets)."""
        return {"source": self.source, **{field: getattr(self, field) for field in SOURCE_FIELDS[self.source]}}

    def lag_s(self) -> float:
        """How old the freshest sample of this source can be when it is read (its `lag_s`)."""
        if self.source == "cloudwatch":
            return 2 * self.period_s + self.publish_lag_s
        return self.window_s + (self.scrape_interval_s if self.source == "prometheus" else 0.0)


SOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "prometheus": ("url", "window_s", "scrape_interval_s", "labels"),
    "locust": ("window_s",),
    "cloudwatch": ("load_balancer", "target_group", "period_s", "publish_lag_s", "percentiles"),
}


class Abort(BaseModel):
    """Abort (and drain) when `metric` stays above `above` for `for_s` seconds; no `for_s`: a hard limit."""

    model_config = ConfigDict(extra="forbid")

    metric: Literal["error_ratio", "p50_ms", "p95_ms", "p99_ms"]
    above: float = Field(ge=0)
    for_s: float = Field(default=0, ge=0, le=3600)

    def rule(self) -> AbortRule:
        return AbortRule(metric=self.metric, limit=self.above, window_s=self.for_s)


class RampApproval(BaseModel):
    """A human's approval before a point of the ramp (Airflow's human-in-the-loop approval task beside it)."""

    model_config = ConfigDict(extra="forbid")

    before: str = Field(description='"stage_N" (e.g. stage_3, the full target) or "hold"')
    timeout_minutes: float = Field(
        default=60, gt=0, le=24 * 60, description="unanswered this long, the ramp is terminated (traffic drained)"
    )


class CapacitySettings(BaseModel):
    """How a capacity search runs (`mode: capacity`); a variant may override any of them (`variants.X.capacity`).

    Load is generated QPS in multiples of the step's `bucket_qps` (default 1); health is judged on the step's
    `abort:` rules; `max_staleness_s` and `no_data_limit_s` are the step's too.
    """

    model_config = ConfigDict(extra="forbid")

    start_qps: float | None = Field(default=None, gt=0, description="the first level of generated load, QPS (default 10)")
    growth: float | None = Field(
        default=None, gt=1, le=10, description="each healthy level multiplies the load by this until one is not (default 2)"
    )
    max_qps: float | None = Field(
        default=None, gt=0, description="the highest load tried; healthy there, the search ends there (default: no ceiling)"
    )
    precision_qps: float | None = Field(
        default=None, gt=0, description="the search ends once the capacity is bracketed this narrowly (QPS)"
    )
    precision_ratio: float | None = Field(
        default=None, gt=0, lt=1,
        description="the same as a fraction of the capacity (default 0.01, i.e. 1 %, unless precision_qps is given; "
                    "both given: the looser one ends it)",
    )  # fmt: skip
    dwell_s: float | None = Field(
        default=None, ge=0, le=3600,
        description="seconds of settled samples before a level is called healthy (default 10; at least every abort for_s)",
    )  # fmt: skip
    confirm_s: float | None = Field(
        default=None, ge=0, le=3600,
        description="the best level is held this long at the end to show it is sustained (default 60; 0: no confirmation)",
    )  # fmt: skip
    trip_fraction: float | None = Field(
        default=None, gt=0, le=1,
        description="a level is unhealthy once a metric stays above this fraction of an abort limit (default 0.8)",
    )  # fmt: skip
    max_duration_s: float | None = Field(
        default=None, gt=0, le=24 * 3600, description="the search gives up (and fails) after this long (default 3600)"
    )
    knee_error_rise: float | None = Field(
        default=None, gt=0, le=1, description="the knee: error ratio this much above the first level's (default 0.005)"
    )
    knee_latency_rise: float | None = Field(
        default=None, gt=0, description="the knee: p95 or p99 this fraction above the first level's (default 0.5)"
    )


_CAPACITY_DEFAULTS: dict[str, Any] = {
    "start_qps": 10.0,
    "growth": 2.0,
    "precision_ratio": 0.01,
    "dwell_s": 10.0,
    "confirm_s": 60.0,
    "trip_fraction": 0.8,
    "max_duration_s": 3600.0,
    "knee_error_rise": 0.005,
    "knee_latency_rise": 0.5,
}
Mode = Literal["hold", "capacity"]
# The settings only the hold mode uses: a capacity search has no target, band, stages or hold.
HOLD_ONLY_FIELDS = (
    "target_qps", "threshold_qps", "stages", "bucket_group", "group_interval_s", "bucket_interval_s", "hold_s",
    "organic_qps", "abort_drain_s",
)  # fmt: skip


class RampSettings(BaseModel):
    """The ramp's numbers (LinkedIn's vocabulary); a variant may override any of them."""

    model_config = ConfigDict(extra="forbid")

    target_qps: float | None = Field(default=None, gt=0)
    threshold_qps: float | None = Field(default=None, gt=0)
    bucket_qps: float | None = Field(default=None, gt=0)
    stages: list[float] | None = None
    bucket_group: int | None = Field(default=None, ge=1, le=1000)
    group_interval_s: float | None = Field(default=None, ge=0, le=3600)
    bucket_interval_s: float | None = Field(default=None, ge=0, le=3600)
    hold_s: float | None = Field(default=None, ge=0, le=24 * 3600)
    max_staleness_s: float | None = Field(default=None, gt=0, le=3600)
    no_data_limit_s: float | None = Field(default=None, gt=0, le=3600)
    organic_qps: float | None = Field(default=None, ge=0)
    abort_drain_s: float | None = Field(
        default=None, ge=0, le=3600, description="an abort on a sustained rule ramps down over this long (0: at once)"
    )
    capacity: CapacitySettings | None = Field(default=None, description="mode: capacity only: how the search runs")


_RAMP_DEFAULTS: dict[str, Any] = {
    "stages": [0.75, 0.90, 1.0],
    "bucket_group": 5,
    "group_interval_s": 30.0,
    "bucket_interval_s": 10.0,
    "hold_s": 120.0,
    "max_staleness_s": 30.0,
    "no_data_limit_s": 90.0,
    "organic_qps": 0.0,
    "abort_drain_s": 0.0,
}


class RampStep(StepBase, RampSettings):
    kind: Literal["ramp"]
    mode: Mode = Field(
        default="hold", description="hold: ramp to target_qps and hold it in band; capacity: search for the highest sustainable QPS"
    )
    target_url: str = Field(description="the stack's entry point, e.g. ${steps.app.outputs.url}")
    gates: GateList = Field(default_factory=list, description="every gate must pass before the ramp starts")
    load: Load = Field(default_factory=Load)
    metrics: Metrics = Field(default_factory=Metrics)
    abort: list[Abort] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list, description='post-ramp checks, e.g. "p99_ms < 800"; any failing fails the run')
    approval: RampApproval | None = Field(default=None, description="stop for a human's approval before a stage or the hold")
    variants: dict[Variant, RampSettings] = Field(default_factory=dict)

    reference_fields: ClassVar[tuple[str, ...]] = ("target_url", "gates", "load", "metrics")
    work: ClassVar[str] = LOAD

    @model_validator(mode="after")
    def _every_variant_has_the_essentials(self) -> "RampStep":
        if self.mode == "capacity":
            return self  # its problems are listed one a line, with their paths, by _mode_problems
        for variant in ("minimal", "production"):
            merged = self._merged(variant)
            missing = [name for name in ("target_qps", "threshold_qps", "bucket_qps") if merged.get(name) is None]
            if missing:
                raise ValueError(f"variant {variant}: set {', '.join(missing)} on the step (or in variants.{variant})")
            try:
                self._params_from(merged)
            except ValueError as exc:
                raise ValueError(f"variant {variant}: {exc}") from None
        return self

    def _merged(self, variant: str) -> dict[str, Any]:
        merged = dict(_RAMP_DEFAULTS)
        own = RampSettings.model_validate(self.model_dump(include=set(RampSettings.model_fields)))
        for source in (own, self.variants.get(variant)):  # type: ignore[call-overload]
            if source is not None:
                merged.update({k: v for k, v in source.model_dump(exclude={"capacity"}).items() if v is not None})
        return merged

    def capacity_settings(self, variant: str) -> dict[str, Any]:
        """The capacity search's settings for a variant: defaults, the step's `capacity:`, the variant's."""
        given: dict[str, Any] = {}
        for source in (self, self.variants.get(variant)):  # type: ignore[call-overload]
            if source is not None and source.capacity is not None:
                given.update({k: v for k, v in source.capacity.model_dump().items() if v is not None})
        merged = dict(_CAPACITY_DEFAULTS)
        if "precision_qps" in given and "precision_ratio" not in given:
            merged["precision_ratio"] = None  # an absolute precision asked for: no relative one besides
        merged.update(given)
        ramp = self._merged(variant)
        merged.update(
            bucket_qps=ramp.get("bucket_qps") or 1.0,
            max_staleness_s=ramp["max_staleness_s"],
            no_data_limit_s=ramp["no_data_limit_s"],
        )
        return merged

    def _params_from(self, merged: dict[str, Any]) -> RampParams:
        values = dict(merged, stages=tuple(merged["stages"]), abort_rules=tuple(a.rule() for a in self.abort))
        approval = self.approval
        # A point this variant's stages do not have is reported by _check, on approval.before.
        if approval is not None and point_problem(approval.before, len(values["stages"])) is None:
            values.update(approve_before=approval.before, approval_timeout_s=approval.timeout_minutes * 60)
        return RampParams(**values)

    def params_for(self, variant: str) -> RampParams | CapacityParams:
        if self.mode == "capacity":
            return CapacityParams(**self.capacity_settings(variant), abort_rules=tuple(a.rule() for a in self.abort))
        return self._params_from(self._merged(variant))

    def hold_params_for(self, variant: str) -> RampParams:
        params = self.params_for(variant)
        assert isinstance(params, RampParams), "a capacity step has no hold params"
        return params

    def override_params(self, step: str) -> dict[str, str]:
        """{params field: the DAG Param that overrides it for one run} (see `run_params`)."""
        if self.mode == "capacity":
            return {"max_qps": f"{step}_max_qps"}
        return {field: f"{step}_{field}" for field in ("target_qps", "threshold_qps", "bucket_qps", "hold_s")}

    def run_params(self, step: str) -> dict[str, dict[str, Any]]:
        """The Trigger form's fields for this step: each empty by default (the variant's value), each bounded so
        that what a run asks for fits the task's time limit, which is sized for the variants' settings."""
        if self.mode == "capacity":
            ceilings = [self.capacity_settings(variant).get("max_qps") for variant in VARIANTS]
            param = {
                "default": None, "type": ["null", "number"], "exclusiveMinimum": 0,
                "title": f"{step}: max QPS",
                "description": "The highest load the capacity search tries (requests per second, generated); "
                               "empty: the variant's.",
            }  # fmt: skip
            if all(ceiling is not None for ceiling in ceilings):
                # The task's time limit is sized for the variants' ceilings: a run may lower one, not raise it.
                param["maximum"] = max(ceilings)
                param["description"] += f" At most {max(ceilings):g}, which the task's time limit is sized for."
            return {self.override_params(step)["max_qps"]: param}
        by_variant = {variant: self.hold_params_for(variant) for variant in VARIANTS}

        def variants_say(field: str) -> str:
            return ", ".join(f"{variant} {getattr(params, field):g}" for variant, params in by_variant.items())

        longest_hold = max(params.hold_s for params in by_variant.values())
        finest_bucket = min(params.bucket_qps for params in by_variant.values())
        names = self.override_params(step)
        nullable = {"default": None, "type": ["null", "number"]}
        return {
            names["target_qps"]: {
                **nullable, "exclusiveMinimum": 0,
                "title": f"{step}: target QPS",
                "description": "The ramp's target (requests per second, organic traffic included); "
                               f"empty: the variant's ({variants_say('target_qps')}).",
            },
            names["threshold_qps"]: {
                **nullable, "exclusiveMinimum": 0,
                "title": f"{step}: threshold (QPS)",
                "description": "The band around the target is target ± threshold; the ramp holds in it and the "
                               f"threshold must stay below the target. Empty: the variant's ({variants_say('threshold_qps')}).",
            },
            names["bucket_qps"]: {
                **nullable, "minimum": finest_bucket,
                "title": f"{step}: bucket size (QPS)",
                "description": "The unit of traffic the ramp moves (a bucket; stages 1 and 2 move groups of them). "
                               f"Empty: the variant's ({variants_say('bucket_qps')}); at least {finest_bucket:g}: "
                               "finer buckets take more steps than the task's time limit is sized for.",
            },
            names["hold_s"]: {
                **nullable, "minimum": 0, "maximum": longest_hold,
                "title": f"{step}: hold (seconds)",
                "description": f"How long the ramp holds the target in band; empty: the variant's (at most {longest_hold:g} s, "
                               "which the task's time limit is sized for).",
            },
        }  # fmt: skip

    def time_limit_s(self, variant: str, *, metric_lag_s: float | None = None) -> float:
        """A generous bound on the ramp's duration (its task's execution_timeout, unless timeout_minutes is larger);
        a capacity search's is `_search_time_limit_s`.

        Every jump and step waits its interval plus the metric lag (default: the source's lag, at least
        30 s, plus what a change of the driver takes to reach traffic); the hold may take twice its length
        when traffic leaves the band; plus the no-data limit and ten minutes for start-up and drain.
        A pause counts too (Airflow's execution_timeout keeps running): raise timeout_minutes for long pauses.
        A wait for approval counts for its whole timeout.
        """
        if metric_lag_s is None:
            metric_lag_s = max(30.0, self.metrics.lag_s()) + self.load.settle_estimate_s()
        if self.mode == "capacity":
            return self._search_time_limit_s(variant, metric_lag_s)
        p = self.hold_params_for(variant)
        buckets = math.ceil(p.target_qps / p.bucket_qps)
        before_last = math.ceil(buckets * (p.stages[-2] if len(p.stages) > 1 else 0.0))
        jumps = math.ceil(before_last / p.bucket_group) + len(p.stages)
        steps = buckets - before_last + 4
        return (
            jumps * (p.group_interval_s + metric_lag_s)
            + steps * (p.bucket_interval_s + metric_lag_s)
            + 2 * p.hold_s
            + p.no_data_limit_s
            + p.abort_drain_s
            + (p.approval_timeout_s if p.approve_before else 0.0)
            + 600
        )

    def _search_time_limit_s(self, variant: str, metric_lag_s: float) -> float:
        """A capacity search's bound: its max_duration_s, or less when a max_qps bounds the levels it can try.

        Each level waits the metric lag and its dwell (at least every rule's window) plus a few ticks; the growth
        reaches max_qps in log_growth(max / start) levels, the bisection halves the bracket from max_qps down to
        the precision (or a bucket), and the confirmation may be tried CONFIRM_TRIES times; plus the no-data
        limit and ten minutes for start-up and drain.
        """
        p = self.params_for(variant)
        assert isinstance(p, CapacityParams)
        search_s = p.max_duration_s or math.inf
        if p.max_qps is not None:
            level_s = metric_lag_s + p.judged_span_s + 5
            growth = math.ceil(math.log(p.max_qps / p.start_qps) / math.log(p.growth)) + 1
            finest = max(p.precision_for(p.start_qps), p.bucket_qps)
            bisection = math.ceil(math.log2(max(p.max_qps / finest, 2))) + 2
            confirm = CONFIRM_TRIES * (p.confirm_s + metric_lag_s + 5)
            search_s = min(search_s, (growth + bisection) * level_s + confirm)
        return search_s + p.no_data_limit_s + 600

    def step_links(self) -> list[tuple[str, str]]:
        return [(f"gates[{i}].{path}", step) for i, gate in enumerate(self.gates) for path, step in gate.step_links()]


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system, say: no such file either
        return False


def _check(step: StepBase, ctx: CheckContext) -> Iterable[tuple[str, str]]:
    assert isinstance(step, RampStep)
    for i, gate in enumerate(step.gates):
        kind = ctx.step_kinds.get(gate.database) if isinstance(gate, SqlGate) else None
        if kind is not None and kind != "aurora_restore":
            yield f"gates[{i}].database", f"step '{gate.database}' is a {kind} step; a sql gate queries an aurora_restore step"
    if step.metrics.source == "prometheus" and not step.metrics.url:
        yield "metrics.url", "the prometheus source needs a URL, e.g. ${steps.app.outputs.prometheus_url}"
    # The ramp task's PrometheusSource refuses such a window; said here, it is not found after the load started.
    window_s, scrape_s = step.metrics.window_s, step.metrics.scrape_interval_s
    if step.metrics.source == "prometheus" and window_s < 2 * scrape_s:
        yield "metrics.window_s", (
            f"a rate window of {window_s:g} s holds fewer than two scrapes {scrape_s:g} s apart: "
            f"make it at least {2 * scrape_s:g} s (4 scrape intervals is steadier)"
        )
    if step.load.driver == "locust" and not step.load.master_url and not _is_file(PROJECT_ROOT / step.load.locustfile):
        yield "load.locustfile", (
            f"no file {step.load.locustfile} in the project: give a path relative to the project root, e.g. {DEFAULT_LOCUSTFILE}"
        )
    yield from _mode_problems(step)
    yield from _load_problems(step.load)
    yield from _metrics_problems(step)
    yield from _staleness_problems(step)
    yield from _live_traffic_problems(step)
    yield from _approval_problems(step)


def _approval_problems(step: RampStep) -> Iterable[tuple[str, str]]:
    if step.approval is None or step.mode == "capacity":  # refused there altogether (_mode_problems)
        return
    for variant in VARIANTS:
        stages = len(step._merged(variant)["stages"])
        problem = point_problem(step.approval.before, stages)
        if problem is not None:
            yield "approval.before", f"{problem.removeprefix('approve_before ')} (variant {variant}); e.g. before: stage_{stages} or before: hold"
            return


def _variant_path(step: RampStep, variant: str, field: str) -> str:
    """Where a variant's value of `field` comes from: its own override, else the step (or the default)."""
    override = step.variants.get(variant)  # type: ignore[call-overload]
    return f"variants.{variant}.{field}" if override is not None and getattr(override, field) is not None else field


def _is_reference(value: Any) -> bool:
    return isinstance(value, str) and is_whole_reference(value.strip())


def _load_problems(load: Load) -> Iterable[tuple[str, str]]:
    driver = load.driver
    needed, allowed = DRIVER_FIELDS[driver]
    for field in sorted(load.model_fields_set - {"driver"} - set(needed) - set(allowed)):
        owners = [name for name, (need, may) in DRIVER_FIELDS.items() if field in need or field in may]
        yield f"load.{field}", (
            f"is a setting of load.driver {' / '.join(owners)}, not of {driver}: remove it, or set load.driver: {owners[0]}"
        )
    for field in needed:
        value = getattr(load, field)
        if value in (None, "", []):
            yield f"load.{field}", f"load.driver {driver} needs {field}: give e.g. {_LOAD_EXAMPLES[field]}"
    if driver not in SHIFT_DRIVERS:
        return
    live = load.live_qps
    if isinstance(live, str) and live and not _is_reference(live):
        yield "load.live_qps", f"{live!r} is neither a number nor one reference: give e.g. {_LOAD_EXAMPLES['live_qps']}"
    elif isinstance(live, (int, float)) and not (math.isfinite(live) and live > 0):
        yield "load.live_qps", f"{live:g} is not a rate: give the live requests per second (> 0) the load balancer splits"
    if driver == "haproxy_shift":
        yield from _server_problems(load)
    elif driver == "alb_shift":
        arns = ("listener_arn", "production_target_group_arn", "stack_target_group_arn")
        for field in arns:
            value = getattr(load, field)
            if value and "${" not in value and not value.startswith("arn:"):
                yield f"load.{field}", f"{value!r} is not an ARN: give {_LOAD_EXAMPLES[field]}"
        literal = {getattr(load, f) for f in arns[1:] if getattr(load, f) and "${" not in getattr(load, f)}
        if len(literal) == 1 and all(getattr(load, f) for f in arns[1:]):
            yield "load.stack_target_group_arn", "is production's target group too: give the stack's own target group"
    elif driver == "route53_shift":
        if load.record_type.upper() not in RECORD_TYPES:
            yield "load.record_type", f"{load.record_type!r} is not a record type a shift moves: use one of {', '.join(RECORD_TYPES)}"
        ids = (load.production_set_identifier, load.stack_set_identifier)
        if ids[0] and ids[0] == ids[1]:
            yield "load.stack_set_identifier", "is production's set identifier too: give the stack's own weighted record"


def _server_problems(load: Load) -> Iterable[tuple[str, str]]:
    lists = {}
    for field in ("production_servers", "stack_servers"):
        value = getattr(load, field)
        if isinstance(value, str) and value and not _is_reference(value):
            yield f"load.{field}", f"{value!r} is neither a list of HAProxy server names nor one reference: give e.g. {_LOAD_EXAMPLES[field]}"
        elif isinstance(value, list):
            lists[field] = value
    if len(lists) == 2:
        both = sorted(set(lists["production_servers"]) & set(lists["stack_servers"]))
        if both:
            yield "load.stack_servers", f"{', '.join(both)} also in production_servers: a server belongs to one pool"
    if load.admin_socket and "${" not in load.admin_socket and not load.admin_socket.startswith("/"):
        yield "load.admin_socket", f"{load.admin_socket!r} is not an absolute path: give {_LOAD_EXAMPLES['admin_socket']}"


def _metrics_problems(step: RampStep) -> Iterable[tuple[str, str]]:
    metrics, driver = step.metrics, step.load.driver
    for field in sorted(metrics.model_fields_set - {"source"} - set(SOURCE_FIELDS[metrics.source])):
        owners = [name for name, fields in SOURCE_FIELDS.items() if field in fields]
        yield f"metrics.{field}", (
            f"is a setting of metrics.source {' / '.join(owners)}, not of {metrics.source}: remove it, "
            f"or set metrics.source: {owners[0]}"
        )
    for name in metrics.labels:
        if not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
            yield f"metrics.labels.{name}", "is not a Prometheus label name: letters, digits and _, not starting with a digit or __"
    if metrics.source == "locust" and driver != "locust":
        yield "metrics.source", (
            f"locust reads the ramp's own Locust counters, and load.driver {driver} starts no Locust: "
            "use prometheus (the stack's pool) or cloudwatch"
        )
    if driver == "haproxy_shift" and metrics.source == "prometheus" and not metrics.labels:
        yield "metrics.labels", (
            "with load.driver haproxy_shift Prometheus would count production's traffic as the stack's: "
            "add labels: {pool: stack} (the app's live: deployment labels its processes by pool)"
        )
    if metrics.source != "cloudwatch":
        return
    if not metrics.load_balancer:
        yield "metrics.load_balancer", "the cloudwatch source needs the ALB's ARN (or its arn_suffix), e.g. ${steps.lb.outputs.arn}"
    for field, parse in (("load_balancer", load_balancer_dimension), ("target_group", target_group_dimension)):
        value = getattr(metrics, field)
        if value and "${" not in value:
            try:
                parse(value)
            except CloudWatchSourceError as exc:
                yield f"metrics.{field}", str(exc).removeprefix(f"{field} ")
    try:
        check_period(metrics.period_s)
    except CloudWatchSourceError as exc:
        yield "metrics.period_s", str(exc).removeprefix("period_s ")
    if driver == "alb_shift" and not metrics.target_group:
        yield "metrics.target_group", (
            "with load.driver alb_shift the whole ALB's metrics count production's traffic as the stack's: "
            "give the stack's target group (load.stack_target_group_arn)"
        )


def _staleness_problems(step: RampStep) -> Iterable[tuple[str, str]]:
    """A sample is at least the source's lag old: a staleness limit below it leaves no fresh sample, ever."""
    if step.metrics.source != "cloudwatch":
        return
    lag = step.metrics.lag_s()
    why = (
        f"the cloudwatch source's samples are up to {lag:g} s old (2 periods of {step.metrics.period_s} s "
        f"+ publish_lag_s {step.metrics.publish_lag_s:g} s)"
    )
    for variant in VARIANTS:
        staleness = step._merged(variant)["max_staleness_s"]
        if staleness < lag:
            yield _variant_path(step, variant, "max_staleness_s"), (
                f"{staleness:g} s is below the lag of its metrics: {why}, so every sample would be too old and the "
                f"ramp would never move; set max_staleness_s to at least {lag:g}"
            )


def _live_traffic_problems(step: RampStep) -> Iterable[tuple[str, str]]:
    """With a literal live_qps: the target must be reachable and a bucket must move at least one unit of weight."""
    driver, live = step.load.driver, step.load.live_qps
    if driver not in SHIFT_DRIVERS or isinstance(live, str) or live is None or not (math.isfinite(live) and live > 0):
        return
    split = WeightSplit(live_qps=float(live), max_weight=MAX_WEIGHTS[driver], target=driver)
    said: set[tuple[str, str]] = set()
    for variant in VARIANTS:
        if step.mode == "capacity":
            for problem in _capacity_shift_problems(step, variant, split, float(live)):
                if problem not in said:
                    said.add(problem)
                    yield problem
            continue
        params = step.hold_params_for(variant)
        if params.target_qps >= split.max_qps:
            yield _variant_path(step, variant, "target_qps"), (
                f"{params.target_qps:g} is not below what the live traffic can give: {live:g} live QPS x "
                f"{split.max_stack_weight}/{split.max_weight} (production keeps 1 unit of weight) = {split.max_qps:.4g} QPS; "
                "lower target_qps or send more live traffic (load.live_qps)"
            )
        if params.bucket_qps < split.qps_per_weight:
            yield _variant_path(step, variant, "bucket_qps"), (
                f"{params.bucket_qps:g} moves less than one unit of weight ({split.qps_per_weight:.4g} QPS: {live:g} live "
                f"QPS over {split.max_weight}); raise bucket_qps to at least {split.qps_per_weight:.4g}"
            )


RAMP = register_kind(StepKind(name="ramp", model=RampStep, outputs_task_id="ramp", check=_check))


def _capacity_shift_problems(step: RampStep, variant: str, split: WeightSplit, live: float) -> Iterable[tuple[str, str]]:
    """A search over shifted live traffic can go no higher than what the live traffic gives."""
    settings = step.capacity_settings(variant)
    max_qps, bucket_qps = settings.get("max_qps"), settings["bucket_qps"]
    can_give = (
        f"{live:g} live QPS x {split.max_stack_weight}/{split.max_weight} (production keeps 1 unit of weight) = "
        f"{split.max_qps:.4g} QPS"
    )
    if max_qps is None or max_qps > split.max_qps:
        shown = "not given" if max_qps is None else f"{max_qps:g}"
        yield _capacity_path(step, variant, "max_qps"), (
            f"{shown}: a shift moves at most {can_give}; set max_qps to at most {split.max_qps:.4g}"
        )
    if bucket_qps < split.qps_per_weight:
        yield _variant_path(step, variant, "bucket_qps"), (
            f"{bucket_qps:g} moves less than one unit of weight ({split.qps_per_weight:.4g} QPS: {live:g} live "
            f"QPS over {split.max_weight}); raise bucket_qps to at least {split.qps_per_weight:.4g}"
        )


def _capacity_path(step: RampStep, variant: str, field: str) -> str:
    """Where a variant's capacity setting comes from: its own override, else the step's capacity: block."""
    override = step.variants.get(variant)  # type: ignore[call-overload]
    if override is not None and override.capacity is not None and getattr(override.capacity, field) is not None:
        return f"variants.{variant}.capacity.{field}"
    return f"capacity.{field}"


def _mode_problems(step: RampStep) -> Iterable[tuple[str, str]]:
    """Each mode's settings and checks only where they apply; a capacity search's settings that hold together."""
    sources = [("", step), *((f"variants.{name}.", settings) for name, settings in step.variants.items())]
    if step.mode == "hold":
        for prefix, settings in sources:
            if settings.capacity is not None:
                yield f"{prefix}capacity", "is the capacity search's settings, and mode is hold: remove it, or set mode: capacity"
        for i, check in enumerate(step.checks):
            if check.metric in CAPACITY_METRICS:
                yield f"checks[{i}]", (
                    f"{check.metric} is a capacity search's result, and mode is hold: remove the check, or set mode: capacity"
                )
        return
    for prefix, settings in sources:
        for field in HOLD_ONLY_FIELDS:
            if field in settings.model_fields_set:
                yield f"{prefix}{field}", (
                    "is a setting of mode: hold (a target held in band), not of mode: capacity: remove it "
                    "(the search's settings go under capacity:)"
                )
    if step.approval is not None:
        yield "approval", (
            "is a human's go-ahead before a stage or the hold of mode: hold; a capacity search has neither: "
            "remove it (pause or terminate the search from the Ramp page or `loadstack ramp` instead)"
        )
    if not step.abort:
        yield "abort", (
            "mode: capacity judges health on the abort rules' metrics and has none: add at least one, "
            "e.g. {metric: error_ratio, above: 0.05, for_s: 10}"
        )
    for i, check in enumerate(step.checks):
        if check.metric not in CAPACITY_METRICS:
            yield f"checks[{i}]", (
                f"'{check.name}' measures a ramp's hold or its way to the band, and a capacity search has neither: "
                f"check what it found instead, one of {', '.join(CAPACITY_METRICS)} (e.g. 'capacity_qps >= 100')"
            )
    said: set[tuple[str, str]] = set()  # a problem of the step's own capacity: block shows in both variants
    for variant in VARIANTS:
        for problem in _capacity_settings_problems(step, variant):
            if problem not in said:
                said.add(problem)
                yield problem


def _capacity_settings_problems(step: RampStep, variant: str) -> Iterable[tuple[str, str]]:
    settings = step.capacity_settings(variant)
    start, bucket, top = settings["start_qps"], settings["bucket_qps"], settings.get("max_qps")
    found = False
    if start < bucket:
        found = True
        yield _capacity_path(step, variant, "start_qps"), (
            f"{start:g} is below one bucket ({bucket:g} QPS, bucket_qps): start at {bucket:g} QPS or more"
        )
    if top is not None and top < start:
        found = True
        yield _capacity_path(step, variant, "max_qps"), (
            f"{top:g} is below start_qps {start:g}: raise max_qps, or start lower"
        )
    if found or not step.abort:
        return
    try:
        step.params_for(variant)
    except ValueError as exc:
        yield "capacity", f"variant {variant}: {exc}"
