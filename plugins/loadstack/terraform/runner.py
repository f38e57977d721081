"""TerraformRunner: one step's working copy, its S3 remote state and workspace, and the CLI calls on it."""

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
from loadstack.terraform.module import OVERRIDE_FILE, module_variables
from loadstack.terraform.progress import TerraformProgress
from loadstack.terraform.s3_backend import LocalStateError, verify_remote_state, write_backend_override
from loadstack.terraform.working_copy import (
    PLAN_FILE,
    VARS_FILE,
    copy_modules_root,
    has_committed_lock,
)

__all__ = ["OVERRIDE_FILE", "PLAN_FILE", "VARS_FILE", "PlanResult", "TerraformRunner", "TerraformStepFailed"]


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
        self._terraform_dir: Path | None = None
        self.committed_lock = True

    # --- working copy -------------------------------------------------------------------------
    @property
    def terraform_dir(self) -> Path:
        """Where Terraform runs: the step's module inside the working copy (set by prepare())."""
        if self._terraform_dir is None:
            raise RuntimeError("prepare() first: there is no working copy yet")
        return self._terraform_dir

    def prepare(
        self, module_dir: Path, variant: str, variables: Mapping[str, Any], *, modules_root: Path | None = None
    ) -> list[str]:
        """Fresh copy of the modules root (so `../` module sources resolve), our provider and backend
        overrides and var file in the step's module; returns the -var-file list.

        `modules_root` is include/terraform (the spec's modules dir); by default the module's parent.
        """
        module_dir = Path(module_dir)
        self._terraform_dir = work = copy_modules_root(modules_root or module_dir.parent, module_dir, self.working_dir)
        self.committed_lock = has_committed_lock(module_dir)
        write_backend_override(work)
        override = self.profile.provider_override()
        if override:
            (work / OVERRIDE_FILE).write_text(json.dumps(override, indent=2))
        declared = module_variables(module_dir)
        forced = {k: v for k, v in self.profile.module_variable_overrides().items() if k in declared}
        if forced:
            self.log.info("profile %s sets %s", self.profile.name, ", ".join(f"{k}={v}" for k, v in forced.items()))
        variables = {**variables, **forced}
        var_files = []
        if (work / f"{variant}.tfvars").is_file():
            var_files.append(f"{variant}.tfvars")
        # Values may be secrets: the file is the user's alone and is removed by cleanup().
        fd = os.open(work / VARS_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(dict(variables), handle, indent=2, sort_keys=True)
        var_files.append(VARS_FILE)
        return var_files

    def cleanup(self, *, keep_working_dir: bool) -> None:
        """Always drop what may hold secrets (var file, plan); keep the rest of a failed copy to inspect."""
        if not keep_working_dir:
            shutil.rmtree(self.working_dir, ignore_errors=True)
            return
        if self._terraform_dir is not None:
            for name in (VARS_FILE, PLAN_FILE):
                (self._terraform_dir / name).unlink(missing_ok=True)

    # --- CLI ----------------------------------------------------------------------------------
    def _terraform(self, progress: TerraformProgress | None = None) -> Terraform111:
        return Terraform111(
            working_dir=str(self.terraform_dir),
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
        if not self.committed_lock:
            # The init resolves providers through the profile's CLI config (the mirror only) and
            # writes the lock file into the disposable working copy, never back into the module.
            self.log.info("the module commits no .terraform.lock.hcl: init records the provider mirror's "
                          "versions in the working copy (commit the generated file to pin them)")
        self._timed("init", tf.init, self.profile.backend_config(state_key), lockfile_readonly=self.committed_lock)
        try:
            verify_remote_state(self.terraform_dir, bucket=self.profile.state_bucket)
        except LocalStateError as exc:
            raise TerraformStepFailed(str(exc)) from None
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

    def show_plan(self) -> dict[str, Any]:
        """The saved plan (from plan()) as Terraform's JSON plan document; it holds sensitive values."""
        return self._timed("show", self._terraform().show_plan, PLAN_FILE)

    def outputs(self) -> dict[str, dict[str, Any]]:
        return self._timed("output", self._terraform().outputs)

    def destroy(self, var_files: list[str]) -> None:
        progress = TerraformProgress(self.log.info)
        self._timed("destroy", self._terraform(progress).destroy, var_files=var_files, lock_timeout=self.lock_timeout,
                    progress=progress)
