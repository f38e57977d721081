"""Renders the data-tier kinds: aurora_restore and redis_restore (restore / destroy), and seed (base,
one mapped task per events shard, summary)."""

from __future__ import annotations

from pathlib import Path

from loadstack.airflow.operators.aurora import AuroraRestoreOperator, AuroraTeardownOperator
from loadstack.airflow.operators.outputs import ForgetOutputsOperator
from loadstack.airflow.operators.redis import RedisRestoreOperator, RedisTeardownOperator
from loadstack.airflow.operators.seed import SeedBaseOperator, SeedShardOperator, SeedVerifyOperator
from loadstack.airflow.render.context import (
    StepRenderContext,
    TeardownRenderContext,
    step_operator_args,
)
from loadstack.airflow.render.registry import KindRenderer, register_renderer
from loadstack.data.params import SeedParams
from loadstack.kinds.aurora_restore import AuroraRestoreStep
from loadstack.kinds.base import VARIANTS
from loadstack.kinds.redis_restore import RedisRestoreStep
from loadstack.kinds.seed import SeedStep
from loadstack.snapshots.catalog import load_definitions


def snapshots_dir(ctx: StepRenderContext | TeardownRenderContext) -> Path:
    return ctx.stack.source.resolve().parent.parent / "snapshots"


def render_aurora_restore(ctx: StepRenderContext) -> AuroraRestoreOperator:
    step = ctx.step
    assert isinstance(step, AuroraRestoreStep)
    return AuroraRestoreOperator(
        task_id="restore",
        snapshot="{{ params.%s }}" % step.snapshot_param(ctx.name),
        snapshots_dir=str(snapshots_dir(ctx)),
        sizes={variant: step.size_for(variant).model_dump() for variant in VARIANTS},
        placement=step.placement.model_dump(),
        output_sources=ctx.output_sources,
        **step_operator_args(ctx),
    )


def render_aurora_teardown(ctx: TeardownRenderContext) -> AuroraTeardownOperator:
    return AuroraTeardownOperator(task_id="destroy", **step_operator_args(ctx))


def render_seed(ctx: StepRenderContext) -> SeedVerifyOperator:
    step = ctx.step
    assert isinstance(step, SeedStep)
    seed_params = load_definitions(snapshots_dir(ctx))[step.dataset].seed
    shared = dict(database_task_id=f"{step.database}.restore", seed_params=seed_params, **step_operator_args(ctx))
    base = SeedBaseOperator(task_id="seed_base", **shared)
    shards = SeedShardOperator.partial(task_id="seed_shard", **shared).expand(
        shard=list(range(SeedParams.from_dict(seed_params).shards))
    )
    summary = SeedVerifyOperator(task_id="summary", **shared)
    base >> shards >> summary
    return summary


def render_redis_restore(ctx: StepRenderContext) -> RedisRestoreOperator:
    step = ctx.step
    assert isinstance(step, RedisRestoreStep)
    return RedisRestoreOperator(
        task_id="restore",
        snapshot=step.snapshot,
        snapshots_dir=str(snapshots_dir(ctx)),
        sizes={variant: step.size_for(variant).model_dump() for variant in VARIANTS},
        placement=step.placement.model_dump(),
        output_sources=ctx.output_sources,
        **step_operator_args(ctx),
    )


def render_redis_teardown(ctx: TeardownRenderContext) -> RedisTeardownOperator:
    return RedisTeardownOperator(task_id="destroy", **step_operator_args(ctx))


def render_seed_teardown(ctx: TeardownRenderContext) -> ForgetOutputsOperator:
    # The rows go with the database; only the step's recorded outputs are its own.
    return ForgetOutputsOperator(task_id="destroy", **step_operator_args(ctx))


register_renderer("aurora_restore", KindRenderer(render_aurora_restore, render_aurora_teardown))
register_renderer("redis_restore", KindRenderer(render_redis_restore, render_redis_teardown))
register_renderer("seed", KindRenderer(render_seed, render_seed_teardown))
