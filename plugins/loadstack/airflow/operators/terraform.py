"""Terraform step tasks: apply (init → workspace → plan to a file → apply that plan if it changes
anything → outputs) and destroy (teardown)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from loadstack.airflow.operators.base import StackStepOperator
from loadstack.outputs import publishable_outputs
from loadstack.terraform.runner import PlanResult, TerraformRunner
from loadstack.terraform.state import holds_resources, state_object_key


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:120]


class _TerraformStepOperator(StackStepOperator):
    """Shared by apply and destroy: the module, its workspace and state, and a private working copy.

    `modules_root` is the folder of modules (include/terraform) the working copy holds, so the
    module's relative `source = "../..."` calls resolve; the module runs in its subfolder there.
    """

    template_fields = ("variables", "variant_variables", "variant")

    def __init__(
        self,
        *,
        module_dir: str,
        modules_root: str,
        workspace: str,
        state_key: str,
        variables: dict[str, Any],
        variant_variables: dict[str, dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.module_dir = module_dir
        self.modules_root = modules_root
        self.workspace = workspace
        self.state_key = state_key
        self.variables = variables
        self.variant_variables = variant_variables or {}
        self._runner: TerraformRunner | None = None

    def variables_for_run(self) -> dict[str, Any]:
        """Spec values for this run's variant, references still unresolved."""
        return {**self.variables, **self.variant_variables.get(self.variant, {})}

    def run_terraform(self, context, variables: dict[str, Any], work: str, action) -> Any:
        """Prepare a fresh working copy, init the backend and workspace, then `action(hook, var_files)`."""
        hook = TerraformRunner(
            profile=self.profile,
            working_dir=self.profile.work_dir / self.stack / _slug(context["dag_run"].run_id) / work,
            logger=self.log,
        )
        self._runner = hook
        succeeded = False
        try:
            var_files = hook.prepare(
                Path(self.module_dir), self.variant, variables, modules_root=Path(self.modules_root)
            )
            hook.init(self.state_key, self.workspace)
            result = action(hook, var_files)
            succeeded = True
            return result
        finally:
            hook.cleanup(keep_working_dir=not succeeded)
            self.log.info("terraform timings: %s", ", ".join(f"{k} {v:.1f}s" for k, v in hook.timings.items()))


    def on_kill(self) -> None:
        # Terraform runs in a session of its own (so a signal to it never reaches the task first): Airflow's
        # SIGTERM to the task's group does not reach it, so stop it here; it releases its state lock itself.
        if self._runner is not None:
            self._runner.stop()


class TerraformApplyOperator(_TerraformStepOperator):
    """Bring one step's module to the spec'd state and publish its outputs to XCom."""

    ui_color = "#ede4ff"

    def __init__(self, *, output_sources: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.output_sources = output_sources

    def execute(self, context) -> dict[str, Any]:
        self.check_account()
        variables = self.resolve_references(self.variables_for_run(), context, output_sources=self.output_sources)

        def apply(hook: TerraformRunner, var_files: list[str]) -> tuple[PlanResult, dict[str, Any]]:
            plan = hook.plan(var_files)
            if plan.has_changes:
                hook.apply()
            else:
                self.log.info("no changes: %s already matches the spec, apply skipped", self.workspace)
            return plan, publishable_outputs(hook.outputs(), state_object_key(self.workspace, self.state_key))

        plan, outputs = self.run_terraform(context, variables, self.step, apply)
        context["ti"].xcom_push(key="changed", value=plan.has_changes)
        return outputs


class TerraformDestroyOperator(_TerraformStepOperator):
    """Destroy one step's resources (teardown); the workspace's state stays, empty.

    Terraform needs the step's input variables to destroy; references to upstream steps are read
    from their remote state, which still exists because teardown runs in reverse dependency order.
    """

    ui_color = "#ffe4e4"

    def __init__(self, *, state_objects: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state_objects = state_objects

    def execute(self, context) -> None:
        self.check_account()
        own_state = state_object_key(self.workspace, self.state_key)
        # Nothing to destroy, and maybe nothing to resolve the step's references from: its upstream steps may be
        # destroyed already (a second teardown, or a run that failed before this step's first apply).
        if not holds_resources(self.profile, own_state):
            self.log.info("no resources in s3://%s/%s: %s was never applied or is destroyed already, nothing to "
                          "destroy", self.profile.state_bucket, own_state, self.step)
            return
        variables = self.resolve_references(
            self.variables_for_run(), context, output_sources={}, state_objects=self.state_objects
        )
        self.run_terraform(context, variables, f"{self.step}-destroy", lambda hook, var_files: hook.destroy(var_files))
