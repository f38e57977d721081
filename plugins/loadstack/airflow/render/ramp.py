"""Renders the ramp kind: every gate (a deferrable sensor) → ramp → checks and report, in the step's group.

The report runs whatever happened before it (`all_done`): an aborted or terminated ramp is when a
report matters most. The ramp's time limit is sized for its stages and hold, or for a capacity search's levels
(`RampStep.time_limit_s`). With `approval:`, an approval task runs beside the ramp (after the gates) and asks a
human once the ramp waits at its point (`operators.ramp_approval`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from loadstack.airflow.operators.gates import GateSensor
from loadstack.airflow.operators.ramp import RampOperator
from loadstack.airflow.operators.ramp_approval import RampApprovalOperator
from loadstack.airflow.operators.ramp_report import RampChecksOperator, RampReportOperator, report_asset
from loadstack.airflow.render.context import StepRenderContext, step_operator_args
from loadstack.airflow.render.registry import KindRenderer, register_renderer
from loadstack.kinds.base import VARIANTS
from loadstack.kinds.ramp import RampStep


def render_ramp(ctx: StepRenderContext) -> RampReportOperator:
    step = ctx.step
    assert isinstance(step, RampStep)
    gates = [
        GateSensor(task_id=f"gate_{gate.name}", gate=gate.model_dump(mode="json"), output_sources=ctx.output_sources,
                   **step_operator_args(ctx))
        for gate in step.gates
    ]
    limit = max(ctx.execution_timeout, max(timedelta(seconds=step.time_limit_s(v)) for v in VARIANTS))
    approval = None
    if step.approval is not None:
        # Beside the ramp, not before it: the ramp keeps its traffic up while the human decides.
        approval = RampApprovalOperator(
            task_id=f"approve_{step.approval.before}", stack=ctx.stack.name, step=ctx.name, point=step.approval.before,
            reach_timeout_s=limit.total_seconds(), response_timeout_s=step.approval.timeout_minutes * 60,
        )
    ramp = RampOperator(
        task_id="ramp",
        params_by_variant={variant: step.params_for(variant).to_json() for variant in VARIANTS},
        overrides={field: "{{ params.%s }}" % name for field, name in step.override_params(ctx.name).items()},
        target_url=step.target_url,
        load=step.load.settings(),
        metrics=step.metrics.settings(),
        output_sources=ctx.output_sources,
        approval_task_id=approval.task_id if approval is not None else None,
        **step_operator_args(replace(ctx, execution_timeout=limit)),
    )
    checks = [check.model_dump(mode="json") for check in step.checks]
    judged = RampChecksOperator(task_id="checks", checks=checks, **step_operator_args(replace(ctx, retries=0)))
    report = RampReportOperator(
        task_id="report", checks=checks, trigger_rule="all_done", outlets=[report_asset(ctx.stack.name, ctx.name)],
        **step_operator_args(ctx),
    )
    # Checks and report both follow the ramp. The checks are a leaf of the run, so an aborted ramp
    # (checks upstream_failed) or a failed check fails the run even though the report, which runs
    # whatever happened, succeeds.
    gates >> ramp >> [judged, report]
    if approval is not None:
        gates >> approval
    return report


register_renderer("ramp", KindRenderer(render_ramp, None))
