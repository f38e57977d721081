"""The stand-in target (standin_target.py) seen from a fault test: where the load lands, and the Locust left running.

`import standin` (tests/helpers is on pytest's pythonpath). `started_standin(run_dir)` starts the target on
127.0.0.1 and stops it by PID on exit.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loadstack.supervisor import NotReady, SupervisedProcess, free_port

STANDIN = Path(__file__).resolve().parents[1] / "integration" / "locust" / "standin_target.py"


class Target:
    def __init__(self, url: str) -> None:
        self.url = url

    def arrived(self, after: float, until: float = float("inf")) -> int:
        """Requests to the app's routes that arrived in (after, until], epoch seconds."""
        query = f"?after={after}" + ("" if until == float("inf") else f"&until={until}")
        with urllib.request.urlopen(f"{self.url}/_counts{query}", timeout=5) as response:
            return json.loads(response.read())["window"]


@contextmanager
def started_standin(run_dir: Path) -> Iterator[Target]:
    port = free_port()
    process = SupervisedProcess(
        name="stand-in target", pid_path=run_dir / "target.pid", executable=sys.executable,
        output_path=run_dir / "target.out", marker_arg=str(run_dir),
    )
    found = Target(f"http://127.0.0.1:{port}")

    def answers() -> None:
        try:
            urllib.request.urlopen(f"{found.url}/health", timeout=1).read()
        except OSError as exc:
            raise NotReady(str(exc)) from None

    try:
        process.start([sys.executable, str(STANDIN), "--port", str(port), "--run-dir", str(run_dir)])
        process.wait_ready(answers, 30)
        yield found
    finally:
        process.stop()


def locust_pids(marker: Path) -> list[int]:
    """Running Locust processes with `marker` (a run directory: their log paths are on their command lines)."""
    needle = str(marker).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and any(os.path.basename(part) == b"locust" for part in cmdline[:2]) and any(
            needle in p for p in cmdline
        ):
            found.append(int(proc.name))
    return found


def last_arrival_gap(target: Target, quiet_s: float, timeout: float) -> float:
    """Wait until no request arrived for `quiet_s` seconds; returns the time that quiet span began (epoch),
    or raises if traffic still flows after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = time.time()
        if target.arrived(now - quiet_s) == 0:
            return now - quiet_s
        time.sleep(0.5)
    raise AssertionError(f"requests still arrive {timeout:.0f} s later: {target.arrived(time.time() - 5)} in the last 5 s")
