"""Time as the ramp sees it: `now()` and `sleep(s)`, real or simulated.

The controller takes `now` as an argument and never reads a clock itself; the runner loop reads one.
A real ramp runs on `SystemClock`; tests, the simulator and the benchmark run on `FakeClock`, whose
`sleep` only moves time forward, so a 20-minute ramp takes milliseconds and every run is repeatable.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod


class Clock(ABC):
    @abstractmethod
    def now(self) -> float:
        """Epoch seconds."""

    @abstractmethod
    def sleep(self, seconds: float) -> None:
        """Let `seconds` pass."""


class SystemClock(Clock):
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FakeClock(Clock):
    """Simulated time: starts at `start` and advances only through `sleep` (or `advance`)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"FakeClock.sleep: cannot sleep a negative time ({seconds} s)")
        self._now += seconds

    advance = sleep
