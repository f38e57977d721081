"""python-terraform 0.10.1 (2019) against Terraform 1.11: every workaround lives here.

What is mended, and why:
- `cmd` runs with the environment given here (the profile's), not a copy of `os.environ`; streams
  stdout line by line to a callback (Terraform's `-json` UI messages); and never leaks the
  `synchronous` keyword onto the command line as upstream's `-synchronous=false`.
- The default options add `-var-file=<tmp>` for the (empty) default variables on every command, a
  temp file outside our control that would also hold variables in clear text; and a saved plan
  refuses any variables ("Can't set variables when applying a saved plan"). Variables go only
  through our own var files, only to `plan` and `destroy`.
- `destroy()` passes `-force`, removed in Terraform 0.15: we pass `-auto-approve`.
- `output("name")` raises TypeError: we read all outputs with `output -json` and index them.
- `apply(dir)` is rejected by Terraform 1.x: we apply a saved plan file, in `working_dir`.
- `workspace select` cannot create: we pass `-or-create=true` (Terraform >= 1.4).

And each Terraform process runs in a session, so a process group, of its own (ProcessGroup): its provider plugins
(terraform-provider-aws, some 500 MB each) and local-exec children are in that group, and can outlive a Terraform
killed by a signal. When Terraform dies by a signal, or its caller is interrupted while it runs (an exception,
KeyboardInterrupt or SystemExit passing through; `stop()` from another thread or a signal handler: an Airflow
task's on_kill), the group is ended: Terraform gets SIGTERM first, alone (it stops its providers and provisioners,
writes its state and releases its state lock; a provider plugin dies at once on SIGTERM, so the group does not get
it yet), then what is left of the group gets SIGTERM, and SIGKILL after a short grace. The group is signalled only
while Terraform is not reaped and only if its ID is Terraform's PID: until then no other process can have that PID,
so no other group that ID.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

from python_terraform import IsFlagged, IsNotFlagged, Terraform

LineSink = Callable[[str], None]
# Told the PID of each Terraform process as it starts (the state lock's holder, loadstack.terraform.state_lock).
StartHook = Callable[[int], None]
# How long Terraform has to end after SIGTERM (and its group after that) before SIGKILL to what is left: so that it
# all happens within the 5 s Airflow's task supervisor leaves a task between its own SIGTERM and SIGKILL.
STOP_GRACE_S = 3.0
# The least time the rest of the group has between its SIGTERM and SIGKILL.
LEFTOVER_GRACE_S = 0.5
# After SIGKILL, how long to wait for the group's processes to be gone.
KILL_WAIT_S = 5.0


class ProcessGroup:
    """A Terraform process started in a session of its own, and the process group it leads (its plugins and
    local-exec children). Signals go to it only while the leader is not reaped (`reap()`): until then the leader's
    PID, the group's ID, cannot be another process's."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.pid = proc.pid
        # Reentrant: stop() may run in a signal handler on the very thread that holds it.
        self._lock = threading.RLock()
        self._reaped = False

    def _leads_group(self) -> bool:
        try:
            return os.getpgid(self.pid) == self.pid
        except ProcessLookupError:
            return False

    def leader_running(self) -> bool:
        with self._lock:
            if self._reaped:
                return False
            try:
                return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
            except ChildProcessError:
                return False

    def signal_leader(self, signum: int) -> bool:
        """Send `signum` to Terraform alone; whether it was sent."""
        with self._lock:
            if self._reaped:
                return False
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                return False
            return True

    def signal(self, signum: int) -> bool:
        """Send `signum` to the whole group, if it still is the one Terraform leads; whether it was sent."""
        with self._lock:
            if self._reaped or not self._leads_group():
                return False
            try:
                os.killpg(self.pid, signum)
            except (ProcessLookupError, PermissionError):
                return False
            return True

    def members(self) -> list[int]:
        """The group's processes still running (an exited, unreaped one, the leader included, is not)."""
        try:
            entries = list(Path("/proc").iterdir())
        except OSError:  # no /proc: only the leader can be followed
            return [self.pid] if self.leader_running() else []
        found = []
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[-1].split()  # state, ppid, pgrp, ...
            if len(fields) > 2 and fields[2] == str(self.pid) and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
        return found

    def wait_leader(self) -> os.waitid_result:
        """Wait for Terraform to end, leaving it unreaped (the zombie keeps its PID, the group's ID, taken)."""
        return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)

    def _wait(self, running: Callable[[], object], deadline: float) -> bool:
        """Poll until `running()` is falsy (True) or the deadline passes (False)."""
        while running():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self, grace: float = STOP_GRACE_S) -> bool:
        """End Terraform and its group: SIGTERM to Terraform, if it runs, and up to `grace` seconds for it to end;
        then SIGTERM to what is left of the group, SIGKILL after the rest of `grace` (LEFTOVER_GRACE_S at least).
        Returns once the group is gone (or KILL_WAIT_S after SIGKILL); False if it was no longer Terraform's."""
        with self._lock:
            if self._reaped or not self._leads_group():
                return False
        deadline = time.monotonic() + grace
        if self.leader_running() and self.signal_leader(signal.SIGTERM):
            self._wait(self.leader_running, deadline)
        if self.members() and self.signal(signal.SIGTERM):
            self._wait(self.members, max(deadline, time.monotonic() + LEFTOVER_GRACE_S))
        if self.members() and self.signal(signal.SIGKILL):
            self._wait(self.members, time.monotonic() + KILL_WAIT_S)
        return True

    def reap(self, timeout: float | None = None) -> int:
        """Terraform's exit status (negative: the signal that ended it); its group is never signalled again."""
        with self._lock:
            self._reaped = True
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # not reaped yet: still Terraform
            return self.proc.wait()


class TerraformError(RuntimeError):
    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        command = " ".join(word for word in self.argv[1:3] if not word.startswith("-"))
        super().__init__(f"terraform {command} failed with exit code {returncode}: {stderr.strip()[-2000:]}")


class Terraform111(Terraform):
    """A python-terraform `Terraform` that is safe to use with Terraform 1.11 in automation."""

    def __init__(
        self,
        *,
        working_dir: str,
        terraform_bin_path: str,
        env: Mapping[str, str],
        on_stdout_line: LineSink | None = None,
        on_start: StartHook | None = None,
    ) -> None:
        super().__init__(working_dir=working_dir, terraform_bin_path=terraform_bin_path, is_env_vars_included=False)
        self.env = dict(env)
        self.on_stdout_line = on_stdout_line
        self.on_start = on_start
        self.stop_grace = STOP_GRACE_S
        self._group: ProcessGroup | None = None

    # Everything goes through here; tests replace `_run` to see the argv without running Terraform.
    def cmd(self, cmd: str, *args, **kwargs) -> tuple[int, str, str]:
        kwargs.pop("synchronous", None)
        kwargs.pop("capture_output", None)
        allowed_exit_codes = kwargs.pop("allowed_exit_codes", (0,))
        argv = self.generate_cmd_string(cmd, *args, **kwargs)
        returncode, out, err = self._run(argv)
        if returncode not in allowed_exit_codes:
            raise TerraformError(argv, returncode, err)
        return returncode, out, err

    def _run(self, argv: list[str]) -> tuple[int, str, str]:
        proc = subprocess.Popen(
            argv,
            cwd=self.working_dir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,  # its own process group: see ProcessGroup
        )
        self._group = group = ProcessGroup(proc)
        lines: list[str] = []
        assert proc.stdout is not None and proc.stderr is not None
        try:
            if self.on_start:
                self.on_start(proc.pid)
            # stderr is small (diagnostics only); read it after stdout closes to keep one thread.
            for line in proc.stdout:
                lines.append(line)
                if self.on_stdout_line:
                    self.on_stdout_line(line.rstrip("\n"))
            err = proc.stderr.read()
            if group.wait_leader().si_code != os.CLD_EXITED:
                group.stop(self.stop_grace)  # killed by a signal: its plugins and children live on
        except BaseException:
            # Interrupted (a failing callback, KeyboardInterrupt, SystemExit, a task timeout): Terraform must not
            # outlive its caller. SIGTERM first, so that it releases its state lock itself.
            group.stop(self.stop_grace)
            group.reap(KILL_WAIT_S)
            raise
        finally:
            self._group = None
            proc.stdout.close()
            proc.stderr.close()
        return group.reap(), "".join(lines), err

    def stop(self) -> bool:
        """End the Terraform process running now, with its process group (see ProcessGroup.stop); from another
        thread, or a signal handler (an Airflow task's on_kill). False when none runs."""
        group = self._group
        return group is not None and group.stop(self.stop_grace)

    def _generate_default_options(self, input_options):
        options = super()._generate_default_options(input_options)
        if not options.get("var"):
            options["var"] = None
        return options

    # --- the commands loadstack uses ----------------------------------------------------------
    def init(self, backend_config: Mapping[str, str], *, lockfile_readonly: bool = True) -> None:  # type: ignore[override]
        """`lockfile_readonly`: a committed lock file is checked, never changed; without one, init must
        be allowed to write it (`-lockfile=readonly` then fails with "lock file is read-only")."""
        super().init(
            backend_config=dict(backend_config), reconfigure=IsFlagged, backend=True,
            lockfile="readonly" if lockfile_readonly else None,
        )

    def select_workspace(self, name: str) -> None:
        self.cmd("workspace select", name, or_create=True)

    def plan(self, *, out: str, var_files: Sequence[str], destroy: bool = False, lock_timeout: str = "120s") -> int:  # type: ignore[override]
        """Returns Terraform's detailed exit code: 0 no changes, 2 changes present."""
        returncode, _, _ = self.cmd(
            "plan",
            input=False,
            no_color=IsFlagged,
            json=IsFlagged,
            detailed_exitcode=IsFlagged,
            destroy=IsFlagged if destroy else None,
            lock_timeout=lock_timeout,
            out=out,
            var_file=list(var_files),
            allowed_exit_codes=(0, 2),
        )
        return returncode

    def apply_plan(self, plan_file: str, lock_timeout: str = "120s") -> None:
        # Upstream apply() always appends -auto-approve=<bool>; a saved plan needs no approval flag.
        self.cmd("apply", plan_file, input=False, no_color=IsFlagged, json=IsFlagged, lock_timeout=lock_timeout)

    def show_plan(self, plan_file: str) -> dict:
        """A saved plan as Terraform's JSON plan representation (`show -json <planfile>`).

        The document carries every planned value, sensitive ones included: it is returned, never
        streamed to the line callback (a log)."""
        _, out, _ = self.cmd("show", plan_file, json=IsFlagged, no_color=IsFlagged)
        return json.loads(out or "{}")

    def apply(self, *args, **kwargs):  # type: ignore[override]
        raise NotImplementedError("loadstack always plans to a file first: use plan(out=...) then apply_plan()")

    def destroy(self, *, var_files: Sequence[str], lock_timeout: str = "120s") -> None:  # type: ignore[override]
        super().destroy(
            force=IsNotFlagged,
            auto_approve=IsFlagged,
            input=False,
            no_color=IsFlagged,
            json=IsFlagged,
            lock_timeout=lock_timeout,
            var_file=list(var_files),
        )

    def force_unlock(self, lock_id: str) -> None:
        """Remove the state lock `lock_id` (Terraform checks that it is the current lock's ID first)."""
        self.cmd("force-unlock", lock_id, force=IsFlagged)

    def outputs(self) -> dict[str, dict]:
        """All outputs as {name: {"value", "type", "sensitive"}} from `terraform output -json`."""
        _, out, _ = self.cmd("output", json=IsFlagged, no_color=IsFlagged)
        return json.loads(out or "{}")

    def output(self, *args, **kwargs):  # type: ignore[override]
        raise NotImplementedError("use outputs(): upstream output(name) is broken with Terraform 1.x")
