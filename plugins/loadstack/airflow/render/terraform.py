"""Renders a `terraform` step: its apply task (handlers are attached by render.dag) and its destroy task."""

from __future__ import annotations

from loadstack.airflow.operators.terraform import (
    TerraformApplyOperator,
    TerraformDestroyOperator,
)
from loadstack.airflow.render.context import (
    VARIANT_TEMPLATE,
    StepRenderContext,
    TeardownRenderContext,
)
from loadstack.airflow.render.registry import KindRenderer, register_renderer
from loadstack.kinds.terraform import TerraformStep


def _step_kwargs(ctx: StepRenderContext | TeardownRenderContext) -> dict:
    step = ctx.step
    assert isinstance(step, TerraformStep)
    return dict(
        stack=ctx.stack.name,
        step=ctx.name,
        module_dir=str(ctx.stack.modules_dir / step.module),
        modules_root=str(ctx.stack.modules_dir),
        workspace=step.workspace_for(ctx.stack.name, ctx.name),
        state_key=step.state_key(),
        variables=step.vars,
        # The variant is chosen per run (the `variant` Param), so every variant's values go in.
        variant_variables=dict(step.variants),
        variant=VARIANT_TEMPLATE,
        stack_owner=ctx.stack.model.owner,
        retries=ctx.retries,
        execution_timeout=ctx.execution_timeout,
    )


def render_terraform_step(ctx: StepRenderContext) -> TerraformApplyOperator:
    return TerraformApplyOperator(task_id="apply", output_sources=ctx.output_sources, **_step_kwargs(ctx))


def render_terraform_teardown(ctx: TeardownRenderContext) -> TerraformDestroyOperator:
    return TerraformDestroyOperator(task_id="destroy", state_objects=ctx.state_objects, **_step_kwargs(ctx))


register_renderer("terraform", KindRenderer(render_terraform_step, render_terraform_teardown))
