"""`LocustDriver`: the ramp's `TrafficDriver` on a Locust master, at an exact request rate.

The rate goes to the master's `POST /loadstack/rate` (include/locust/shop.py), whose load shape
applies it at its next tick (~1 s) plus the time to spawn users, hence `settle_s`. The rate read
back is the master's: users actually running x the per-user rate sent to the workers.

`LocustDriver.start(...)` starts a cluster (master and workers) and owns it: `close()` drains,
then stops it by PID. `LocustDriver.attach(url, target_url=..., workers=N)` drives a master somebody
else runs (a standing cluster serving one ramp after another): it checks that N workers are connected,
points the master at this ramp's app, and `close()` only drains it.
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


class LocustDriver(TrafficDriver):
    settle_s = SETTLE_S

    def __init__(self, *, cluster: LocustCluster | AttachedMaster, timeout_s: float = 10.0) -> None:
        self.cluster = cluster
        self.timeout_s = timeout_s
        self._closed = False

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
        cluster = LocustCluster(run_dir=run_dir, target_url=target_url, workers=workers, **cluster_options)
        try:
            cluster.start()
            cluster.wait_ready(ready_timeout_s)
        except BaseException:
            cluster.stop()  # whatever the ramp starts it stops, a failed start included
            raise
        return cls(cluster=cluster)

    @classmethod
    def attach(
        cls, url: str, *, target_url: str | None = None, workers: int = 1, target_timeout_s: float = TARGET_TIMEOUT_S
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
        return cls(cluster=cluster)

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
        try:
            state = master_api.set_rate(self.url, float(qps), timeout=self.timeout_s)
        except master_api.LocustMasterError as exc:
            raise TrafficDriverError(f"setting {qps:g} QPS failed: {exc}") from None
        users, user_qps = state.get("planned_users"), state.get("planned_user_qps")
        if not isinstance(users, int) or not isinstance(user_qps, (int, float)):
            raise TrafficDriverError(f"{self!r}: the master's answer to a rate lacks the planned users: {state}")
        return users * user_qps

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
        try:
            master_api.set_rate(self.url, 0.0, timeout=self.timeout_s)
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
