"""`LocustDriver`: the ramp's `TrafficDriver` on a Locust master, at an exact request rate.

The rate goes to the master's `POST /loadstack/rate` (include/locust/shop.py), whose load shape
applies it at its next tick (~1 s) plus the time to spawn users, hence `settle_s`. The rate read
back is the master's: users actually running x the per-user rate sent to the workers.

`LocustDriver.start(...)` starts a cluster (master and workers) and owns it: `close()` drains,
then stops it by PID. `LocustDriver.attach(url, target_url=..., workers=N)` drives a master somebody
else runs (a standing cluster serving one ramp after another): it checks that N workers are connected,
points the master at this ramp's app, and `close()` only drains it.

A rate lease (`lease_s`): the master holds each rate that long only, unless the ramp renews it. The first
`keep_alive()` arms it (the caller promises to renew: `run_ramp` calls it before its first tick and then every
tick); from then on every rate goes with the lease, and `keep_alive()` posts the current rate again once a
third of the lease has passed since the last post. A driver never kept alive (a script or a test setting a
rate by hand) sends no lease: the rate holds until changed, as before. A ramp task killed outright (SIGKILL, OOM) cannot drain: its lease then runs
out and the master stops the load by itself, and a master the ramp started quits with its workers
(`--loadstack-quit-on-lease-expiry`). `drain()` posts 0 without a lease: nothing is left to watch.

`set_rate` and `keep_alive` also check the workers: one that exited (a cluster this driver started) or that
its master has lost (fewer connected than the ramp started with) is a `WorkerLost` error naming it, so the
ramp drains and fails rather than going on with part of its load generator.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from loadstack.locust import master_api
from loadstack.locust.cluster import AttachedMaster, LocustCluster
from loadstack.ramp.traffic import TrafficDriver, TrafficDriverError

# The shape's tick (1 s), its dispatch and the users' random start phase (up to 1 / per-user rate).
SETTLE_S = 2.0
# A previous ramp's users stop within a tick or two of its drain; a new target waits for that.
TARGET_TIMEOUT_S = 15.0
# How long the master holds a rate without hearing from the ramp; renewed every third of it (keep_alive).
LEASE_S = 20.0
RENEW_FRACTION = 1 / 3


class WorkerLost(TrafficDriverError):
    """A worker the ramp started with has exited or its master lost it mid-ramp; the message names it."""


class LocustDriver(TrafficDriver):
    settle_s = SETTLE_S

    def __init__(
        self,
        *,
        cluster: LocustCluster | AttachedMaster,
        timeout_s: float = 10.0,
        lease_s: float | None = LEASE_S,
        monotonic=time.monotonic,
    ) -> None:
        """`lease_s`: seconds the master holds each rate unless renewed (None: no lease, the rate holds until
        changed); `monotonic`: the clock renewals are timed on (a fake one in tests)."""
        if lease_s is not None and not (math.isfinite(lease_s) and lease_s > 0):
            raise ValueError(f"LocustDriver: lease_s must be > 0 seconds or None (no lease), got {lease_s!r}")
        self.cluster = cluster
        self.timeout_s = timeout_s
        self.lease_s = lease_s
        self._monotonic = monotonic
        self._closed = False
        self._rate: float | None = None  # the rate last posted (what keep_alive renews)
        self._leased = False  # armed by the first keep_alive(): its caller renews
        self._sent_at: float | None = None  # when it was posted (monotonic)

    @classmethod
    def start(
        cls,
        *,
        run_dir: Path | str,
        target_url: str,
        workers: int = 1,
        ready_timeout_s: float = 60.0,
        **cluster_options,
    ) -> LocustDriver:
        """Start a master and `workers` workers against `target_url`, wait until all are connected."""
        lease_s = cluster_options.pop("lease_s", LEASE_S)
        # This ramp's own master: when its lease runs out unrenewed (the ramp is gone) it quits, workers too.
        cluster_options.setdefault("quit_on_lease_expiry", lease_s is not None)
        cluster = LocustCluster(run_dir=run_dir, target_url=target_url, workers=workers, **cluster_options)
        try:
            cluster.start()
            cluster.wait_ready(ready_timeout_s)
        except BaseException:
            cluster.stop()  # whatever the ramp starts it stops, a failed start included
            raise
        return cls(cluster=cluster, lease_s=lease_s)

    @classmethod
    def attach(
        cls,
        url: str,
        *,
        target_url: str | None = None,
        workers: int = 1,
        target_timeout_s: float = TARGET_TIMEOUT_S,
        lease_s: float | None = LEASE_S,
    ) -> LocustDriver:
        """Drive the master at `url`; it must answer and have `workers` workers connected (else
        `TooFewWorkers`). With `target_url` the master sends its users there from now on, once the
        previous ramp's users have drained (up to `target_timeout_s`)."""
        cluster = LocustCluster.attach(url, workers=workers)
        try:
            cluster.wait_ready()
            if target_url is not None:
                _retarget(cluster.url, target_url, target_timeout_s)
        except master_api.LocustMasterError as exc:
            raise TrafficDriverError(str(exc)) from None
        return cls(cluster=cluster, lease_s=lease_s)

    @property
    def url(self) -> str:
        return self.cluster.url

    def __repr__(self) -> str:
        return f"LocustDriver({self.cluster!r})"

    def set_rate(self, qps: float) -> float:
        if not (isinstance(qps, (int, float)) and math.isfinite(qps) and qps >= 0):
            raise ValueError(f"{self!r}: a rate must be a finite number >= 0 requests per second, got {qps!r}")
        if self._closed:
            raise TrafficDriverError(f"{self!r} is closed: it cannot set a rate any more")
        state = self._post(float(qps), "setting")
        self._check_local_workers()
        users, user_qps = state.get("planned_users"), state.get("planned_user_qps")
        if not isinstance(users, int) or not isinstance(user_qps, (int, float)):
            raise TrafficDriverError(f"{self!r}: the master's answer to a rate lacks the planned users: {state}")
        return users * user_qps

    def keep_alive(self) -> None:
        """The first call arms the lease (see the module docstring); then renew it on the current rate once a
        third of it has passed since the last post, and check the workers every call. `run_ramp` calls it
        before its first tick and every tick the rate does not change."""
        if self._closed:
            return
        if not self._leased and self.lease_s is not None:
            self._leased = True  # from now on every rate goes with the lease
            if self._rate is not None:
                self._post(self._rate, "leasing")  # a rate asked before: leased now
                return
        if self._rate is None:
            return
        self._check_local_workers()
        if self.lease_s is None or self._monotonic() - self._sent_at < self.lease_s * RENEW_FRACTION:
            return
        self._post(self._rate, "renewing the lease on")

    def _post(self, qps: float, doing: str) -> dict:
        """Post `qps` with the lease; remember it for keep_alive; check the master still has all workers."""
        sent_at = self._monotonic()
        try:
            lease_s = self.lease_s if self._leased else None
            state = master_api.set_rate(self.url, qps, timeout=self.timeout_s, lease_s=lease_s)
        except master_api.LocustMasterError as exc:
            raise TrafficDriverError(f"{doing} {qps:g} QPS failed: {exc}") from None
        self._rate, self._sent_at = qps, sent_at
        self._check_master_workers(state)
        return state

    def _check_local_workers(self) -> None:
        """A worker process this driver started has exited (cheap: no HTTP)."""
        lost = self.cluster.lost_workers() if self.cluster.owned else []
        if lost and not self.cluster.master_process().is_running():
            # The master went first (its shutdown tells the workers to quit): that is what to report.
            raise TrafficDriverError(
                f"{self!r}: the Locust master exited (its workers quit with it); log tail:\n"
                f"{self.cluster.master_process().log_tail()}"
            )
        if lost:
            raise WorkerLost(
                f"{self!r}: lost {', '.join(lost)} of the {self.cluster.workers} worker(s) the ramp started with: "
                "the load generator cannot give the rate asked; the ramp drains and fails (a retry starts a new one)"
            )

    def _check_master_workers(self, state: dict) -> None:
        """The master counts fewer connected workers than the ramp started with (a worker died or hangs)."""
        connected = state.get("workers")
        if isinstance(connected, int) and connected < self.cluster.workers:
            missing = state.get("missing_workers") or []
            named = f" (lost: {', '.join(map(str, missing))})" if missing else ""
            raise WorkerLost(
                f"{self!r}: the Locust master has {connected} of the {self.cluster.workers} worker(s) the ramp "
                f"started with connected{named}: the ramp drains and fails (a retry starts again)"
            )

    def applied_rate(self) -> float:
        try:
            state = master_api.rate_state(self.url, timeout=self.timeout_s)
        except master_api.LocustMasterError as exc:
            raise TrafficDriverError(f"reading the applied rate failed: {exc}") from None
        applied = state.get("applied_qps")
        if not isinstance(applied, (int, float)):
            raise TrafficDriverError(f"{self!r}: the master's rate state lacks applied_qps: {state}")
        return float(applied)

    def usage(self) -> dict[str, float | int | None]:
        """What generating the load cost so far: requests and failures sent, and the workers' CPU seconds
        (None for a master this driver did not start: its workers are elsewhere)."""
        counters = master_api.counters(self.url, timeout=self.timeout_s)
        cpu = self.cluster.worker_cpu_seconds() if self.cluster.owned else None
        return {"requests": counters.requests, "failures": counters.failures, "worker_cpu_s": cpu}

    def drain(self) -> None:
        """Rate 0 (all users stopped at the next tick); a master that is gone has nothing to drain."""
        if self._closed:
            return
        self._rate = None  # nothing left to keep alive
        try:
            master_api.set_rate(self.url, 0.0, timeout=self.timeout_s)  # no lease: 0 needs no watching
        except master_api.LocustMasterError as exc:
            if self.cluster.owned and not self.cluster.is_running():
                return  # our processes are gone: no traffic is left to take away
            raise TrafficDriverError(f"draining failed: {exc}") from None

    def close(self) -> None:
        """Drain, then stop the master and workers if this driver started them; safe to call twice."""
        if self._closed:
            return
        try:
            self.drain()
        finally:
            self._closed = True
            if self.cluster.owned:
                self.cluster.stop()


def _retarget(url: str, target_url: str, timeout_s: float) -> None:
    """Point the master at `target_url`, retrying while it answers busy (the last ramp's users still draining)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            state = master_api.set_target(url, target_url)
        except master_api.LocustMasterBusy:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)
            continue
        if state.get("host") != target_url.rstrip("/"):
            kept = state.get("host")
            raise TrafficDriverError(f"the Locust master at {url} kept target {kept!r}, not {target_url!r}")
        return
