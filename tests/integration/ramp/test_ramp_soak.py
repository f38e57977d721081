"""A bounded soak through Airflow (dag.test) on a local stack: real MariaDB, Redis, two app instances behind
HAProxy, Prometheus, and a Locust master with two workers held at 120 QPS for 200 s.

While the DAG runs, a thread samples every process of the stack every 5 s: resident memory (VmRSS), open file
descriptors (what each is: a file, a pipe, a TCP connection to which of the stack's processes) and threads of
the controller (the ramp task runs inside this pytest process under dag.test, so its numbers include Airflow's
and pytest's own), the Locust master and workers (PID files in the ramp's run directory), the app instances,
HAProxy and Prometheus (PID files in the app step's deployment directory), MariaDB and Redis (their steps').

Growth is judged on the hold only, from 30 s after it started (the load settled at 100 %) to its end: the
median of the last third of the samples against the median of the first third, and a least-squares slope
projected over the window. A leak that grows with time or with requests (about 24 k requests in the window)
shows in both; sockets and buffers that come and go move single samples, not the medians. The bounds, and
what was measured, are below.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from loadstack.ramp_store import RampStore

pytestmark = [pytest.mark.integration, pytest.mark.long]
STACK, STEP, APP_STEP = "it_soak", "soak", "app"
TARGET_QPS = 120  # tests/fixtures/it_stacks/it_soak.yaml
ORDER = (
    "controller", "locust-master", "locust-worker-0", "locust-worker-1", "app-0", "app-1", "haproxy", "prometheus",
    "mariadb", "redis",
)  # fmt: skip
EXPECTED = set(ORDER)
SAMPLE_EVERY_S = 5.0
WARM_UP_S = 30.0  # after the hold started: the last buckets' traffic settled, connection pools filled

# Bounds, per process, over the judged window (~170 s, ~34 samples). Measured in 6 runs on a 2-core machine shared
# with other test jobs (2026-12-01), growth from the first third's median to the last's, and the slope:
#   controller (pytest + Airflow's in-process task runner + the ramp loop) ~359-365 MB: +0.0..+0.4 MB, slope
#     -0.22..+0.19 MB/min; 23-24 fds, +0; 4 threads. The timeline (one sample a second) grows it by design, too little
#     to see at this length.
#   locust master ~55 MB and each worker ~55 MB: +0.0..+0.1 MB (<= 0.03 MB/min); 16 and 41-42 fds, +0.
#   app instances ~72 MB: +0.3..+0.6 MB (0.16-0.28 MB/min); 21-30 fds, +0 outside their pools (below). One early
#     run, before fds were told apart, saw +10 and +5 in all (HAProxy +4): the pools, by the later runs, which
#     show them growing +1..+3 in a hold (peaks 2-5 database and 3-8 Redis connections per app).
#   HAProxy ~15 MB: +0.0..+0.1 MB; 74-77 fds, -2..+0 (+4 once, with the apps' pools). Redis ~12 MB: +0.0 MB.
#   MariaDB ~122 MB: +1.1..+1.5 MB (<= 0.72 MB/min). Prometheus ~56-62 MB: +3.9..+8.7 MB (2.4-3.8 MB/min), +2 fds.
# The bounds sit well above that and below a leak of a few hundred bytes a request or ~150 KB a tick: a leak
# injected into RampController.tick (256 KB and, every 10th tick, an open file) failed the test on the controller
# alone (+27.0 MB medians, +14.2 MB/min slope, +11 fds).
FD_GROWTH_MAX = {
    "*": 2,  # medians of the last and first thirds; a leak of one fd per tick adds ~110
    # It opens its TSDB's files as they come (head chunks mmapped after ~2 min of 1 s scrapes, WAL segments):
    # +2 "file" fds were seen in each hold; closed again at head compaction (every 2 h).
    "prometheus": 4,
}
# Connections of a bounded pool are not held to FD_GROWTH_MAX: a pool opens connections when concurrency
# peaks (a busy moment on 2 shared cores) and keeps them. Their count must stay within the pool's size.
APP_DB_POOL = 10  # app/shopapp/config.py: db_pool_size (SHOPAPP_DB_POOL_SIZE unset)
APP_REDIS_POOL = 64  # app/shopapp/cache.py: Cache(max_connections=64)
POOLS: dict[str, dict[str, int]] = {
    "app": {"tcp mariadb": APP_DB_POOL, "tcp redis": APP_REDIS_POOL},
    "mariadb": {"tcp app-": APP_DB_POOL},  # per app process
    "redis": {"tcp app-": APP_REDIS_POOL},
}
THREAD_GROWTH_MAX = 2
# RSS: max(fraction of the first third's median, absolute MB), for the last-vs-first medians and for the slope
# projected over the window alike.
RSS_BOUNDS: dict[str, tuple[float, float]] = {
    "controller": (0.05, 25.0),  # a larger base (Airflow, pytest): a looser absolute bound, a tighter fraction
    "locust-master": (0.10, 15.0),
    "locust-worker": (0.10, 15.0),
    "app": (0.10, 15.0),
    "haproxy": (0.10, 15.0),
    "redis": (0.10, 15.0),
    "mariadb": (0.15, 30.0),  # InnoDB's buffer pool takes in the pages the inserts write (POST /events)
    "prometheus": (0.25, 30.0),  # its TSDB head block fills with every scrape by design (cut every 2 h)
}


@dataclass
class Point:
    at: float
    pid: int
    rss_mb: float
    fds: int
    threads: int
    ppid: int
    kinds: Counter[str] = field(default_factory=Counter)  # what its fds are (fd_kinds)


@dataclass
class Series:
    name: str
    points: list[Point] = field(default_factory=list)


def read_proc(pid: int) -> tuple[float, int, int, int] | None:
    """(RSS in MB, open fds, threads, parent PID) of a live process, or None if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if fields.get("State", "").strip().startswith(("Z", "X")):
        return None
    rss_kb = int(fields["VmRSS"].split()[0]) if "VmRSS" in fields else 0
    return rss_kb / 1024, fds, int(fields["Threads"]), int(fields["PPid"])


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


TCP_LISTEN = "0A"


def tcp_sockets() -> dict[str, tuple[int, int, str]]:
    """Every TCP socket of this network namespace: {inode: (local port, remote port, state)}."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            found[cols[9]] = (int(cols[1].rsplit(":", 1)[1], 16), int(cols[2].rsplit(":", 1)[1], 16), cols[3])
    return found


def fd_targets(pid: int) -> dict[str, str]:
    """{fd: what it points to} of a process."""
    links = {}
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                links[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                pass
    except OSError:
        pass
    return links


def fd_kinds(links: dict[str, str], tcp: dict[str, tuple[int, int, str]], owners: dict[int, str]) -> Counter[str]:
    """What a process's fds are: "tcp listen", "tcp <peer>" (the process owning the other end, by its port: all
    on 127.0.0.1), "unix", "pipe", "anon:<kind>", "file"."""
    kinds: Counter[str] = Counter()
    for target in links.values():
        if target.startswith("socket:["):
            entry = tcp.get(target[8:-1])
            if entry is None:
                kinds["socket (unix/udp)"] += 1
            elif entry[2] == TCP_LISTEN:
                kinds["tcp listen"] += 1
            else:
                kinds[f"tcp {owners.get(entry[1], 'other')}"] += 1
        elif target.startswith("pipe:"):
            kinds["pipe"] += 1
        elif target.startswith("anon_inode:"):
            kinds["anon:" + target[11:].strip("[]")] += 1
        else:
            kinds["file"] += 1
    return kinds


class Sampler(threading.Thread):
    """Every SAMPLE_EVERY_S, every process of the stack found by its PID file (found again each time, as the
    stack comes up): {name: Series}."""

    def __init__(self, profile) -> None:
        super().__init__(daemon=True, name="soak-sampler")
        self.data_dir = profile.data_dir
        self.deployment = profile.data_dir / "app" / f"{STACK}-{APP_STEP}"
        self.ramps = profile.work_dir / "ramps"
        self.series: dict[str, Series] = {}
        self.stopping = threading.Event()

    def processes(self) -> dict[str, int | None]:
        found: dict[str, int | None] = {"controller": os.getpid()}
        run_dirs = sorted(self.ramps.glob(f"{STACK}-{STEP}-*"), key=lambda d: d.stat().st_mtime)
        if run_dirs:  # this run's (a test file of its own: no earlier run of this stack in the session)
            run_dir = run_dirs[-1]
            found["locust-master"] = read_pid(run_dir / "master.pid")
            for pid_file in sorted(run_dir.glob("worker-*.pid")):
                found[f"locust-worker-{pid_file.stem.removeprefix('worker-')}"] = read_pid(pid_file)
        for pid_file in sorted((self.deployment / "apps").glob("*.pid")):
            found[f"app-{pid_file.stem.rsplit('-', 1)[-1]}"] = read_pid(pid_file)
        found["haproxy"] = read_pid(self.deployment / "lb" / "haproxy.pid")
        found["mariadb"] = read_pid(self.data_dir / "mariadb" / f"{STACK}-db" / "mariadbd.pid")
        found["redis"] = read_pid(self.data_dir / "redis" / f"{STACK}-cache" / "redis.pid")
        found["prometheus"] = read_pid(self.deployment / "prometheus" / "prometheus.pid")
        return found

    def sample(self) -> None:
        at = time.time()
        processes = {name: pid for name, pid in self.processes().items() if pid is not None}
        tcp = tcp_sockets()
        links = {name: fd_targets(pid) for name, pid in processes.items()}
        owners: dict[int, str] = {}  # local port -> the process whose socket it is
        for name, fds in links.items():
            for target in fds.values():
                entry = tcp.get(target[8:-1]) if target.startswith("socket:[") else None
                if entry is not None:
                    owners[entry[0]] = name
        for name, pid in processes.items():
            values = read_proc(pid)
            if values is not None:
                kinds = fd_kinds(links[name], tcp, owners)
                self.series.setdefault(name, Series(name)).points.append(Point(at, pid, *values, kinds=kinds))

    def run(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            self.sample()
            self.stopping.wait(max(0.0, SAMPLE_EVERY_S - (time.monotonic() - started)))

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)


@dataclass(frozen=True)
class Growth:
    """One process over the judged window: first and last thirds' medians, slopes projected over the window."""

    name: str
    role: str
    samples: int
    pids: int
    rss_start_mb: float
    rss_end_mb: float
    rss_slope_mb_min: float
    rss_projected_mb: float
    fds_start: float
    fds_end: float
    fds_slope_min: float
    unpooled_fds_start: float  # fds other than connections of the app's bounded pools (POOLS)
    unpooled_fds_end: float
    pooled_peak: dict[str, int]  # the most connections of each pool seen in one sample
    threads_start: float
    threads_end: float
    kinds_start: dict[str, float]
    kinds_end: dict[str, float]

    @property
    def rss_growth_mb(self) -> float:
        return self.rss_end_mb - self.rss_start_mb

    @property
    def fds_growth(self) -> float:
        return self.fds_end - self.fds_start

    @property
    def unpooled_fds_growth(self) -> float:
        return self.unpooled_fds_end - self.unpooled_fds_start

    @property
    def threads_growth(self) -> float:
        return self.threads_end - self.threads_start


def role_of(name: str) -> str:
    """The kind of process a sample series is of: app-0 is an app, locust-worker-1 a locust-worker."""
    head, _, tail = name.rpartition("-")
    return head if head and tail.isdigit() else name


def pool_cap(role: str, kind: str) -> int | None:
    """The most connections of this kind a bounded pool can hold open (None: not a pool's)."""
    for prefix, cap in POOLS.get(role, {}).items():
        if kind.startswith(prefix):
            return cap
    return None


def slope_per_s(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0


def growth(series: Series, start: float, end: float) -> Growth | None:
    points = [p for p in series.points if start <= p.at <= end]
    if len(points) < 6:
        return None
    role = role_of(series.name)
    third = len(points) // 3
    first, last = points[:third], points[-third:]
    ts = [p.at for p in points]
    rss_slope = slope_per_s(ts, [p.rss_mb for p in points])

    def pooled(p: Point) -> int:
        return sum(n for kind, n in p.kinds.items() if pool_cap(role, kind) is not None)

    peaks: dict[str, int] = {}
    for p in points:
        for kind, n in p.kinds.items():
            if pool_cap(role, kind) is not None:
                peaks[kind] = max(peaks.get(kind, 0), n)
    return Growth(
        name=series.name,
        role=role,
        samples=len(points),
        pids=len({p.pid for p in points}),
        rss_start_mb=statistics.median(p.rss_mb for p in first),
        rss_end_mb=statistics.median(p.rss_mb for p in last),
        rss_slope_mb_min=rss_slope * 60,
        rss_projected_mb=rss_slope * (end - start),
        fds_start=statistics.median(p.fds for p in first),
        fds_end=statistics.median(p.fds for p in last),
        fds_slope_min=slope_per_s(ts, [p.fds for p in points]) * 60,
        unpooled_fds_start=statistics.median(p.fds - pooled(p) for p in first),
        unpooled_fds_end=statistics.median(p.fds - pooled(p) for p in last),
        pooled_peak=peaks,
        threads_start=statistics.median(p.threads for p in first),
        threads_end=statistics.median(p.threads for p in last),
        kinds_start=median_kinds(first),
        kinds_end=median_kinds(last),
    )


def median_kinds(points: list[Point]) -> dict[str, float]:
    names = {kind for p in points for kind in p.kinds}
    return {kind: statistics.median(p.kinds.get(kind, 0) for p in points) for kind in sorted(names)}


def kinds_moved(g: Growth) -> str:
    """The kinds of fds whose medians moved between the first and last thirds, e.g. "tcp haproxy 4→9"."""
    moved = []
    for kind in sorted(set(g.kinds_start) | set(g.kinds_end)):
        a, b = g.kinds_start.get(kind, 0), g.kinds_end.get(kind, 0)
        if a != b:
            moved.append(f"{kind} {a:g}→{b:g}")
    return ", ".join(moved)


def problems_of(g: Growth) -> list[str]:
    fraction, absolute = RSS_BOUNDS[g.role]
    rss_max = max(fraction * g.rss_start_mb, absolute)
    fds_max = FD_GROWTH_MAX.get(g.role, FD_GROWTH_MAX["*"])
    found = []
    if g.pids != 1:
        found.append(f"{g.name}: {g.pids} PIDs during the hold (restarted)")
    if g.rss_growth_mb > rss_max:
        found.append(f"{g.name}: RSS {g.rss_start_mb:.1f} -> {g.rss_end_mb:.1f} MB "
                     f"(+{g.rss_growth_mb:.1f}, max +{rss_max:.1f})")
    if g.rss_projected_mb > rss_max:
        found.append(f"{g.name}: RSS slope {g.rss_slope_mb_min:+.2f} MB/min, {g.rss_projected_mb:+.1f} MB over the "
                     f"window (max +{rss_max:.1f})")
    if g.unpooled_fds_growth > fds_max:
        found.append(f"{g.name}: open fds {g.fds_start:g} -> {g.fds_end:g}, {g.unpooled_fds_growth:+g} outside the "
                     f"connection pools (max +{fds_max}): {kinds_moved(g)}")
    for kind, peak in g.pooled_peak.items():
        cap = pool_cap(g.role, kind)
        if cap is not None and peak > cap:
            found.append(f"{g.name}: {peak} fds '{kind}', more than its pool holds ({cap})")
    if g.threads_growth > THREAD_GROWTH_MAX:
        found.append(f"{g.name}: threads {g.threads_start:g} -> {g.threads_end:g} (max +{THREAD_GROWTH_MAX})")
    return found


def table(growths: list[Growth]) -> str:
    lines = [f"{'process':<16} {'n':>3} {'RSS MB first→last':>19} {'Δ':>6} {'MB/min':>7} {'fds':>9} {'fd/min':>7} "
             f"{'threads':>8}"]  # fmt: skip
    for g in growths:
        lines.append(
            f"{g.name:<16} {g.samples:>3} {g.rss_start_mb:>8.1f} → {g.rss_end_mb:>7.1f} {g.rss_growth_mb:>+6.1f} "
            f"{g.rss_slope_mb_min:>+7.2f} {g.fds_start:>4g} → {g.fds_end:<4g}{g.fds_slope_min:>+7.2f} "
            f"{g.threads_start:>4g} → {g.threads_end:g}"
        )
        if kinds_moved(g):
            lines.append(f"{'':<20} fds moved: {kinds_moved(g)}")
        if g.pooled_peak:
            lines.append(f"{'':<20} pool peaks: " + ", ".join(f"{k} {n}" for k, n in sorted(g.pooled_peak.items())))
    return "\n".join(lines)


@pytest.mark.timeout(420, method="signal")  # ~5 min measured: set-up ~40 s, ramp ~40 s, hold 200 s, report
def test_a_soak_at_a_modest_qps_grows_no_memory_nor_file_descriptors(run_xcoms, stack_dag, run_dag, local_profile):
    from airflow.utils.state import DagRunState

    dag = stack_dag(STACK)
    sampler = Sampler(local_profile)
    logical_date = datetime.now(timezone.utc)
    started = time.monotonic()
    sampler.start()
    try:
        run = run_dag(dag, logical_date=logical_date, run_after=logical_date)
    finally:
        sampler.stop()
    took = time.monotonic() - started
    out = run_xcoms(run)
    assert run.state == DagRunState.SUCCESS, out
    ramp = out[f"{STEP}.ramp"]
    assert ramp["succeeded"] and ramp["phase"] == "done", ramp
    assert all(result["passed"] for result in out[f"{STEP}.checks"]), out[f"{STEP}.checks"]

    decisions = RampStore(local_profile, STACK, run.run_id, STEP).load()["state"]["timeline"]["decisions"]
    hold_started = next(d["at"] for d in decisions if d["action"] == "hold_started")
    hold_ended = next(d["at"] for d in decisions if d["action"] == "done")
    start, end = hold_started + WARM_UP_S, hold_ended
    assert end - start >= 120, (hold_started, hold_ended)

    growths = [g for g in (growth(s, start, end) for s in sampler.series.values()) if g is not None]
    growths.sort(key=lambda g: ORDER.index(g.name) if g.name in ORDER else len(ORDER))
    print(f"\nsoak: hold {hold_ended - hold_started:.0f} s at {TARGET_QPS:g} QPS, judged {end - start:.0f} s from "
          f"{WARM_UP_S:g} s into it ({growths[0].samples if growths else 0} samples); the DAG run took {took:.0f} s")
    print(table(growths))
    print(f"soak summary ({TARGET_QPS:g} QPS, {end - start:.0f} s of hold judged; RSS and fd growth, last third "
          "vs first): " + ", ".join(f"{g.name} {g.rss_growth_mb:+.1f} MB {g.fds_growth:+g} fd" for g in growths))

    assert EXPECTED <= {g.name for g in growths}, sorted(sampler.series)
    # The ramp task ran in this process (dag.test runs tasks in-process): it started the Locust master.
    parents = {p.ppid for p in sampler.series["locust-master"].points}
    assert parents == {os.getpid()}, f"the Locust master's parent is {parents}, not this process (the controller?)"
    problems = [problem for g in growths for problem in problems_of(g)]
    assert not problems, "\n".join(problems)
