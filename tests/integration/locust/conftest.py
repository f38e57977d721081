"""A stand-in HTTP target on 127.0.0.1 that counts what arrives, and Locust drivers started against it.

Everything is started through `SupervisedProcess` and stopped by PID at teardown, failures included.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import urllib.request
from pathlib import Path

import pytest

from loadstack.locust.driver import LocustDriver
from loadstack.supervisor import NotReady, SupervisedProcess, free_port

STANDIN = Path(__file__).with_name("standin_target.py")


class Target:
    def __init__(self, url: str) -> None:
        self.url = url

    def counts(self, after: float | None = None, until: float | None = None) -> dict:
        query = "" if after is None else f"?after={after}&until={until}"
        with urllib.request.urlopen(f"{self.url}/_counts{query}", timeout=5) as response:
            return json.loads(response.read())

    def arrived(self, after: float, until: float) -> int:
        """Requests to the app's routes that arrived in (after, until], epoch seconds."""
        return self.counts(after, until)["window"]


@pytest.fixture
def start_standin(tmp_path):
    """start_standin() -> a Target on a free port, stopped by PID at teardown (as many as a test needs)."""
    processes: list[SupervisedProcess] = []

    def start() -> Target:
        run_dir = tmp_path / f"target-{len(processes)}" if processes else tmp_path / "target"
        port = free_port()
        process = SupervisedProcess(
            name="stand-in target",
            pid_path=run_dir / "target.pid",
            executable=sys.executable,
            output_path=run_dir / "target.out",
            marker_arg=str(run_dir),
        )
        processes.append(process)
        target = Target(f"http://127.0.0.1:{port}")

        def answers():
            try:
                urllib.request.urlopen(f"{target.url}/health", timeout=1).read()
            except OSError as exc:
                raise NotReady(str(exc)) from None

        process.start([sys.executable, str(STANDIN), "--port", str(port), "--run-dir", str(run_dir)])
        process.wait_ready(answers, 30)
        return target

    try:
        yield start
    finally:
        for process in processes:
            process.stop()


@pytest.fixture
def standin_target(start_standin):
    return start_standin()


@pytest.fixture
def start_driver(tmp_path):
    """start_driver(target_url, workers=1) -> a LocustDriver that owns its master and workers."""
    drivers: list[LocustDriver] = []

    def start(target_url: str, *, workers: int = 1) -> LocustDriver:
        driver = LocustDriver.start(run_dir=tmp_path / f"locust-{len(drivers)}", target_url=target_url, workers=workers)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        try:
            driver.close()
        finally:
            driver.cluster.stop()  # by PID, even when draining failed


# --- the real application under test ---------------------------------------------------------------
def _load_app_fixtures():
    """The app's own integration fixtures (tests/integration/app/conftest.py: seeded MariaDB, restored
    Redis, secrets in moto, `python -m shopapp` by PID), reused rather than written twice."""
    path = Path(__file__).resolve().parents[1] / "app" / "conftest.py"
    spec = importlib.util.spec_from_file_location("loadstack_tests_locust_app_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_app = _load_app_fixtures()
shop_cache = _app.shop_cache
app_env = _app.app_env
app_processes = _app.app_processes
start_app = _app.start_app
