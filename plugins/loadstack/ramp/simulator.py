"""A deterministic plant for the ramp: generated rate in, delayed and noisy metric samples out.

The simulator stands for a stack under load and the monitoring pipeline watching it, on a `FakeClock`,
so tests and the benchmark can run a ramp of many minutes in milliseconds and get the same result every
time for a given seed. Per simulated second it computes the requests served: the generated rate (as set
through its `TrafficDriver`, in effect `settle_s` after the call) plus an organic baseline that drifts
(a slow swing and a mean-reverting random walk), with Poisson-like counting noise. Above a capacity
knee, errors and latency rise. Its `MetricSource` publishes, every `period_s`, rates over the last
`window_s` like Prometheus' `rate()`, visible `delay_s` later, each sample's `at` being the start of its
window (the earliest traffic it reflects). Faults for tests: an error (and latency) burst from a time
on, a sudden shift of organic traffic, a stalled pipeline (nothing new arrives for a while, so samples
age), and a blackout (the source answers nothing, or a sample without data).

What a plant can sustain is known from the plant itself (`plant_metrics`, `sustainable_demand`): its steady
metrics without noise, drift or lag, so tests and the benchmark judge a capacity search against a number
they did not write down.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Literal

from loadstack.ramp.clock import Clock, FakeClock
from loadstack.ramp.params import AbortRule
from loadstack.ramp.samples import MetricSource, Sample
from loadstack.ramp.traffic import TrafficDriver, TrafficDriverError


@dataclass(frozen=True)
class PlantConfig:
    seed: int = 1
    # Organic traffic: a mean, a slow sinusoidal swing, and a mean-reverting walk (its standard deviation
    # and time constant).
    organic_qps: float = 200.0
    organic_swing_qps: float = 20.0
    organic_period_s: float = 1200.0
    organic_walk_qps: float = 10.0
    organic_walk_tau_s: float = 300.0
    # Counting noise per second, in multiples of Poisson's sqrt(rate).
    noise: float = 1.0
    # Capacity: above the knee, errors grow 2 % per 1 % of overload and latency climbs steeply.
    knee_qps: float = 1500.0
    base_error_ratio: float = 0.001
    p50_ms: float = 20.0
    p95_ms: float = 60.0
    p99_ms: float = 120.0
    # The monitoring pipeline: rate window, publication period (whole seconds) and the delay beyond them.
    window_s: int = 10
    period_s: int = 1
    delay_s: float = 0.0
    # The traffic driver: how long a rate change takes to reach the stack, and its ceiling (None: none).
    settle_s: float = 1.0
    max_rate_qps: float | None = None

    def __post_init__(self) -> None:
        if (
            self.window_s < 1
            or self.period_s < 1
            or int(self.window_s) != self.window_s
            or int(self.period_s) != self.period_s
        ):
            raise ValueError("PlantConfig: window_s and period_s must be whole seconds >= 1")
        if self.delay_s < 0 or self.settle_s < 0:
            raise ValueError("PlantConfig: delay_s and settle_s must be >= 0")


@dataclass(frozen=True)
class _Second:
    served: float
    errors: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


@dataclass(frozen=True)
class _Burst:
    start: float
    until: float
    error_ratio: float
    latency_factor: float


class Simulator:
    """The plant; `driver` and `source` are its two faces for the ramp runner."""

    def __init__(self, config: PlantConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.start = clock.now()
        # (effective from, rate) in time order: the generated rate's history.
        self._rate_times: list[float] = [self.start]
        self._rates: list[float] = [0.0]
        self._seconds: list[_Second] = []
        self._noise = random.Random(f"loadstack-sim-noise:{config.seed}")
        self._walk_rng = random.Random(f"loadstack-sim-organic:{config.seed}")
        self._walk = 0.0
        self._bursts: list[_Burst] = []
        self._stalls: list[tuple[float, float]] = []
        self._blackouts: list[tuple[float, float, str]] = []
        self._shifts: list[tuple[float, float]] = []
        self._samples: dict[int, Sample] = {}
        self.driver = SimulatedDriver(self)
        self.source = SimulatedSource(self)

    # --- faults -----------------------------------------------------------------------------------------------
    def inject_error_burst(
        self, start: float, *, error_ratio: float = 0.3, latency_factor: float = 1.0, until: float = math.inf
    ) -> None:
        """From `start` (epoch seconds) until `until`, `error_ratio` more of the requests fail and latency is
        multiplied by `latency_factor`."""
        self._bursts.append(_Burst(start, until, error_ratio, latency_factor))

    def shift_organic(self, start: float, delta_qps: float) -> None:
        """From `start` on, organic traffic is `delta_qps` higher (a surge) or lower."""
        self._shifts.append((start, delta_qps))

    def stall_metrics(self, start: float, until: float) -> None:
        """Samples due between `start` and `until` only become visible at `until` (a stuck pipeline)."""
        self._stalls.append((start, until))

    def blackout(self, start: float, until: float, *, answer: Literal["none", "empty"] = "none") -> None:
        """Between `start` and `until` the source answers nothing ("none") or a sample without data ("empty")."""
        self._blackouts.append((start, until, answer))

    # --- the plant --------------------------------------------------------------------------------------------
    def generated_at(self, t: float) -> float:
        return self._rates[bisect.bisect_right(self._rate_times, t) - 1]

    def organic_mean_at(self, t: float) -> float:
        """The organic baseline without the random walk (for tests that need to know the swing)."""
        c = self.config
        return c.organic_qps + c.organic_swing_qps * math.sin(2 * math.pi * (t - self.start) / c.organic_period_s)

    def _set_rate(self, qps: float) -> None:
        effective = self.clock.now() + self.config.settle_s
        # A later change supersedes one not yet in effect.
        while len(self._rate_times) > 1 and self._rate_times[-1] >= effective:
            self._rate_times.pop()
            self._rates.pop()
        self._rate_times.append(effective)
        self._rates.append(qps)

    def _second(self, i: int) -> _Second:
        while len(self._seconds) <= i:
            self._seconds.append(self._compute_second(len(self._seconds)))
        return self._seconds[i]

    def _compute_second(self, i: int) -> _Second:
        c = self.config
        mid = self.start + i + 0.5
        if c.organic_walk_qps > 0:
            decay = math.exp(-1.0 / c.organic_walk_tau_s)
            self._walk = self._walk * decay + c.organic_walk_qps * math.sqrt(1 - decay * decay) * self._walk_rng.gauss()
        shifted = sum(delta for start, delta in self._shifts if start <= mid)
        demand = max(0.0, self.generated_at(mid) + self.organic_mean_at(mid) + self._walk + shifted)
        served = max(0.0, demand + c.noise * math.sqrt(demand) * self._noise.gauss())
        utilisation = demand / c.knee_qps
        error_ratio = c.base_error_ratio
        latency = 1.0 + 0.3 * min(utilisation, 1.0) ** 2
        if utilisation > 1.0:
            error_ratio += 2.0 * (utilisation - 1.0)
            latency *= 1.0 + 8.0 * (utilisation - 1.0)
        for burst in self._bursts:
            if burst.start <= mid < burst.until:
                error_ratio += burst.error_ratio
                latency *= burst.latency_factor
        error_ratio = min(1.0, error_ratio)
        return _Second(served, served * error_ratio, c.p50_ms * latency, c.p95_ms * latency, c.p99_ms * latency)

    # --- the monitoring pipeline ------------------------------------------------------------------------------
    def _visible_at(self, k: int) -> float:
        c = self.config
        due = self.start + k * c.period_s + c.delay_s
        for start, until in self._stalls:
            if start <= due < until:
                due = until
        return due

    def _sample(self, k: int, now: float) -> Sample:
        c = self.config
        cached = self._samples.get(k)
        if cached is None:
            end = k * c.period_s
            seconds = [self._second(i) for i in range(end - c.window_s, end)]
            served = sum(x.served for x in seconds)
            quantiles: dict[str, float | None] = {"p50_ms": None, "p95_ms": None, "p99_ms": None}
            error_ratio = None
            if served > 0:
                error_ratio = sum(x.errors for x in seconds) / served
                # Request-weighted mean of each second's quantile: close enough to a merged histogram here.
                for name in quantiles:
                    quantiles[name] = sum(getattr(x, name) * x.served for x in seconds) / served
            cached = Sample(
                at=self.start + end - c.window_s,
                taken_at=0.0,
                qps=served / c.window_s,
                error_ratio=error_ratio,
                window_s=float(c.window_s),
                **quantiles,
            )
            self._samples[k] = cached
        return replace(cached, taken_at=now)

    def _read(self, now: float) -> Sample | None:
        c = self.config
        for start, until, answer in self._blackouts:
            if start <= now < until:
                return None if answer == "none" else Sample(at=now - self.source.lag_s, taken_at=now)
        first = c.window_s // c.period_s + (1 if c.window_s % c.period_s else 0)
        k = math.floor((now - self.start - c.delay_s) / c.period_s)
        while k >= first and self._visible_at(k) > now:
            k -= 1
        if k < first:
            return None
        return self._sample(k, now)


class SimulatedDriver(TrafficDriver):
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.settle_s = sim.config.settle_s
        self._applied = 0.0
        self.calls: list[tuple[float, float]] = []  # (clock time, rate asked): for tests

    def set_rate(self, qps: float) -> float:
        if qps < 0 or math.isnan(qps):
            raise TrafficDriverError(f"simulated driver: rate {qps} QPS refused (must be >= 0)")
        ceiling = self.sim.config.max_rate_qps
        applied = qps if ceiling is None else min(qps, ceiling)
        self.calls.append((self.sim.clock.now(), qps))
        self.sim._set_rate(applied)
        self._applied = applied
        return applied

    def applied_rate(self) -> float:
        return self._applied


class SimulatedSource(MetricSource):
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.lag_s = sim.config.delay_s + sim.config.window_s

    def read(self, now: float) -> Sample | None:
        return self.sim._read(now)


def plant_metrics(plant: PlantConfig, demand_qps: float) -> Sample:
    """The plant's steady metrics at a total demand: the simulator itself, without noise, drift or lag."""
    quiet = replace(
        plant, organic_qps=0.0, organic_swing_qps=0.0, organic_walk_qps=0.0, noise=0.0, delay_s=0.0, settle_s=0.0
    )
    clock = FakeClock()
    sim = Simulator(quiet, clock)
    sim.driver.set_rate(demand_qps)
    clock.advance(quiet.window_s + quiet.period_s)
    sample = sim.source.read(clock.now())
    assert sample is not None
    return sample


def highest_demand(plant: PlantConfig, ok: Callable[[Sample], bool]) -> float:
    """The highest total demand at which `ok(plant metrics)` holds (metrics worsen with demand), to 0.01 QPS."""
    low, high = 0.0, plant.knee_qps
    while ok(plant_metrics(plant, high)):
        low, high = high, 2 * high
    while high - low > 0.01:
        mid = (low + high) / 2
        low, high = (mid, high) if ok(plant_metrics(plant, mid)) else (low, mid)
    return low


def sustainable_demand(plant: PlantConfig, rules: Iterable[AbortRule], fraction: float = 1.0) -> float:
    """The highest total demand at which every rule's metric stays at or under `fraction` x its limit: with a
    capacity search's trip_fraction, the capacity it should find; with 1, where the abort limits begin."""
    rules = tuple(rules)
    return highest_demand(plant, lambda m: all(getattr(m, rule.metric) <= fraction * rule.limit for rule in rules))
