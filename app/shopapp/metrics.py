"""The Prometheus instruments of one app process, in a registry of its own.

Each process serves its own /metrics and Prometheus scrapes every process (no multiprocess mode).
A registry per application object, not the global one, so that tests can build several apps.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.process_collector import ProcessCollector

from shopapp.faults import FaultSwitch

# From 1 ms to 5 s: the app's own latency on loopback is a few ms, injected faults add up to seconds.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self, faults: FaultSwitch | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # CPU seconds and memory of the process: requests per second per core come from here.
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "shopapp_requests_total",
            "HTTP requests answered, by route template, method and status code.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.duration = Histogram(
            "shopapp_request_duration_seconds",
            "Time from request to response, injected latency included.",
            ("route",),
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.fault_latency = Gauge(
            "shopapp_fault_latency_seconds",
            "Extra latency the fault switch adds to each request now.",
            registry=self.registry,
        )
        self.fault_error_ratio = Gauge(
            "shopapp_fault_error_ratio",
            "Share of requests the fault switch answers with HTTP 500 now.",
            registry=self.registry,
        )
        self.fault_dynamic = Gauge(
            "shopapp_fault_dynamic",
            "1 while the dynamic fault (Redis key shopapp:fault) is in effect, else 0.",
            registry=self.registry,
        )
        self._faults = faults

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.duration.labels(route).observe(seconds)

    def exposition(self) -> bytes:
        if self._faults is not None:
            # Read at scrape time: the gauges show the fault in effect, expiry included.
            fault = self._faults.current()
            self.fault_latency.set(fault.latency_ms / 1000.0)
            self.fault_error_ratio.set(fault.error_ratio)
            self.fault_dynamic.set(1 if self._faults.source() == "dynamic" else 0)
        return generate_latest(self.registry)
