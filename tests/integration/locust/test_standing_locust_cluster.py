"""A standing Locust cluster (a master and two workers, each a process of its own, started by
`python -m loadstack.locust.service up`) serving one ramp after another: each ramp's rig attaches by
`load.master_url`, points the master at its own app, drives an exact rate that both workers share,
drains on close and leaves the cluster running; `down` stops every process by PID."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from loadstack.locust import master_api
from loadstack.locust.cluster import LocustCluster
from loadstack.profiles import PROJECT_ROOT
from loadstack.ramp_rig import RampRigError, open_rig
from loadstack.supervisor import pid_alive

pytestmark = pytest.mark.integration

TOLERANCE = 0.03
QPS = 200.0


def service(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "loadstack.locust.service", *args], capture_output=True, text=True, timeout=90
    )


@pytest.fixture
def standing_cluster(tmp_path):
    """(master URL, run dir): the cluster as an operator starts it, before and independently of any stack."""
    run_dir = tmp_path / "standing-locust"
    try:
        up = service("up", "--dir", str(run_dir), "--workers", "2")
        assert up.returncode == 0, up.stderr
        yield up.stdout.strip(), run_dir
    finally:
        LocustCluster(run_dir=run_dir, target_url=None).stop()  # by PID, whatever the test left


def pids(run_dir) -> dict[str, int]:
    status = service("status", "--dir", str(run_dir))
    assert status.returncode == 0, status.stdout + status.stderr
    return json.loads(status.stdout)["pids"]


def open_ramp_rig(tmp_path, master_url: str, target_url: str, workers: int = 2):
    return open_rig(
        run_dir=tmp_path / "ramp",
        project_root=PROJECT_ROOT,
        target_url=target_url,
        load={"driver": "locust", "locustfile": "include/locust/shop.py", "workers": workers, "master_url": master_url},
        metrics={"source": "locust", "window_s": 10},
    )


def hold(rig, target, qps: float, seconds: float) -> tuple[float, dict[str, int]]:
    """Ask for `qps`; after it settled, the rate that arrived at `target` and each worker's requests meanwhile."""
    assert rig.driver.set_rate(qps) == pytest.approx(qps)
    time.sleep(rig.driver.settle_s + 0.5)
    before = master_api.counters(rig.driver.url).worker_requests
    start = time.time()
    time.sleep(seconds)
    end = time.time()
    time.sleep(3.5)  # one more worker report (every 3 s) so the per-worker counts cover the window
    after = master_api.counters(rig.driver.url).worker_requests
    per_worker = {worker: n - before.get(worker, 0) for worker, n in after.items()}
    return target.arrived(start, end) / (end - start), per_worker


def wait_for_window(source, since: float, timeout: float = 30.0):
    """The source's first sample whose window starts at or after `since`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        sample = source.read(time.time())
        if sample is not None and source.last_window[0] >= since:
            return sample
        time.sleep(0.5)
    raise AssertionError(f"no window starting after {since} within {timeout} s: {source.last_problem}")


def assert_drained(master_url: str, target, seconds: float = 2.0) -> None:
    """The master's users are all stopped (within 15 s of the drain), then nothing arrives at `target`."""
    deadline = time.monotonic() + 15
    while master_api.rate_state(master_url)["running_users"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert master_api.rate_state(master_url)["running_users"] == 0
    time.sleep(0.5)  # requests already under way when the users stopped
    start = time.time()
    time.sleep(seconds)
    assert target.arrived(start, time.time()) == 0


def test_ramps_attach_by_url_each_sends_load_to_its_own_app_and_leave_the_cluster_running(
    tmp_path, standing_cluster, start_standin
):
    master_url, run_dir = standing_cluster
    first_app, second_app = start_standin(), start_standin()
    started = pids(run_dir)
    assert len(started) == 3 and len(set(started.values())) == 3  # a master and two workers, each its own process
    idle = master_api.rate_state(master_url)
    assert idle["host"] is None  # no target until a ramp names one
    assert idle["locustfile"] == "shop.py"  # what a profile-wide master is checked against (ramp_rig)

    rig = open_ramp_rig(tmp_path, master_url, first_app.url)
    assert not rig.driver.cluster.owned
    rate, per_worker = hold(rig, first_app, QPS, 4.0)
    assert rate == pytest.approx(QPS, rel=TOLERANCE), f"asked {QPS} QPS, the first app saw {rate:.1f}"
    assert len(per_worker) == 2 and all(n > 0.35 * sum(per_worker.values()) for n in per_worker.values()), per_worker
    # What the ramp's controller reads: the rig's source (the standing master's counters) agrees with the app.
    sample = wait_for_window(rig.source, since=time.time())
    window_start, window_end = rig.source.last_window
    server_rate = first_app.arrived(window_start, window_end) / (window_end - window_start)
    assert server_rate == pytest.approx(QPS, rel=TOLERANCE)
    # Each window edge is the older worker's last report; the master counts the other worker's later
    # report only up to it (include/locust/shop.py: totals_as_of), else it would be up to 15 % off here.
    assert sample.qps == pytest.approx(server_rate, rel=TOLERANCE) and sample.error_ratio == 0.0
    assert rig.usage()["requests"] > 0
    rig.close()
    assert_drained(master_url, first_app)
    assert pids(run_dir) == started  # the standing cluster outlives the ramp
    assert master_api.rate_state(master_url)["workers"] == 2

    # The next stack's ramp, right after: the master now sends every user to the second app only.
    rig = open_ramp_rig(tmp_path, master_url, second_app.url)
    try:
        arrived_before = first_app.counts()["total"]
        rate, per_worker = hold(rig, second_app, QPS / 2, 4.0)
        assert rate == pytest.approx(QPS / 2, rel=TOLERANCE), f"asked {QPS / 2} QPS, the second app saw {rate:.1f}"
        assert first_app.counts()["total"] == arrived_before
        assert len(per_worker) == 2 and all(n > 0 for n in per_worker.values()), per_worker
        # Another ramp cannot take the master over while this one has a rate.
        with pytest.raises(master_api.LocustMasterError, match=r"(?s)409.*driving .* for another ramp"):
            master_api.set_target(master_url, first_app.url)
    finally:
        rig.close()
    assert_drained(master_url, second_app)

    with pytest.raises(RampRigError, match=r"load.workers 3: .* has only 2 worker\(s\) connected"):
        open_ramp_rig(tmp_path, master_url, second_app.url, workers=3)

    down = service("down", "--dir", str(run_dir))
    assert down.returncode == 0, down.stderr
    assert not any(pid_alive(pid) for pid in started.values())
    assert not list(run_dir.glob("*.pid"))


def test_a_worker_started_on_its_own_dials_the_master_by_host_and_port(tmp_path):
    run_dir = tmp_path / "standing-locust"
    worker_dir = tmp_path / "load-generator-host"  # as if on a host of its own: its own run directory
    try:
        up = service("up", "--dir", str(run_dir), "--workers", "1")
        assert up.returncode == 0, up.stderr
        master_url = up.stdout.strip()
        status = json.loads(service("status", "--dir", str(run_dir)).stdout)
        assert status["url"] == master_url and status["master"]["workers"] == 1
        added = service(
            *("worker", "--dir", str(worker_dir)),
            *("--master-host", "127.0.0.1", "--master-port", str(status["master_port"])),
        )
        assert added.returncode == 0, added.stderr
        worker_pid = int(added.stdout)
        deadline = time.monotonic() + 30
        while master_api.rate_state(master_url)["workers"] < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert master_api.rate_state(master_url)["workers"] == 2
        assert service("down", "--dir", str(run_dir)).returncode == 0
        # The master's shutdown tells its workers to quit, wherever they run.
        deadline = time.monotonic() + 20
        while pid_alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not pid_alive(worker_pid)
    finally:
        LocustCluster(run_dir=run_dir, target_url=None).stop()
        LocustCluster(run_dir=worker_dir, target_url=None).stop()
