"""The fault switch: extra latency and a share of HTTP 500s, off unless configured.

Two sources:
- static, from the environment (SHOPAPP_FAULT_LATENCY_MS, SHOPAPP_FAULT_ERROR_RATIO), fixed for the
  life of the process;
- dynamic, the Redis key ``shopapp:fault`` holding JSON ``{"latency_ms": float, "error_ratio": float,
  "until": epoch seconds | null}``, read by every process about once a second, so one SET reaches
  every process behind the load balancer.

While a valid dynamic fault is present and its `until` has not passed, it replaces the static one;
when the key is deleted or expires (or `until` passes) the static fault applies again. A malformed
key is ignored (the static fault applies) and reported once in the log. While Redis cannot be read,
the last dynamic fault read stays in effect until its `until`: a fault meant to cause a breach must
not vanish because the cache it lives in is also having trouble.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

FAULT_KEY = "shopapp:fault"
MAX_LATENCY_MS = 60_000.0


@dataclass(frozen=True)
class Fault:
    latency_ms: float = 0.0
    error_ratio: float = 0.0
    until: float | None = None  # epoch seconds; None: until removed

    @property
    def active(self) -> bool:
        return self.latency_ms > 0 or self.error_ratio > 0

    def expired(self, now: float) -> bool:
        return self.until is not None and now >= self.until


OFF = Fault()


def parse_fault(raw: bytes | str) -> Fault:
    """A dynamic fault from the JSON in the Redis key; ValueError says what is wrong with it."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{FAULT_KEY} is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{FAULT_KEY} must be a JSON object, not {type(data).__name__}")  # noqa: TRY004 - bad content, one error type
    unknown = sorted(set(data) - {"latency_ms", "error_ratio", "until"})
    if unknown:
        raise ValueError(f"{FAULT_KEY} has unknown field(s) {', '.join(unknown)}: use latency_ms, error_ratio, until")

    def number(field: str, low: float, high: float) -> float:
        value = data.get(field, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{FAULT_KEY}.{field} must be a number, not {value!r}")
        if not low <= value <= high:
            raise ValueError(f"{FAULT_KEY}.{field}={value!r} must lie between {low:g} and {high:g}")
        return float(value)

    until = data.get("until")
    if until is not None and (
        isinstance(until, bool) or not isinstance(until, (int, float)) or not math.isfinite(until)
    ):
        raise ValueError(f"{FAULT_KEY}.until must be epoch seconds or null, not {until!r}")
    return Fault(
        latency_ms=number("latency_ms", 0, MAX_LATENCY_MS),
        error_ratio=number("error_ratio", 0, 1),
        until=None if until is None else float(until),
    )


class FaultSwitch:
    """The fault in effect for this process: the dynamic one while valid, else the static one.

    `read_dynamic` returns the raw key (None when absent); `refresh` calls it, `run` does so every
    `interval` seconds until cancelled. `decide` is called once per request.
    """

    def __init__(
        self,
        static: Fault,
        read_dynamic: Callable[[], Awaitable[bytes | str | None]],
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.static = static
        self.interval = interval
        self._read_dynamic = read_dynamic
        self._clock = clock
        self._random = (rng or random.Random()).random
        self._dynamic: Fault | None = None
        self._last_problem: str | None = None

    @property
    def dynamic(self) -> Fault | None:
        """The dynamic fault in effect, or None (absent, malformed or expired)."""
        if self._dynamic is not None and self._dynamic.expired(self._clock()):
            return None
        return self._dynamic

    def current(self) -> Fault:
        dynamic = self.dynamic
        return self.static if dynamic is None else dynamic

    def source(self) -> str:
        """ "dynamic", "static" or "none": where the fault in effect comes from."""
        if self.dynamic is not None:
            return "dynamic"
        return "static" if self.static.active else "none"

    def decide(self) -> tuple[float, bool]:
        """(seconds of extra latency, whether to fail with 500) for one request."""
        fault = self.current()
        fail = fault.error_ratio > 0 and self._random() < fault.error_ratio
        return fault.latency_ms / 1000.0, fail

    async def refresh(self) -> None:
        try:
            raw = await self._read_dynamic()
        except Exception as exc:  # noqa: BLE001 - any failure to read keeps the last known fault
            self._report(f"cannot read {FAULT_KEY} ({type(exc).__name__}: {exc}); keeping the last fault read")
            return
        if raw is None:
            self._dynamic = None
            self._last_problem = None
            return
        try:
            self._dynamic = parse_fault(raw)
            self._last_problem = None
        except ValueError as exc:
            self._dynamic = None
            self._report(f"ignoring {exc}; the static fault applies")

    def _report(self, problem: str) -> None:
        if problem != self._last_problem:  # once per distinct problem, not once a second
            log.warning("%s", problem)
            self._last_problem = problem

    async def run(self) -> None:
        """Refresh every `interval` seconds until cancelled."""
        while True:
            await self.refresh()
            await asyncio.sleep(self.interval)
