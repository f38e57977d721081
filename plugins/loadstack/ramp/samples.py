"""What a metric source reports: timestamped samples whose age the controller can judge.

Monitoring reports late (Prometheus: the `rate()` window plus up to a scrape interval; Locust's
workers: every ~3 s). A `Sample` therefore carries `at`, the earliest moment whose traffic it fully
reflects, so the controller never acts on traffic it has already changed. Every value may be None:
"no data" (no traffic, a NaN quantile, a source that did not answer) is unknown, never healthy and
never a breach.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class Sample:
    """Traffic as one source saw it.

    at:          epoch seconds; the sample reflects only traffic sent at or after this moment
                 (evaluation time minus the source's known lag), so it is usable for judging an
                 action taken at time t only when ``at >= t + settle``.
    taken_at:    epoch seconds when the source was read.
    qps:         total requests per second reaching the stack (organic baseline included).
    error_ratio: failed / total requests over the source's window, 0..1.
    p50_ms, p95_ms, p99_ms: latency quantiles over the window, milliseconds.
    window_s:    the span of traffic the values cover, from `at` (a rate window); None when the source
                 does not say. Knowing it, the controller can tell what it generated while the sample
                 was measured even when a step fell inside the window.
    """

    at: float
    taken_at: float
    qps: float | None = None
    error_ratio: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    window_s: float | None = None

    def age(self, now: float) -> float:
        return now - self.at

    @property
    def has_data(self) -> bool:
        return self.qps is not None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Sample":
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]


class MetricSource(ABC):
    """Where the controller reads traffic and health from (Locust counters, Prometheus, CloudWatch)."""

    #: Seconds between a change of traffic and the first sample that fully reflects it, as far as the
    #: source knows it (e.g. the rate window plus one scrape interval); samples' `at` already allow for it.
    lag_s: float = 0.0

    @abstractmethod
    def read(self, now: float) -> Sample | None:
        """The newest sample, or None when the source has nothing (yet) or did not answer."""

    def close(self) -> None:
        """Release what the source holds (connections); reading afterwards is an error."""
