"""loadstack.supervisor with real short-lived python children: PID file, ownership, zombies, stop, readiness."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from loadstack.supervisor import (
    NotReady,
    SupervisedProcess,
    SupervisorError,
    free_port,
    pid_alive,
)

# A tiny server: listens on the port it is given, says so on stdout, reports SIGTERM (or ignores it).
SERVER = """\
import signal, socket, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
if mode == "crash":
    print("boom: the configuration is broken", file=sys.stderr, flush=True)
    sys.exit(3)
if mode == "busy":  # burn some CPU before serving
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
def terminated(signum, frame):
    print("got SIGTERM", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "stubborn" else terminated)
sock = socket.socket()
sock.bind(("127.0.0.1", port))
sock.listen()
print(f"listening on {port}", flush=True)
while True:
    time.sleep(1)
"""


def _gone(pid: int) -> bool:
    """No process, or only a zombie left of it (PID 1 here does not reap orphans)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


class Child:
    """The tiny server under a SupervisedProcess of its own directory."""

    def __init__(self, root: Path, name: str = "srv", *, marker: bool = True) -> None:
        self.dir = root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.script = self.dir / "server.py"
        self.script.write_text(SERVER)
        self.port = free_port()
        self.process = SupervisedProcess(
            name=f"test server in {self.dir}",
            pid_path=self.dir / "server.pid",
            executable=sys.executable,
            marker_arg=str(self.script) if marker else None,
            cwd=None if marker else self.dir,
            output_path=self.dir / "server.out",
        )

    def start(self, mode: str = "serve") -> int:
        return self.process.start([sys.executable, str(self.script), str(self.port), mode])

    def probe(self) -> None:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
        except OSError as error:
            raise NotReady(f"port {self.port}: {error}") from error


@pytest.fixture
def children(tmp_path):
    """Makes children; stops every one of them by PID afterwards, whatever the test did."""
    made: list[Child] = []

    def make(name: str = "srv", **kwargs) -> Child:
        child = Child(tmp_path, name, **kwargs)
        made.append(child)
        return child

    yield make
    for child in made:
        pid = child.process.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            child.process.wait_gone(pid, 5)


def test_start_is_detached_idempotent_and_stop_leaves_nothing(children):
    child = children()
    pid = child.start()
    assert child.process.wait_ready(child.probe, 10) >= 0
    assert child.start() == pid  # already running: not a second one
    assert child.process.pid_path.read_text() == f"{pid}\n"
    assert os.getsid(pid) == pid  # a session of its own
    assert f"listening on {child.port}" in child.process.log_tail()
    fds = set(os.listdir(f"/proc/{pid}/fd"))
    assert fds <= {"0", "1", "2", "3"}, fds  # stdio and its socket: nothing inherited

    assert child.process.stop(5) is True
    assert _gone(pid) and not child.process.pid_path.exists() and not child.process.is_running()
    assert "got SIGTERM" in child.process.log_tail()  # a clean stop, not a kill
    assert child.process.stop() is False


def test_a_process_started_elsewhere_is_found_and_stopped_by_its_pid_file(children):
    child = children()
    code = (
        "import sys; from loadstack.supervisor import SupervisedProcess;"
        f"p = SupervisedProcess(name='t', pid_path={str(child.process.pid_path)!r}, executable=sys.executable,"
        f" marker_arg={str(child.script)!r}, output_path={str(child.process.output_path)!r});"
        f"p.start([sys.executable, {str(child.script)!r}, '{child.port}', 'serve'])"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)  # the starting "task" exits
    pid = child.process.pid()
    assert pid is not None and pid_alive(pid)
    assert child.process.stop(5) is True  # not its parent: it is stopped by PID, and no zombie is left
    deadline = time.monotonic() + 5
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _gone(pid)


def test_a_recycled_pid_in_the_pid_file_is_never_signalled(children):
    child = children()
    child.dir.mkdir(exist_ok=True)
    # The same executable without our marker: this very test process (python, other arguments).
    child.process.pid_path.write_text(f"{os.getpid()}\n")
    assert child.process.pid() is None and child.process.stop() is False
    # Another program altogether, working in the directory a cwd-marked process is known by.
    by_cwd = children("by-cwd", marker=False)
    other = subprocess.Popen(["sleep", "30"], cwd=by_cwd.dir)
    try:
        for process in (child.process, by_cwd.process):
            process.pid_path.write_text(f"{other.pid}\n")
            assert process.pid() is None and process.stop() is False
        assert other.poll() is None  # never signalled
    finally:
        other.kill()
        other.wait()
    child.process.pid_path.write_text("1\n")
    assert child.process.pid() is None and child.process.stop() is False
    child.process.pid_path.write_text("not a pid\n")
    assert child.process.pid() is None


def test_the_cwd_marker_tells_two_directories_apart(children):
    first, second = children("a", marker=False), children("b", marker=False)
    pid = first.start()
    first.process.wait_ready(first.probe, 10)
    assert first.process.pid() == pid
    second.process.pid_path.write_text(f"{pid}\n")  # the same program, but working in another directory
    assert second.process.pid() is None and second.process.stop() is False
    assert first.process.stop(5) is True


def test_a_zombie_is_not_running(children, tmp_path):
    # A zombie that is not ours to reap: a helper forks a child that exits, and never waits for it.
    helper = subprocess.Popen(
        [sys.executable, "-c", "import os, sys, time\npid = os.fork()\nif pid == 0: os._exit(0)\n"
         "print(pid, flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        zombie = int(helper.stdout.readline())
        deadline = time.monotonic() + 5
        while not _gone(zombie) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert Path(f"/proc/{zombie}").exists() and _gone(zombie)  # still in the table, as a zombie
        os.kill(zombie, 0)  # which kill(0) still finds
        assert not pid_alive(zombie)
        child = children()
        child.process.pid_path.write_text(f"{zombie}\n")
        assert child.process.pid() is None and child.process.stop() is False
    finally:
        helper.kill()
        helper.wait()


def test_our_own_child_that_died_is_reaped_not_left_a_zombie(children):
    child = children()
    pid = child.start()
    child.process.wait_ready(child.probe, 10)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while child.process.is_running() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not child.process.is_running()
    assert not Path(f"/proc/{pid}").exists()  # reaped, not a zombie


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(children):
    child = children()
    pid = child.start("stubborn")
    child.process.wait_ready(child.probe, 10)
    calls = []
    started = time.monotonic()
    assert child.process.stop(0.5, before_term=lambda p, deadline: calls.append((p, deadline))) is True
    elapsed = time.monotonic() - started
    assert _gone(pid) and 0.5 <= elapsed < 5, elapsed
    assert calls and calls[0][0] == pid and calls[0][1] > started  # the hook ran first, with the deadline


def test_a_hook_that_uses_up_the_timeout_means_no_sigterm(children):
    child = children()
    pid = child.start()
    child.process.wait_ready(child.probe, 10)
    log = child.process.output_path

    def wait_out(pid: int, deadline: float) -> None:
        while time.monotonic() < deadline:
            time.sleep(0.01)

    assert child.process.stop(0.2, before_term=wait_out) is True
    assert _gone(pid) and "got SIGTERM" not in log.read_text()  # killed straight away


def test_readiness_fails_fast_with_the_log_tail_when_the_process_dies(children):
    child = children()
    child.start("crash")
    started = time.monotonic()
    with pytest.raises(SupervisorError, match="(?s)is not running.*--- server.out.*boom: the configuration is broken"):
        child.process.wait_ready(child.probe, 30)
    assert time.monotonic() - started < 10


def test_readiness_times_out_with_what_the_probe_saw(children):
    child = children()
    child.start()

    def never() -> None:
        raise NotReady("still warming up")

    with pytest.raises(SupervisorError, match="(?s)not ready after 0 s \\(still warming up\\).*listening on"):
        child.process.wait_ready(never, 0.3)


def test_errors_are_of_the_type_the_server_module_asks_for(tmp_path):
    class ServerError(SupervisorError):
        pass

    process = SupervisedProcess(name="nothing", pid_path=tmp_path / "x.pid", executable="no-such-program-here",
                                marker_arg="--x", output_path=tmp_path / "x.out", error=ServerError)
    with pytest.raises(ServerError, match="cannot run no-such-program-here"):
        process.start(["no-such-program-here", "--x"])
    with pytest.raises(ValueError, match="marker_arg or cwd"):
        SupervisedProcess(name="n", pid_path=tmp_path / "x.pid", executable="x", output_path=tmp_path / "x.out")


def test_a_pid_file_being_rewritten_is_read_after_the_rewrite(tmp_path):
    process = SupervisedProcess(name="t", pid_path=tmp_path / "t.pid", executable="x", marker_arg="--x",
                                output_path=tmp_path / "t.out")
    process.pid_path.write_text("")  # the server truncated it and is about to write its PID

    def rewrite() -> None:
        time.sleep(0.1)
        process.pid_path.write_text("4242\n")

    writer = threading.Thread(target=rewrite)
    writer.start()
    assert process.read_pid_file() == 4242
    writer.join()
    process.write_pid_file(777)
    assert process.pid_path.read_text() == "777\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.pid"]  # no temporary file left


def test_cpu_seconds_counts_the_running_process_and_is_none_once_it_stopped(children):
    child = children()
    child.start("busy")
    child.process.wait_ready(child.probe, timeout=30)  # it serves once its CPU is burnt
    assert child.process.cpu_seconds() >= 0.25
    child.process.stop(10)
    assert child.process.cpu_seconds() is None


def test_free_port_is_bindable_on_loopback():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
