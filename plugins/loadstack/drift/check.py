"""Plan one live Terraform step for drift, in a disposable working copy, with the step's remote state.

The runner does what the stack's own apply does (working copy, overrides, S3 backend, workspace):
`plan -detailed-exitcode` to a saved plan (0 no changes, 2 changes, 1 error), then `show -json` of
that plan for the changed resources. With `reapply`, the saved plan is applied in the same working
copy, so the plan file (which holds variable values) never leaves it, and a second plan says whether
the step is clean again.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from loadstack.drift.changes import PlanFormatError, PlannedChanges, planned_changes
from loadstack.drift.live import DriftTarget
from loadstack.drift.report import StepDrift
from loadstack.kinds.base import VARIANTS
from loadstack.outputs import OutputResolver
from loadstack.profiles import Profile, ProfileError
from loadstack.refs import resolve
from loadstack.terraform.runner import TerraformRunner, TerraformStepFailed

# What makes a step's check an "error" in the report rather than a crash of the task.
CHECK_ERRORS = (TerraformStepFailed, PlanFormatError, LookupError, ProfileError, ValueError)


def _no_xcom(task_id: str) -> Any:
    raise LookupError(f"a drift check reads upstream outputs from remote state, not from task {task_id}")


def resolve_variables(profile: Profile, target: DriftTarget) -> dict[str, Any]:
    """The step's variables with `${...}` answered from the stack fields and upstream remote state."""
    if target.variant not in VARIANTS:
        raise ValueError(f"variant {target.variant!r}: choose one of {', '.join(VARIANTS)}")
    resolver = OutputResolver(
        pull=_no_xcom,
        profile=profile,
        stack_fields={"name": target.stack, "owner": target.owner, "variant": target.variant},
        output_sources={},
        state_objects=target.state_objects,
    )
    return resolve(target.variables, resolver)


def check_step(
    profile: Profile,
    target: DriftTarget,
    *,
    working_dir: Path,
    reapply: bool = False,
    logger: logging.Logger | None = None,
    runner: TerraformRunner | None = None,
) -> StepDrift:
    """Plan `target` against its remote state; with `reapply`, apply the saved plan of a drifted step.

    `runner`: the caller's, to stop Terraform from elsewhere (a killed task's `on_kill`); else a new one."""
    log = logger or logging.getLogger(__name__)
    runner = runner or TerraformRunner(profile=profile, working_dir=working_dir, logger=log)
    started = time.monotonic()
    result: dict[str, Any] = {"status": "error"}
    succeeded = False
    try:
        variables = resolve_variables(profile, target)
        var_files = runner.prepare(
            Path(target.module_dir), target.variant, variables, modules_root=Path(target.modules_root)
        )
        runner.init(target.state_key, target.workspace)
        plan = runner.plan(var_files)
        changes = planned_changes(runner.show_plan()) if plan.has_changes else PlannedChanges()
        result = {"status": "drifted" if plan.has_changes else "clean", "resources": changes.resources,
                  "outputs": changes.outputs}
        if plan.has_changes and reapply:
            log.info("reapply: applying the saved plan of %s/%s", target.stack, target.step)
            runner.apply()
            result["reapplied"] = True
            result["clean_after_reapply"] = not runner.plan(var_files).has_changes
        succeeded = True
    except CHECK_ERRORS as exc:
        log.error("drift check of %s/%s failed: %s", target.stack, target.step, exc)
        result["error"] = str(exc)
    finally:
        runner.cleanup(keep_working_dir=not succeeded)
        log.info("terraform timings: %s", ", ".join(f"{k} {v:.1f}s" for k, v in runner.timings.items()))
    return StepDrift(
        stack=target.stack,
        step=target.step,
        workspace=target.workspace,
        variant=target.variant,
        seconds=round(time.monotonic() - started, 1),
        **result,
    )
