"""TerraformRunner: one module's working copy, its S3 remote state and workspace, and the CLI calls on it."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from loadstack.profiles import Profile
from loadstack.terraform.compat import Terraform111, TerraformError
from loadstack.terraform.module import module_variables
from loadstack.terraform.progress import TerraformProgress

PLAN_FILE = "tfplan"
VARS_FILE = "loadstack.auto.tfvars.json"
OVERRIDE_FILE = "loadstack_override.tf.json"
_NOT_COPIED = shutil.ignore_patterns(".terraform", "*.tfstate", "*.tfstate.*", PLAN_FILE, VARS_FILE, OVERRIDE_FILE)


@dataclass(frozen=True)
class PlanResult:
    has_changes: bool
    summary: dict[str, int]
    planned: list[tuple[str, str]]


class TerraformStepFailed(RuntimeError):
    pass


class TerraformRunner:
    """Runs Terraform for one step in its own working directory; thin by design."""

    def __init__(
        self, *, profile: Profile, working_dir: Path, logger: logging.Logger | None = None, lock_timeout: str = "120s"
    ) -> None:
        self.profile = profile
        # Another run on the same workspace waits this long for the S3 lock object, then fails.
        self.lock_timeout = lock_timeout
        self.working_dir = Path(working_dir)
        self.log = logger or logging.getLogger(__name__)
        self.timings: dict[str, float] = {}

    # --- working copy -------------------------------------------------------------------------
    def prepare(self, module_dir: Path, variant: str, variables: Mapping[str, Any]) -> list[str]:
        """Fresh copy of the module, our provider override and var file; returns the -var-file list."""
        if self.working_dir.exists():
            shutil.rmtree(self.working_dir)
        self.working_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(module_dir, self.working_dir, ignore=_NOT_COPIED)
        os.chmod(self.working_dir, 0o700)
        override = self.profile.provider_override()
        if override:
            (self.working_dir / OVERRIDE_FILE).write_text(json.dumps(override, indent=2))
        declared = module_variables(module_dir)
        forced = {k: v for k, v in self.profile.module_variable_overrides().items() if k in declared}
        if forced:
            self.log.info("profile %s sets %s", self.profile.name, ", ".join(f"{k}={v}" for k, v in forced.items()))
        variables = {**variables, **forced}
        var_files = []
        if (self.working_dir / f"{variant}.tfvars").is_file():
            var_files.append(f"{variant}.tfvars")
        # Values may be secrets: the file is the user's alone and is removed by cleanup().
        fd = os.open(self.working_dir / VARS_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(dict(variables), handle, indent=2, sort_keys=True)
        var_files.append(VARS_FILE)
        return var_files

    def cleanup(self, *, keep_working_dir: bool) -> None:
        """Always drop what may hold secrets (var file, plan); keep the rest of a failed copy to inspect."""
        if not keep_working_dir:
            shutil.rmtree(self.working_dir, ignore_errors=True)
            return
        for name in (VARS_FILE, PLAN_FILE):
            (self.working_dir / name).unlink(missing_ok=True)

    # --- CLI ----------------------------------------------------------------------------------
    def _terraform(self, progress: TerraformProgress | None = None) -> Terraform111:
        return Terraform111(
            working_dir=str(self.working_dir),
            terraform_bin_path=self.profile.terraform_bin,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
                 **self.profile.terraform_env()},
            on_stdout_line=progress,
        )

    def _timed(self, phase: str, func, *args, progress: TerraformProgress | None = None, **kwargs):
        started = time.monotonic()
        try:
            return func(*args, **kwargs)
        except TerraformError as exc:
            detail = "; ".join(progress.errors) if progress and progress.errors else exc.stderr.strip()[-2000:]
            raise TerraformStepFailed(f"terraform {phase} failed (exit {exc.returncode}): {detail}") from None
        finally:
            self.timings[phase] = self.timings.get(phase, 0.0) + time.monotonic() - started

    def init(self, state_key: str, workspace: str) -> None:
        tf = self._terraform()
        self._timed("init", tf.init, self.profile.backend_config(state_key))
        self._timed("init", tf.select_workspace, workspace)
        self.log.info("initialised backend s3://%s/env:/%s/%s", self.profile.state_bucket, workspace, state_key)

    def plan(self, var_files: list[str], *, destroy: bool = False) -> PlanResult:
        progress = TerraformProgress(self.log.info)
        code = self._timed("plan", self._terraform(progress).plan, out=PLAN_FILE, var_files=var_files,
                           destroy=destroy, lock_timeout=self.lock_timeout, progress=progress)
        return PlanResult(has_changes=code == 2, summary=progress.summary, planned=progress.planned)

    def apply(self) -> int:
        progress = TerraformProgress(self.log.info, show_planned=False)
        self._timed("apply", self._terraform(progress).apply_plan, PLAN_FILE, lock_timeout=self.lock_timeout,
                    progress=progress)
        return progress.applied

    def outputs(self) -> dict[str, dict[str, Any]]:
        return self._timed("output", self._terraform().outputs)

    def destroy(self, var_files: list[str]) -> None:
        progress = TerraformProgress(self.log.info)
        self._timed("destroy", self._terraform(progress).destroy, var_files=var_files, lock_timeout=self.lock_timeout,
                    progress=progress)
