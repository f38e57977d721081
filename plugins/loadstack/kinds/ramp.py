"""The `ramp` step kind: gates, then a traffic-shift ramp to a target QPS held in band, then checks and a report.

The step renders as one task group: every gate (a deferrable sensor) must pass before the ramp
starts; the ramp drives load (Locust) through the controller in `loadstack.ramp`; the checks pass or
fail the run on what the ramp saw; the report (timeline, charts, one HTML page) is stored in the
report bucket whatever happened.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loadstack.gates.models import GateList, SqlGate
from loadstack.kinds.base import CheckContext, StepBase, StepKind, Variant, register_kind
from loadstack.profiles import PROJECT_ROOT
from loadstack.ramp.checks import Check
from loadstack.ramp.params import AbortRule, RampParams

DEFAULT_LOCUSTFILE = "include/locust/shop.py"


class Load(BaseModel):
    """Where the load comes from: a Locust master the ramp starts (with workers), or one given by URL."""

    model_config = ConfigDict(extra="forbid")

    driver: Literal["locust"] = "locust"
    locustfile: str = Field(default=DEFAULT_LOCUSTFILE, description="relative to the project root")
    workers: int = Field(default=1, ge=1, le=32, description="Locust worker processes the ramp starts")
    master_url: str = Field(default="", description="an existing Locust master's web URL; the ramp then starts nothing")


class Metrics(BaseModel):
    """Where the ramp reads traffic and health: Prometheus (the stack's monitoring) or Locust's own counters."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["prometheus", "locust"] = "prometheus"
    url: str = Field(default="", description="the Prometheus base URL (source: prometheus)")
    window_s: float = Field(default=5, ge=1, le=300, description="the rate() window of the Prometheus queries")
    scrape_interval_s: float = Field(default=1, gt=0, le=300, description="how often that Prometheus scrapes the app")


class Abort(BaseModel):
    """Abort (and drain) when `metric` stays above `above` for `for_s` seconds; no `for_s`: a hard limit."""

    model_config = ConfigDict(extra="forbid")

    metric: Literal["error_ratio", "p50_ms", "p95_ms", "p99_ms"]
    above: float = Field(ge=0)
    for_s: float = Field(default=0, ge=0, le=3600)

    def rule(self) -> AbortRule:
        return AbortRule(metric=self.metric, limit=self.above, window_s=self.for_s)


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
    target_url: str = Field(description="the stack's entry point, e.g. ${steps.app.outputs.url}")
    gates: GateList = Field(default_factory=list, description="every gate must pass before the ramp starts")
    load: Load = Field(default_factory=Load)
    metrics: Metrics = Field(default_factory=Metrics)
    abort: list[Abort] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list, description='post-ramp checks, e.g. "p99_ms < 800"; any failing fails the run')
    variants: dict[Variant, RampSettings] = Field(default_factory=dict)

    reference_fields: ClassVar[tuple[str, ...]] = ("target_url", "gates", "load", "metrics")

    @model_validator(mode="after")
    def _every_variant_has_the_essentials(self) -> "RampStep":
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
                merged.update({k: v for k, v in source.model_dump().items() if v is not None})
        return merged

    def _params_from(self, merged: dict[str, Any]) -> RampParams:
        values = dict(merged, stages=tuple(merged["stages"]), abort_rules=tuple(a.rule() for a in self.abort))
        return RampParams(**values)

    def params_for(self, variant: str) -> RampParams:
        return self._params_from(self._merged(variant))

    def override_params(self, step: str) -> dict[str, str]:
        """{RampParams field: the DAG Param that overrides it for one run} (see `run_params`)."""
        return {"target_qps": f"{step}_target_qps", "hold_s": f"{step}_hold_s"}

    def run_params(self, step: str) -> dict[str, dict[str, Any]]:
        longest_hold = max(self.params_for(variant).hold_s for variant in ("minimal", "production"))
        names = self.override_params(step)
        return {
            names["target_qps"]: {
                "default": None, "type": ["null", "number"], "exclusiveMinimum": 0,
                "title": f"{step}: target QPS",
                "description": "The ramp's target (requests per second, organic traffic included); empty: the variant's.",
            },
            names["hold_s"]: {
                "default": None, "type": ["null", "number"], "minimum": 0, "maximum": longest_hold,
                "title": f"{step}: hold (seconds)",
                "description": f"How long the ramp holds the target in band; empty: the variant's (at most {longest_hold:g} s, "
                               "which the task's time limit is sized for).",
            },
        }

    def time_limit_s(self, variant: str, *, metric_lag_s: float = 30.0) -> float:
        """A generous bound on the ramp's duration (its task's execution_timeout, unless timeout_minutes is larger).

        Every jump and step waits its interval plus the metric lag; the hold may take twice its length
        when traffic leaves the band; plus the no-data limit and ten minutes for start-up and drain.
        A pause counts too (Airflow's execution_timeout keeps running): raise timeout_minutes for long pauses.
        """
        p = self.params_for(variant)
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
            + 600
        )

    def step_links(self) -> list[tuple[str, str]]:
        return [(f"gates[{i}].{path}", step) for i, gate in enumerate(self.gates) for path, step in gate.step_links()]


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
    if not step.load.master_url and not (PROJECT_ROOT / step.load.locustfile).is_file():
        yield "load.locustfile", (
            f"no file {step.load.locustfile} in the project: give a path relative to the project root, e.g. {DEFAULT_LOCUSTFILE}"
        )


RAMP = register_kind(StepKind(name="ramp", model=RampStep, outputs_task_id="ramp", check=_check))
