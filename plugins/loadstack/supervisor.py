"""The processes loadstack starts and stops by PID: starting them detached, knowing them again, stopping them.

Every server loadstack runs (MariaDB, Redis; later the application under test, Locust, HAProxy,
Prometheus) outlives the task that started it, so a later task, another process or a cleanup
script finds it again through a PID file alone and stops it by that PID. A `SupervisedProcess`
holds what that takes: the PID file, how to tell that a PID is still *ours* (a PID file may outlive
its process and name a recycled PID, which must never be signalled), starting detached, waiting
until ready, and stopping with SIGTERM, then SIGKILL.

PID 1 in these containers does not reap orphans, so an exited server may linger as a zombie: it
answers kill(0) but is gone for every purpose here.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

LOOPBACK = "127.0.0.1"
# Linux truncates a process's `comm` (its name in /proc/<pid>/stat) to 15 characters.
_COMM_LENGTH = 15
_DELETED = " (deleted)"


class SupervisorError(RuntimeError):
    """A supervised process could not be started, got no ready, or could not be stopped."""


class NotReady(Exception):
    """Raised by a readiness probe while the process is not ready yet; the message says what it saw."""


def pid_alive(pid: int) -> bool:
    """True while `pid` is a live process; reaps it if it is our exited child (no zombies)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass  # not our child: another process started it
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return False  # a zombie whose parent has not reaped it yet: the server is gone
    except (OSError, IndexError):
        pass  # no procfs: os.kill below decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on at the time of asking."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _executable_names(executable: str) -> frozenset[str]:
    """The names a process started from `executable` may show: its own and its symlink target's.

    Debian's redis-server, for one, is a symlink to redis-check-rdb, which /proc/<pid>/exe names.
    """
    names = {Path(executable).name}
    found = shutil.which(executable)
    if found is not None:
        names.add(Path(os.path.realpath(found)).name)
    return frozenset(names)


class SupervisedProcess:
    """One detached process known by its PID file, its executable and a marker of its own.

    `executable`: the program's name or path (a recycled PID almost never runs the same program).
    `marker_arg`: an argument only our process has on its command line (e.g. its config path).
    `cwd`: the directory only our process works in (for programs that rewrite their command line,
    such as redis-server). Give at least one of the two markers.
    `output_path`: the file that receives the process's stdout and stderr.
    `logs`: further log files the process writes itself; `log_tail` shows them before the output.
    `error`: the exception type raised (a server module passes its own, e.g. MariaDBError).
    """

    def __init__(
        self,
        *,
        name: str,
        pid_path: Path,
        executable: str,
        output_path: Path,
        marker_arg: str | None = None,
        cwd: Path | None = None,
        logs: Sequence[Path] = (),
        error: type[Exception] = SupervisorError,
    ) -> None:
        if marker_arg is None and cwd is None:
            raise ValueError(f"{name}: give marker_arg or cwd, or a recycled PID running {executable} would count as ours")
        self.name = name
        self.pid_path = Path(pid_path)
        self.executable = executable
        self.output_path = Path(output_path)
        self.marker_arg = marker_arg
        self.cwd = Path(cwd) if cwd is not None else None
        self.logs = tuple(Path(p) for p in logs)
        self.error = error
        self._names = _executable_names(executable)
        self._child: subprocess.Popen | None = None

    def __repr__(self) -> str:
        return f"SupervisedProcess({self.name!r}, pid_path={str(self.pid_path)!r})"

    # --- the PID file -----------------------------------------------------------------------
    def read_pid_file(self) -> int | None:
        """The PID in the file, or None. Servers rewrite their PID file (truncate, then write) at
        start-up: an empty read may be that moment, so it looks again for up to half a second."""
        for _ in range(50):
            try:
                text = self.pid_path.read_text().strip()
            except FileNotFoundError:
                return None
            if text:
                try:
                    return int(text)
                except ValueError:
                    return None
            time.sleep(0.01)
        return None

    def write_pid_file(self, pid: int) -> None:
        """Replace the PID file atomically: a reader sees the old content or the new, never a part."""
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.pid_path.with_name(f".{self.pid_path.name}.{os.getpid()}")
        tmp.write_text(f"{pid}\n")
        tmp.replace(self.pid_path)

    # --- is it ours -------------------------------------------------------------------------
    def is_ours(self, pid: int) -> bool:
        """Alive (not a zombie), running our executable, and carrying our marker."""
        if self._child is not None and self._child.pid == pid and self._child.poll() is not None:
            return False  # our own child has exited (poll reaped it)
        if not pid_alive(pid):
            return False
        proc = Path(f"/proc/{pid}")
        if not Path("/proc/self").exists():
            return True  # no procfs (not Linux): the PID file and liveness are all there is
        try:
            comm = (proc / "stat").read_text().partition(" (")[2].rpartition(") ")[0]
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            return False
        if not cmdline:
            # A process in its final exit has dropped its memory, command line and cwd; until it is
            # gone it may still hold its files and port, so one with our name counts as ours.
            return self._has_our_name(comm)
        if not (self._has_our_name(comm) or self._runs_our_executable(proc)):
            return False
        if self.marker_arg is not None and self.marker_arg.encode() not in cmdline.split(b"\0"):
            return False
        if self.cwd is not None:
            try:
                cwd = Path(os.readlink(proc / "cwd").removesuffix(_DELETED))
            except PermissionError:
                return True  # another user's process: its name had to do
            except OSError:
                return False
            if cwd != self.cwd:
                return False
        return True

    def _has_our_name(self, comm: str) -> bool:
        return any(comm == name[:_COMM_LENGTH] for name in self._names)

    def _runs_our_executable(self, proc: Path) -> bool:
        try:
            executable = os.readlink(proc / "exe").removesuffix(_DELETED)
        except OSError:
            return False
        return Path(executable).name in self._names

    def pid(self) -> int | None:
        """The PID of our running process, or None."""
        pid = self.read_pid_file()
        if pid is None and self._child is not None and self._child.poll() is None:
            pid = self._child.pid  # started here, and its PID file is being rewritten right now
        return pid if pid is not None and self.is_ours(pid) else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the running process has used so far; None when it is not running."""
        pid = self.pid()
        if pid is None:
            return None
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        # Fields after the command name (which may hold spaces, inside parentheses): utime is the 14th
        # field of the line, stime the 15th, in clock ticks.
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    # --- lifecycle --------------------------------------------------------------------------
    def start(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> int:
        """Start `argv` detached and return its PID; if ours already runs, return that PID instead.

        Detached: a session of its own (a signal to the starting task's process group must not
        reach it), stdin from /dev/null, stdout and stderr appended to `output_path`, no inherited
        file descriptors. Runs in `cwd` when one is given. Does not wait: see `wait_ready`.
        """
        running = self.pid()
        if running is not None:
            return running
        self.pid_path.unlink(missing_ok=True)  # stale: its process is gone or is not ours
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        with self.output_path.open("ab") as output:
            try:
                self._child = subprocess.Popen(
                    list(argv),
                    cwd=self.cwd,
                    env=None if env is None else dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as exc:
                raise self.error(f"{self.name}: cannot run {argv[0]}: {exc}") from exc
        # Servers write the same PID themselves once they are up; writing it now lets another
        # process find this one (and stop it) during start-up.
        self.write_pid_file(self._child.pid)
        return self._child.pid

    def wait_ready(self, probe: Callable[[], object], timeout: float, *, interval: float = 0.02) -> float:
        """Call `probe` until it returns (it raises `NotReady` while not ready); returns the seconds waited.

        Fails at once, with the log tail, when the process is not running (it exited during
        start-up); other exceptions from `probe` pass through.
        """
        started = time.monotonic()
        deadline = started + timeout
        last = "no answer yet"
        while True:
            if not self.is_running():
                raise self.error(f"{self.name} is not running (it exited or never started); log tail:\n{self.log_tail()}")
            try:
                probe()
                return time.monotonic() - started
            except NotReady as not_ready:
                last = str(not_ready) or last
            if time.monotonic() > deadline:
                raise self.error(f"{self.name} not ready after {timeout:.0f} s ({last}); log tail:\n{self.log_tail()}")
            time.sleep(interval)

    def stop(
        self,
        timeout: float = 30,
        *,
        kill_timeout: float = 10,
        before_term: Callable[[int, float], None] | None = None,
    ) -> bool:
        """SIGTERM by PID, wait up to `timeout`, then SIGKILL; False if it was not running.

        `before_term(pid, deadline)` runs first, for a process that must not get SIGTERM in some
        state (it may wait, until the `time.monotonic()` deadline at most). The PID file is
        removed once the process is gone. Only ever signals a PID that `is_ours`.
        """
        pid = self.pid()
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            return False
        deadline = time.monotonic() + timeout
        if before_term is not None:
            before_term(pid, deadline)
        if time.monotonic() < deadline and self._signal(pid, signal.SIGTERM):
            self.wait_gone(pid, deadline - time.monotonic())
        if self.is_ours(pid):
            self._signal(pid, signal.SIGKILL)
            if not self.wait_gone(pid, kill_timeout):
                raise self.error(f"{self.name} (pid {pid}) survived SIGKILL for {kill_timeout:.0f} s")
        self.pid_path.unlink(missing_ok=True)
        self._child = None
        return True

    def _signal(self, pid: int, signum: signal.Signals) -> bool:
        if not self.is_ours(pid):
            return False
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return False
        return True

    def wait_gone(self, pid: int, timeout: float) -> bool:
        """Wait until `pid` is no longer our process; False if it still is after `timeout`."""
        deadline = time.monotonic() + timeout
        while self.is_ours(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def log_tail(self, lines: int = 25) -> str:
        """The last `lines` of each log file that exists, each under a ``--- <name>`` header."""
        chunks = []
        for path in (*self.logs, self.output_path):
            try:
                text = path.read_text(errors="replace").splitlines()[-lines:]
            except FileNotFoundError:
                continue
            chunks.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(chunks) or "(no log yet)"
