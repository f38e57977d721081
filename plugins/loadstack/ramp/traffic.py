"""How the controller changes traffic: a `TrafficDriver` sets the generated request rate.

A driver turns a rate (requests per second, an exact open-model rate, not a user count) into load:
Locust users with `constant_throughput`, load-balancer weights (issue 9), a simulator's plant. The
controller thinks in buckets; the driver only ever sees QPS.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class TrafficDriverError(RuntimeError):
    """The driver could not apply or read back a rate (load generator gone, API refused)."""


class TrafficDriver(ABC):
    #: Seconds a rate change takes to reach the stack's traffic (Locust: its shape tick, ~1 s;
    #: Route 53: at least the record's TTL). The controller waits this long plus the metric lag.
    settle_s: float = 0.0

    @abstractmethod
    def set_rate(self, qps: float) -> float:
        """Ask for `qps` generated requests per second; returns the rate the driver actually applied."""

    @abstractmethod
    def applied_rate(self) -> float:
        """The rate in effect now, read back from the load generator (not what was last asked)."""

    def keep_alive(self) -> None:
        """Called once before a ramp's first tick (its caller will renew: a lease may be taken from then on),
        then every tick the rate does not change: a driver whose load generator stops on its own unless
        it hears from the ramp (Locust's rate lease) renews here, and may raise if its generator is broken.
        Default: nothing to do (weight shifts hold until changed)."""

    def drain(self) -> None:
        """Take all generated traffic away (rate 0); safe to call more than once and after a failure."""
        self.set_rate(0.0)

    def close(self) -> None:
        """Stop what the driver started (drains first); whatever the ramp starts it stops."""
        self.drain()
