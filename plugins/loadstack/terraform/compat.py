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
"""

from __future__ import annotations

import json
import subprocess
from typing import Callable, Mapping, Sequence

from python_terraform import IsFlagged, IsNotFlagged, Terraform

LineSink = Callable[[str], None]


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
    ) -> None:
        super().__init__(working_dir=working_dir, terraform_bin_path=terraform_bin_path, is_env_vars_included=False)
        self.env = dict(env)
        self.on_stdout_line = on_stdout_line

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
        )
        lines: list[str] = []
        assert proc.stdout is not None and proc.stderr is not None
        # stderr is small (diagnostics only); read it after stdout closes to keep one thread.
        for line in proc.stdout:
            lines.append(line)
            if self.on_stdout_line:
                self.on_stdout_line(line.rstrip("\n"))
        err = proc.stderr.read()
        return proc.wait(), "".join(lines), err

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

    def outputs(self) -> dict[str, dict]:
        """All outputs as {name: {"value", "type", "sensitive"}} from `terraform output -json`."""
        _, out, _ = self.cmd("output", json=IsFlagged, no_color=IsFlagged)
        return json.loads(out or "{}")

    def output(self, *args, **kwargs):  # type: ignore[override]
        raise NotImplementedError("use outputs(): upstream output(name) is broken with Terraform 1.x")
