"""The `app` step kind: the application under test, serving the stack's restored data.

local: N processes of the app (top-level `app/`) on 127.0.0.1 behind a private HAProxy standing for
the load balancer, and a private Prometheus scraping both: the real, delayed monitoring pipeline.
aws: the same app runs on the `app_cluster` Terraform module's instances; the step publishes the
load balancer's address (`load_balancer`) and starts nothing.
Either way its `url` output is what gates and load use.

`live:` (local) adds live traffic for a traffic-shift ramp: production's pool (more app processes,
standing for the other data centres, on the same data) in the same HAProxy backend as the stack's
processes, which start at weight 0, and an organic generator sending a fixed rate through HAProxy.
Prometheus labels every app process with its pool (`pool="stack"` or `pool="production"`), so a
ramp's queries can count only the stack's traffic (`metrics.labels: {pool: stack}`). Outputs added:
`live_qps`, `stack_servers`, `production_servers` (HAProxy server names in `haproxy_backend`).
"""

from __future__ import annotations

from typing import ClassVar, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field

from loadstack.kinds.base import CheckContext, StepBase, StepKind, Variant, register_kind
from loadstack.queues import SERVICES


class AppSize(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instances: int = Field(ge=1, le=64, description="app processes behind the load balancer (local profile)")


DEFAULT_SIZES = {"minimal": AppSize(instances=2), "production": AppSize(instances=4)}


class Faults(BaseModel):
    """Faults the app injects from its start (tests and demos can also switch them on at run time)."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: float = Field(default=0, ge=0, le=60_000, description="extra latency on every request")
    error_ratio: float = Field(default=0, ge=0, le=1, description="share of requests answered with HTTP 500")


class Live(BaseModel):
    """Live traffic (local profile): production's pool beside the stack's, and organic traffic through both.

    The aws profile starts nothing and ignores this block: there the live traffic is real, and a ramp
    shifts it with `load.driver: alb_shift` or `route53_shift`.
    """

    model_config = ConfigDict(extra="forbid")

    production_instances: int = Field(
        ge=1, le=32, description="app processes standing for the other data centres, in the same backend"
    )
    organic_qps: float = Field(
        gt=0, le=5000, description="requests per second the organic generator sends through HAProxy (live users)"
    )


class LoadBalancer(BaseModel):
    """aws: where the `app_cluster` module serves the app (references to its outputs)."""

    model_config = ConfigDict(extra="forbid")

    url: str = ""
    target_group_arn: str = ""


class AppStep(StepBase):
    kind: Literal["app"]
    database: str = Field(description="the aurora_restore step whose database the app serves")
    cache: str = Field(description="the redis_restore step holding sessions and carts")
    faults: Faults = Field(default_factory=Faults)
    scrape_interval_s: float = Field(default=1.0, ge=0.5, le=60, description="Prometheus scrape interval (local)")
    load_balancer: LoadBalancer = Field(default_factory=LoadBalancer)
    prometheus_url: str = Field(default="", description="aws: a Prometheus scraping the instances, if any")
    live: Live | None = Field(default=None, description="local: production's pool and organic traffic for a shift")
    variants: dict[Variant, AppSize] = Field(default_factory=dict)

    reference_fields: ClassVar[tuple[str, ...]] = ("load_balancer", "prometheus_url")
    work: ClassVar[str] = SERVICES

    def size_for(self, variant: str) -> AppSize:
        return self.variants.get(variant, DEFAULT_SIZES[variant])  # type: ignore[call-overload]

    def step_links(self) -> list[tuple[str, str]]:
        return [("database", self.database), ("cache", self.cache)]


def _check(step: StepBase, ctx: CheckContext) -> Iterable[tuple[str, str]]:
    assert isinstance(step, AppStep)
    wanted_kinds = (("database", step.database, "aurora_restore", "an"), ("cache", step.cache, "redis_restore", "a"))
    for field, name, wanted, article in wanted_kinds:
        kind = ctx.step_kinds.get(name)
        if kind is not None and kind != wanted:
            yield field, f"step '{name}' is a {kind} step; the app's {field} must be {article} {wanted} step"


APP = register_kind(StepKind(name="app", model=AppStep, outputs_task_id="deploy", check=_check))
