"""Distributed Locust: achieved requests per second with 1 and with 2 workers, side by side in one run.

Each configuration is a standing cluster as `python -m loadstack.locust.service up` starts it (a master
with no target, `n` worker processes), driven as a ramp drives one attached by `load.master_url`
(`LocustDriver.attach`: the target set at run time, the workers counted). The target is one fast
local server that is not Python: HAProxy (one thread) answering every request itself with a fixed
JSON body, which also serves the locustfile's key list. The achieved rate is counted at the target
(HAProxy's frontend request total over a hold window, read through its admin socket), per asked rate,
from below one worker's capacity to well above it; CPU seconds of the workers, the master and HAProxy
over the same window, and what the rest of the machine used meanwhile (/proc/stat), say what limits
each number. The machine's cores are the ceiling: with 2 cores, two workers share them with the master,
HAProxy and whatever else runs. Both clusters stand for the whole run and each asked rate is measured
on one, then on the other, so a busy spell on the machine hits both alike.

`python -m bench locust_workers` (a few minutes, loads every core).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from loadstack.haproxy.runtime import HAProxyRuntime
from loadstack.haproxy.server import haproxy_binary
from loadstack.locust.cluster import LocustCluster
from loadstack.locust.driver import LocustDriver
from loadstack.supervisor import LOOPBACK, NotReady, SupervisedProcess, free_port

ASKED_QPS = (1500, 3000, 4500, 6000)
WORKER_COUNTS = (1, 2)
HOLD_S = 8.0
# Enough users that pacing never limits: the asked rate at most 25 per user (latency here is ~1 ms).
USER_MAX_QPS = 25.0
KEYS_BODY = json.dumps(
    {"profiles": [{"profile_id": n, "account_id": 1 + n % 7} for n in range(1, 51)], "sessions": ["s1", "s2"]},
    separators=(",", ":"),
)
FRONTEND = "fast"


def haproxy_config(port: int, socket_path: Path) -> str:
    """HAProxy answering every request itself (one thread, so the target is a fixed, small cost)."""
    return f"""global
    nbthread 1
    maxconn 4000
    stats socket {socket_path} mode 600 level admin

defaults
    mode http
    timeout client 30s
    timeout connect 5s
    timeout server 30s

frontend {FRONTEND}
    bind {LOOPBACK}:{port}
    http-request return status 200 content-type application/json string '{KEYS_BODY}'
"""


class FastTarget:
    def __init__(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.runtime = HAProxyRuntime(run_dir / "admin.sock")
        config = run_dir / "haproxy.cfg"
        config.write_text(haproxy_config(self.port, run_dir / "admin.sock"))
        binary = haproxy_binary()
        self.process = SupervisedProcess(
            name="bench fast target (HAProxy)",
            pid_path=run_dir / "haproxy.pid",
            executable=binary,
            output_path=run_dir / "haproxy.out",
            marker_arg=str(config),
        )
        self.process.start([binary, "-db", "-f", str(config)])

        def answers() -> None:
            try:
                self.requests()
            except OSError as exc:
                raise NotReady(str(exc)) from None

        self.process.wait_ready(answers, 20, interval=0.1)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def requests(self) -> int:
        rows = [row for row in self.runtime.show_stat() if row.proxy == FRONTEND and row.kind == "frontend"]
        return int(rows[0].number("req_tot") or 0)

    def stop(self) -> None:
        self.process.stop()


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (not idle, not waiting for I/O) since boot."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def measure(driver: LocustDriver, cluster: LocustCluster, target: FastTarget, qps: float) -> dict[str, Any]:
    driver.set_rate(qps)
    time.sleep(driver.settle_s + 2.0)
    master = cluster.master_process()

    def cpu() -> tuple[float, ...]:
        ours = (cluster.worker_cpu_seconds(), master.cpu_seconds() or 0.0, target.process.cpu_seconds() or 0.0)
        return (*ours, busy_cpu_seconds())

    before, count, started = cpu(), target.requests(), time.monotonic()
    time.sleep(HOLD_S)
    after, count_end, elapsed = cpu(), target.requests(), time.monotonic() - started
    driver.set_rate(0)
    used = [(end - begin) / elapsed for begin, end in zip(before, after)]
    workers_cores, master_cores, target_cores, busy_cores = used
    achieved = (count_end - count) / elapsed
    return {
        "asked_qps": qps,
        "achieved_qps": round(achieved, 1),
        "achieved_over_asked": round(achieved / qps, 3),
        "workers_cores": round(workers_cores, 2),
        "master_cores": round(master_cores, 2),
        "target_cores": round(target_cores, 2),
        "others_cores": round(max(0.0, busy_cores - workers_cores - master_cores - target_cores), 2),
    }


def bench_locust_workers() -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="loadstack-bench-locust-"))
    target = FastTarget(tmp / "target")
    clusters = {
        n: LocustCluster(run_dir=tmp / f"locust-{n}", target_url=None, workers=n, user_max_qps=USER_MAX_QPS)
        for n in WORKER_COUNTS
    }
    try:
        drivers = {}
        for n, cluster in clusters.items():
            cluster.start()
            cluster.wait_ready(60)
            drivers[n] = LocustDriver.attach(cluster.url, target_url=target.url, workers=n)
        levels: dict[str, list] = {str(n): [] for n in WORKER_COUNTS}
        for qps in ASKED_QPS:
            for n in WORKER_COUNTS:
                levels[str(n)].append(measure(drivers[n], clusters[n], target, qps))
        for driver in drivers.values():
            driver.close()
    finally:
        for cluster in clusters.values():
            cluster.stop()
        target.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    peak = {n: max(level["achieved_qps"] for level in found) for n, found in levels.items()}
    return {
        "cpus": os.cpu_count(),
        "hold_s": HOLD_S,
        "user_max_qps": USER_MAX_QPS,
        "levels": levels,
        "peak_qps": peak,
        "two_over_one": round(peak["2"] / peak["1"], 2),
    }


def table_rows(r: dict[str, Any]) -> list[str]:
    one, two = r["levels"]["1"], r["levels"]["2"]
    pairs = ", ".join(f"{a['asked_qps']:g}: {a['achieved_qps']:g} / {b['achieved_qps']:g}" for a, b in zip(one, two))
    top = max(two, key=lambda level: level["achieved_qps"])
    return [
        f"| Locust, achieved rps with 1 / 2 workers by asked rate ({pairs}) | peak **{r['peak_qps']['1']:g}** / "
        f"**{r['peak_qps']['2']:g}** (× **{r['two_over_one']}**) | |",
        f"| Locust, 2 workers at their peak ({top['asked_qps']:g} asked): cores used by workers / master / target / "
        f"the rest of the machine (of {r['cpus']}) | {top['workers_cores']} / {top['master_cores']} / "
        f"{top['target_cores']} / {top['others_cores']} | |",
    ]
