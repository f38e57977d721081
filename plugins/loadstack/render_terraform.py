"""Renders a `terraform` step: its apply task (completion handlers are attached by render.py)."""

from __future__ import annotations

from loadstack.kinds.terraform import TerraformStep
from loadstack.operators.terraform import TerraformApplyOperator, TerraformDestroyOperator
from loadstack.render import VARIANT_TEMPLATE, StepRenderContext, TeardownRenderContext


def render_terraform_step(ctx: StepRenderContext) -> TerraformApplyOperator:
    step = ctx.step
    assert isinstance(step, TerraformStep)
    return TerraformApplyOperator(
        task_id="apply",
        stack=ctx.stack.name,
        step=ctx.name,
        module_dir=str(ctx.stack.modules_dir / step.module),
        workspace=step.workspace_for(ctx.stack.name, ctx.name),
        state_key=step.state_key(),
        variables=step.vars,
        # The variant is chosen per run (the `variant` Param), so every variant's values go in.
        variant_variables=dict(step.variants),
        variant=VARIANT_TEMPLATE,
        output_sources=ctx.output_sources,
        stack_owner=ctx.stack.model.owner,
        retries=ctx.retries,
        execution_timeout=ctx.execution_timeout,
    )


def render_terraform_teardown(ctx: TeardownRenderContext) -> TerraformDestroyOperator:
    step = ctx.step
    assert isinstance(step, TerraformStep)
    return TerraformDestroyOperator(
        task_id="destroy",
        stack=ctx.stack.name,
        step=ctx.name,
        module_dir=str(ctx.stack.modules_dir / step.module),
        workspace=step.workspace_for(ctx.stack.name, ctx.name),
        state_key=step.state_key(),
        variables=step.vars,
        variant_variables=dict(step.variants),
        variant=VARIANT_TEMPLATE,
        state_objects=ctx.state_objects,
        stack_owner=ctx.stack.model.owner,
        retries=ctx.retries,
        execution_timeout=ctx.execution_timeout,
    )
