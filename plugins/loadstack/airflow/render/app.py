"""Renders the app kind: one `deploy` task (and `destroy` in the teardown DAG)."""

from __future__ import annotations

from loadstack.airflow.operators.app import AppDeployOperator, AppTeardownOperator
from loadstack.airflow.render.context import StepRenderContext, TeardownRenderContext, step_operator_args
from loadstack.airflow.render.registry import KindRenderer, register_renderer
from loadstack.kinds.app import AppStep
from loadstack.kinds.base import VARIANTS


def render_app(ctx: StepRenderContext) -> AppDeployOperator:
    step = ctx.step
    assert isinstance(step, AppStep)
    return AppDeployOperator(
        task_id="deploy",
        database_task_id=f"{step.database}.restore",
        cache_task_id=f"{step.cache}.restore",
        instances={variant: step.size_for(variant).instances for variant in VARIANTS},
        faults=step.faults.model_dump(),
        scrape_interval_s=step.scrape_interval_s,
        load_balancer=step.load_balancer.model_dump(),
        prometheus_url=step.prometheus_url,
        live=step.live.model_dump() if step.live else {},
        output_sources=ctx.output_sources,
        **step_operator_args(ctx),
    )


def render_app_teardown(ctx: TeardownRenderContext) -> AppTeardownOperator:
    return AppTeardownOperator(task_id="destroy", **step_operator_args(ctx))


register_renderer("app", KindRenderer(render_app, render_app_teardown))
