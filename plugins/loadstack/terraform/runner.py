"""TerraformRunner: one step's working copy, its S3 remote state and workspace, and the CLI calls on it."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from loadstack import aws_endpoint
from loadstack.profiles import Profile
from loadstack.terraform.compat import Terraform111, TerraformError
from loadstack.terraform.module import OVERRIDE_FILE, module_variables
from loadstack.terraform.progress import TerraformProgress
from loadstack.terraform.s3_backend import LocalStateError, verify_remote_state, write_backend_override
from loadstack.terraform.state import state_object_key
from loadstack.terraform.state_lock import HolderWatch, StateLock
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


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _each_line_to(*sinks):
    """One line sink that feeds every sink given (None: none)."""
    live = [sink for sink in sinks if sink is not None]
    if len(live) <= 1:
        return live[0] if live else None

    def each(line: str) -> None:
        for sink in live:
            sink(line)

    return each


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
        self._state_lock: StateLock | None = None
        self._latest: Terraform111 | None = None  # the one whose process runs now, if any: stop() ends it
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
    def _terraform(self, progress: TerraformProgress | None = None, watch: HolderWatch | None = None) -> Terraform111:
        # Each Terraform process runs in a process group of its own, ended with it (compat.ProcessGroup): when it
        # dies by a signal, when this runner is interrupted (an exception passing through), and on stop().
        self._latest = Terraform111(
            working_dir=str(self.terraform_dir),
            terraform_bin_path=self.profile.terraform_bin,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
                 **self.profile.terraform_env()},
            on_stdout_line=_each_line_to(watch, progress),
            on_start=watch.started if watch is not None else None,
        )
        return self._latest

    def stop(self) -> bool:
        """End the Terraform command running now, if any: SIGTERM to its process group (Terraform releases its
        state lock), SIGKILL to what is left after a short grace. For the task's on_kill: Terraform runs in a
        session of its own, so the SIGTERM Airflow sends the task's process group does not reach it. The running
        command then fails (TerraformStepFailed), in the thread that runs it. Whether a command was running."""
        latest = self._latest
        return latest is not None and latest.stop()

    def _timed(self, phase: str, func, *args, progress: TerraformProgress | None = None, **kwargs):
        started = time.monotonic()
        try:
            return func(*args, **kwargs)
        except TerraformError as exc:
            detail = "; ".join(progress.errors) if progress and progress.errors else exc.stderr.strip()[-2000:]
            if exc.returncode < 0:  # killed: whatever it was doing stopped half-way
                killed = f"terraform {phase} was killed by {_signal_name(-exc.returncode)}"
                raise TerraformStepFailed(f"{killed}: {detail}" if detail else killed) from None
            # A stopped or restarted moto makes Terraform fail in words that do not say so: ask the endpoint.
            lost = aws_endpoint.problem(self.profile)
            if lost:
                raise TerraformStepFailed(f"terraform {phase} failed: {lost} Terraform said: {detail[:1500]}") from None
            raise TerraformStepFailed(f"terraform {phase} failed (exit {exc.returncode}): {detail}") from None
        finally:
            self.timings[phase] = self.timings.get(phase, 0.0) + time.monotonic() - started

    # --- the state lock -----------------------------------------------------------------------
    @property
    def state_lock(self) -> StateLock:
        if self._state_lock is None:
            raise RuntimeError("init() first: the state (and its lock) is not known yet")
        return self._state_lock

    def _locking(self, phase: str, command: str, *args, progress: TerraformProgress, **kwargs):
        """Run a command that takes the state lock, noting its process as the lock's holder (state_lock): if it
        dies holding the lock (killed), the lock is released at once, so a retry does not wait for it."""
        watch = HolderWatch(self.state_lock, self.terraform_dir, self.log)
        try:
            result = self._timed(phase, getattr(self._terraform(progress, watch), command), *args, progress=progress,
                                 **kwargs)
        except TerraformStepFailed as exc:
            released = self._release_dead_holders_lock() if watch.record is not None else None
            if released:
                raise TerraformStepFailed(f"{exc}; {released}") from None
            raise
        if watch.record is not None:
            self.state_lock.forget_quietly(watch.record, self.log)  # it ended well: Terraform released its lock
        return result

    def _release_dead_holders_lock(self) -> str | None:
        def force_unlock(lock_id: str) -> bool:
            try:
                self._timed("unlock", self._terraform().force_unlock, lock_id)
            except TerraformStepFailed as exc:
                self.log.warning("could not force-unlock %s: %s", self.state_lock.url(), exc)
                return False
            return True

        return self.state_lock.release_if_holder_gone(force_unlock, self.log)

    def init(self, state_key: str, workspace: str) -> None:
        try:
            aws_endpoint.check(self.profile)  # in a second, where Terraform's init would retry, then fail obscurely
        except aws_endpoint.EndpointLost as exc:
            raise TerraformStepFailed(f"terraform init: {exc}") from None
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
        self._state_lock = StateLock(self.profile, state_object_key(workspace, state_key))
        # A lock left by an earlier try whose Terraform was killed would make every command wait, then fail.
        self._release_dead_holders_lock()

    def plan(self, var_files: list[str], *, destroy: bool = False) -> PlanResult:
        progress = TerraformProgress(self.log.info)
        code = self._locking("plan", "plan", out=PLAN_FILE, var_files=var_files, destroy=destroy,
                             lock_timeout=self.lock_timeout, progress=progress)
        return PlanResult(has_changes=code == 2, summary=progress.summary, planned=progress.planned)

    def apply(self) -> int:
        progress = TerraformProgress(self.log.info, show_planned=False)
        self._locking("apply", "apply_plan", PLAN_FILE, lock_timeout=self.lock_timeout, progress=progress)
        return progress.applied

    def show_plan(self) -> dict[str, Any]:
        """The saved plan (from plan()) as Terraform's JSON plan document; it holds sensitive values."""
        return self._timed("show", self._terraform().show_plan, PLAN_FILE)

    def outputs(self) -> dict[str, dict[str, Any]]:
        return self._timed("output", self._terraform().outputs)

    def destroy(self, var_files: list[str]) -> None:
        progress = TerraformProgress(self.log.info)
        self._locking("destroy", "destroy", var_files=var_files, lock_timeout=self.lock_timeout, progress=progress)
