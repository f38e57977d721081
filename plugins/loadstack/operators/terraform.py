"""TerraformApplyOperator: init → workspace → plan to a file → apply that plan (only if it changes anything)."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from loadstack.hooks.terraform import TerraformHook, state_object_key
from loadstack.operators.outputs import OutputResolver, publishable_outputs
from loadstack.profiles import Profile, load_profile
from loadstack.refs import resolve


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:120]


class TerraformApplyOperator(BaseOperator):
    """Bring one step's module to the spec'd state and publish its outputs to XCom."""

    template_fields = ("variables", "variant_variables", "variant")
    ui_color = "#ede4ff"

    def __init__(
        self,
        *,
        stack: str,
        step: str,
        module_dir: str,
        workspace: str,
        state_key: str,
        variables: dict[str, Any],
        variant: str,
        output_sources: dict[str, str],
        variant_variables: dict[str, dict[str, Any]] | None = None,
        stack_owner: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.variant_variables = variant_variables or {}
        self.stack = stack
        self.step = step
        self.module_dir = module_dir
        self.workspace = workspace
        self.state_key = state_key
        self.variables = variables
        self.variant = variant
        self.output_sources = output_sources
        self.stack_owner = stack_owner

    @cached_property
    def profile(self) -> Profile:
        return load_profile()

    def working_dir(self, context) -> Path:
        run_id = context["run_id"] if "run_id" in context else context["dag_run"].run_id
        return self.profile.work_dir / self.stack / _slug(run_id) / self.step

    def execute(self, context) -> dict[str, Any]:
        if self.profile.allowed_account_ids:
            account = self.profile.verify_account()
            self.log.info("profile %s, account %s, region %s", self.profile.name, account, self.profile.region)
        resolver = OutputResolver(
            context=context,
            profile=self.profile,
            stack_fields={"name": self.stack, "owner": self.stack_owner, "variant": self.variant},
            output_sources=self.output_sources,
        )
        if self.variant not in ("minimal", "production"):
            raise ValueError(f"variant {self.variant!r}: choose minimal or production")
        variables = resolve({**self.variables, **self.variant_variables.get(self.variant, {})}, resolver)
        hook = TerraformHook(profile=self.profile, working_dir=self.working_dir(context), logger=self.log)
        succeeded = False
        try:
            var_files = hook.prepare(Path(self.module_dir), self.variant, variables)
            hook.init(self.state_key, self.workspace)
            plan = hook.plan(var_files)
            if plan.has_changes:
                hook.apply()
            else:
                self.log.info("no changes: %s already matches the spec, apply skipped", self.workspace)
            outputs = publishable_outputs(hook.outputs(), state_object_key(self.workspace, self.state_key))
            succeeded = True
        finally:
            hook.cleanup(keep_working_dir=not succeeded)
            self.log.info("terraform timings: %s", ", ".join(f"{k} {v:.1f}s" for k, v in hook.timings.items()))
        context["ti"].xcom_push(key="changed", value=plan.has_changes)
        return outputs


class TerraformDestroyOperator(BaseOperator):
    """Destroy one step's resources (teardown); the workspace's state stays, empty.

    Terraform needs the step's input variables to destroy; references to upstream steps are read
    from their remote state, which still exists because teardown runs in reverse dependency order.
    """

    template_fields = ("variables", "variant_variables", "variant")
    ui_color = "#ffe4e4"

    def __init__(
        self,
        *,
        stack: str,
        step: str,
        module_dir: str,
        workspace: str,
        state_key: str,
        variant: str,
        variables: dict[str, Any],
        state_objects: dict[str, str],
        variant_variables: dict[str, dict[str, Any]] | None = None,
        stack_owner: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.stack = stack
        self.step = step
        self.module_dir = module_dir
        self.workspace = workspace
        self.state_key = state_key
        self.variant = variant
        self.variables = variables
        self.variant_variables = variant_variables or {}
        self.state_objects = state_objects
        self.stack_owner = stack_owner

    @cached_property
    def profile(self) -> Profile:
        return load_profile()

    def execute(self, context) -> None:
        if self.profile.allowed_account_ids:
            self.profile.verify_account()
        resolver = OutputResolver(
            context=context,
            profile=self.profile,
            stack_fields={"name": self.stack, "owner": self.stack_owner, "variant": self.variant},
            output_sources={},
            state_objects=self.state_objects,
        )
        variables = resolve({**self.variables, **self.variant_variables.get(self.variant, {})}, resolver)
        run_id = context["dag_run"].run_id
        hook = TerraformHook(
            profile=self.profile,
            working_dir=self.profile.work_dir / self.stack / _slug(run_id) / f"{self.step}-destroy",
            logger=self.log,
        )
        succeeded = False
        try:
            var_files = hook.prepare(Path(self.module_dir), self.variant, variables)
            hook.init(self.state_key, self.workspace)
            hook.destroy(var_files)
            succeeded = True
        finally:
            hook.cleanup(keep_working_dir=not succeeded)
