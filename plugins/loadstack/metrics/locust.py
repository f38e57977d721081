"""`LocustSource`: the load generator's own view of the traffic, from cumulative counters.

Locust's workers report to the master every ~3 s, so the master's totals move in steps and its
`current_rps` lags a step change by ~10 s. This source reads the cumulative totals instead
(`GET /loadstack/counters`, include/locust/shop.py) and differences two of them taken at least
`window_s` apart. Each total is stamped with the time up to which it holds every finished request
(`complete_at`: the oldest of the workers' latest reports), so a window runs from one report to a
later one, and its rate is exact however the reads fall between reports.

A `Sample` covers the window (start, end]: `at` is its start (the sample reflects only traffic
from then on, within a response time) and `lag_s` is the window plus one report interval. With
no request in the window, qps is 0 (a fact) while the error ratio and quantiles are None (unknown).
Latency quantiles come from the differenced histogram in Locust's rounded buckets (1 ms below
100 ms, 10 ms below 1 s, then 100 ms): nearest rank, so a quantile is one of those bucket values.

Times from the master are moved onto the caller's clock with the offset seen at each read, so a
master on another host with a skewed clock still yields honest ages.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from loadstack.locust import master_api
from loadstack.ramp.samples import MetricSource, Sample

# Locust's WORKER_REPORT_INTERVAL: how stale the master's totals may be when read.
REPORT_INTERVAL_S = 3.0
MIN_WINDOW_S = 10.0


@dataclass(frozen=True)
class Snapshot:
    """Cumulative totals complete up to `complete_at` (on the caller's clock; `report_at`: the master's)."""

    complete_at: float
    report_at: float
    stats_epoch: int
    requests: int
    failures: int
    histogram: Mapping[int, int]


def snapshot_of(counters: master_api.Counters, now: float) -> Snapshot | None:
    """The counters on the caller's clock; None before every worker has reported once."""
    if counters.complete_at is None:
        return None
    return Snapshot(
        complete_at=counters.complete_at + (now - counters.time),
        report_at=counters.complete_at,
        stats_epoch=counters.stats_epoch,
        requests=counters.requests,
        failures=counters.failures,
        histogram=dict(counters.histogram),
    )


def histogram_quantile(histogram: Mapping[int, int], q: float) -> float | None:
    """The nearest-rank `q` quantile (0 < q <= 1) of a {bucket ms: count} histogram; None if empty."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total - 1e-9))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return float(bucket)
    return float(max(histogram))


def window_sample(older: Snapshot, newer: Snapshot, *, taken_at: float) -> Sample:
    """The traffic between two snapshots of the same stats epoch, as a `Sample` starting at `older`."""
    if newer.stats_epoch != older.stats_epoch:
        raise ValueError("snapshots from different stats epochs cannot be differenced (the counters were reset)")
    span = newer.complete_at - older.complete_at
    if span <= 0:
        raise ValueError(f"the newer snapshot must be later than the older one (span {span:.3f} s)")
    requests = newer.requests - older.requests
    failures = newer.failures - older.failures
    if requests < 0 or failures < 0:
        raise ValueError("counters went down within one stats epoch")
    if requests == 0:
        return Sample(at=older.complete_at, taken_at=taken_at, qps=0.0, window_s=span)
    histogram = {ms: n for ms in newer.histogram if (n := newer.histogram[ms] - older.histogram.get(ms, 0)) > 0}
    return Sample(
        at=older.complete_at,
        taken_at=taken_at,
        qps=requests / span,
        error_ratio=failures / requests,
        p50_ms=histogram_quantile(histogram, 0.50),
        p95_ms=histogram_quantile(histogram, 0.95),
        p99_ms=histogram_quantile(histogram, 0.99),
        window_s=span,
    )


class LocustSource(MetricSource):
    """Samples over a sliding window of at least `window_s` seconds from a Locust master at `url`."""

    def __init__(
        self,
        *,
        url: str,
        window_s: float = MIN_WINDOW_S,
        timeout_s: float = 5.0,
        read_counters: Callable[[str], master_api.Counters] | None = None,
    ) -> None:
        if not window_s >= MIN_WINDOW_S:
            raise ValueError(
                f"LocustSource window_s={window_s}: workers report every {REPORT_INTERVAL_S:g} s, "
                f"so a window shorter than {MIN_WINDOW_S:g} s sees too few reports; use window_s >= {MIN_WINDOW_S:g}"
            )
        self.url = url.rstrip("/")
        self.window_s = float(window_s)
        self.lag_s = self.window_s + REPORT_INTERVAL_S
        self.timeout_s = timeout_s
        self._read_counters = read_counters or (lambda u: master_api.counters(u, timeout=self.timeout_s))
        self._history: deque[Snapshot] = deque()
        self._closed = False
        #: Why the last read returned None (no answer, no report yet, too little history), for logs.
        self.last_problem: str | None = None
        #: (start, end) of the last sample's window on the caller's clock: the traffic it counted.
        self.last_window: tuple[float, float] | None = None

    def __repr__(self) -> str:
        return f"LocustSource({self.url!r}, window_s={self.window_s:g})"

    def read(self, now: float) -> Sample | None:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        try:
            counters = self._read_counters(self.url)
        except master_api.LocustMasterError as exc:
            self.last_problem = str(exc)
            return None
        snapshot = snapshot_of(counters, now)
        if snapshot is None:
            self.last_problem = f"{self.url}: not every Locust worker has reported yet"
            return None
        self._remember(snapshot)
        newest = self._history[-1]
        older = self._window_start(newest)
        if older is None:
            covered = newest.complete_at - self._history[0].complete_at
            self.last_problem = f"{self.url}: {covered:.1f} s of reports so far, the window needs {self.window_s:g} s"
            return None
        self.last_problem = None
        self.last_window = (older.complete_at, newest.complete_at)
        return window_sample(older, newest, taken_at=now)

    def _remember(self, snapshot: Snapshot) -> None:
        history = self._history
        if history and (snapshot.stats_epoch != history[-1].stats_epoch or snapshot.requests < history[-1].requests):
            history.clear()  # Locust reset its stats: earlier totals are from another count
        if history and snapshot.report_at <= history[-1].report_at:
            return  # no report since the last read (a later read of the same report changes nothing)
        history.append(snapshot)

    def _window_start(self, newest: Snapshot) -> Snapshot | None:
        """The latest snapshot at least `window_s` before `newest`; older ones are dropped."""
        history = self._history
        start = None
        for snapshot in history:
            if newest.complete_at - snapshot.complete_at >= self.window_s:
                start = snapshot
            else:
                break
        if start is not None:
            while history[0] is not start:
                history.popleft()
        return start

    def close(self) -> None:
        self._closed = True
        self._history.clear()
