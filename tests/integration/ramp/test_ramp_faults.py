"""Faults in a running ramp's load generator: the ramp's task killed outright, one Locust worker killed.

The ramp task runs in a process of its own, as the ramp operator runs it in an Airflow worker: `open_rig` starts a
Locust master and its workers (include/locust/shop.py) against the app, `run_ramp` drives them with the
controller on the system clock, checkpointing to a file, and `rig.close()` in a `finally`. The app is the
stand-in target of tests/integration/locust (it counts each request's arrival time), so the test reads the
traffic where it lands.

- SIGKILL skips every drain and `finally`: nobody is left to stop the load. The rate lease does: the master gets
  no renewal, drops the rate to 0 within the lease (LocustDriver's default, 20 s) and, as a master the ramp
  started, quits, its workers with it. Without the lease the load goes on at the last rate (checked by hand
  with `LocustDriver`'s lease off: this test then fails on the traffic).
- A worker killed (one of two) is seen at the driver's next tick (its process is gone): the ramp drains, closes
  its rig and fails with an error naming the worker; nothing is left running.

The test's own clean-up (the ramp process, any Locust process of the run directory, the target) only runs after
the assertions and is a safety net.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import standin

from loadstack.locust.cluster import LocustCluster
from loadstack.locust.driver import LEASE_S

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


Target, locust_pids, last_arrival_gap = standin.Target, standin.locust_pids, standin.last_arrival_gap
# Seconds beyond the lease for the master's next lease check (0.5 s), its shape tick (1 s), users stopping and
# requests under way, and a loaded 2-core machine.
MARGIN_S = 10.0

# The ramp task, as the ramp operator runs it (loadstack.airflow.operators.ramp), without Airflow around it.
RAMP = """
import json, os, sys, traceback
from pathlib import Path
from loadstack.ramp.clock import SystemClock
from loadstack.ramp.controller import RampController
from loadstack.ramp.params import RampParams
from loadstack.ramp.runner import run_ramp
from loadstack.ramp_rig import open_rig

run_dir, target_url, workers, checkpoint_path = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
params = RampParams(target_qps=40, threshold_qps=6, bucket_qps=3, bucket_group=10, group_interval_s=3,
                    bucket_interval_s=3, hold_s=600, max_staleness_s=30, no_data_limit_s=60)
controller = RampController(params)

def checkpoint(state):
    partial = checkpoint_path.with_suffix(".partial")
    partial.write_text(json.dumps(state))
    os.replace(partial, checkpoint_path)

rig = open_rig(run_dir=run_dir, project_root=Path.cwd(), target_url=target_url,
               load={"locustfile": "include/locust/shop.py", "workers": workers},
               metrics={"source": "locust", "window_s": 4})
print("RIG " + json.dumps({"url": rig.driver.url}), flush=True)
try:
    outcome = run_ramp(controller, rig.driver, rig.source, None, SystemClock(), checkpoint, 1.0, log=print)
    print("RESULT " + json.dumps(outcome.to_json()), flush=True)
except BaseException as error:
    print("ERROR " + json.dumps({"type": type(error).__name__, "message": str(error)}), flush=True)
    raise
finally:
    rig.close()
"""


@pytest.fixture
def target(tmp_path):
    with standin.started_standin(tmp_path / "target") as found:
        yield found


class RampTask:
    """The ramp task in a process of its own; its output in `log`."""

    def __init__(self, tmp_path: Path, target_url: str, workers: int) -> None:
        self.run_dir = tmp_path / "ramp"
        self.checkpoint = tmp_path / "checkpoint.json"
        self.log = tmp_path / "ramp-task.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins")}
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", RAMP, str(self.run_dir), target_url, str(workers), str(self.checkpoint)],
                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env,
            )

    def output(self) -> str:
        return self.log.read_text()

    def state(self) -> dict | None:
        try:
            return json.loads(self.checkpoint.read_text())
        except (OSError, ValueError):
            return None

    def wait_for_first_stage(self, target: Target, timeout: float = 90.0) -> dict:
        """Until the ramp has reached its first stage and the target sees its traffic; returns the state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the ramp task ended early:\n{self.output()[-4000:]}"
            state = self.state()
            if state and any(d["action"] == "stage_reached" for d in state["timeline"]["decisions"]):
                if target.arrived(time.time() - 2) > 20:
                    return state
            time.sleep(0.5)
        raise AssertionError(f"the ramp did not reach its first stage in {timeout} s:\n{self.output()[-4000:]}")

    def clean_up(self) -> None:
        """Safety net: whatever the assertions found, leave nothing running."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        LocustCluster(run_dir=self.run_dir, target_url=None, workers=2).stop()
        for pid in locust_pids(self.run_dir):
            os.kill(pid, signal.SIGKILL)


def test_a_ramp_task_killed_outright_leaves_no_load_and_no_process_behind(target, tmp_path):
    ramp = RampTask(tmp_path, target.url, workers=1)
    try:
        ramp.wait_for_first_stage(target)
        pids = locust_pids(ramp.run_dir)
        assert len(pids) == 2, pids  # the master and its worker
        ramp.process.send_signal(signal.SIGKILL)  # no drain, no finally: the task is simply gone
        ramp.process.wait(timeout=10)
        killed_at = time.time()
        assert target.arrived(killed_at - 3) > 20  # the load went on after the kill

        # The lease (renewed every third of it) runs out at most LEASE_S after the kill: the load stops...
        quiet_from = last_arrival_gap(target, quiet_s=3.0, timeout=LEASE_S + MARGIN_S)
        assert quiet_from - killed_at <= LEASE_S + MARGIN_S
        # ...and stays stopped.
        time.sleep(3)
        assert target.arrived(quiet_from) == 0

        # The master the ramp started quits on its own, and its worker with it: no one stopped them.
        deadline = time.monotonic() + max(5.0, killed_at + LEASE_S + MARGIN_S - time.time())
        while locust_pids(ramp.run_dir) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert locust_pids(ramp.run_dir) == [], (ramp.run_dir / "master.log").read_text()[-3000:]
        master_log = (ramp.run_dir / "master.log").read_text()
        assert "rate lease expired: no renewal from the ramp in 20 s; load stopped" in master_log
    finally:
        ramp.clean_up()
    assert locust_pids(ramp.run_dir) == []


def test_a_killed_locust_worker_drains_the_ramp_and_fails_it_naming_the_worker(target, tmp_path):
    ramp = RampTask(tmp_path, target.url, workers=2)
    try:
        ramp.wait_for_first_stage(target)
        assert len(locust_pids(ramp.run_dir)) == 3  # the master and two workers
        worker = LocustCluster(run_dir=ramp.run_dir, target_url=None, workers=2).worker_process(1)
        pid = worker.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed_at = time.time()

        ramp.process.wait(timeout=60)  # the next tick sees it: the ramp drains, closes its rig and fails
        ended_at = time.time()
        output = ramp.output()
        assert ramp.process.returncode != 0, output[-4000:]
        errors = [json.loads(line.removeprefix("ERROR ")) for line in output.splitlines() if line.startswith("ERROR ")]
        assert errors and errors[-1]["type"] == "WorkerLost", output[-4000:]
        assert f"lost Locust worker 1 (PID {pid}, exited" in errors[-1]["message"], errors
        assert ended_at - killed_at < 30, output[-4000:]

        # Drained and stopped: no traffic, no Locust process (the ramp's own close did it).
        assert locust_pids(ramp.run_dir) == []
        quiet_from = last_arrival_gap(target, quiet_s=2.0, timeout=10)
        assert quiet_from - ended_at < 5
    finally:
        ramp.clean_up()
    assert locust_pids(ramp.run_dir) == []
