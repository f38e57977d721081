"""`WeightSplit`: a rate wanted on the stack as integer weights for the stack's side against production's.

A load balancer splits live traffic by weight: a side gets weight / (sum of weights) of it. The
controller asks for a rate (QPS onto the stack); with the live QPS that reaches the load balancer
(organic traffic, an estimate the caller updates as it learns better) and the target's weight scale
(HAProxy 0..256, ALB target groups 0..999, Route 53 records 0..255), the split keeps the two sides'
weights summing to the scale's maximum, so one unit of weight is always live_qps / max_weight QPS: a
unit of weight is the routing bucket that moves. The weights are integers, so the rate they send is
not exactly the one asked: `Weights.qps` is what the rounded weights really send.

Production keeps at least `min_production_weight` (1) units whatever is asked: a shift never takes
all live traffic off production (the stack under test would become the only path, and on Route 53 a
group whose weights are all 0 is answered as if they were all equal). A rate that cannot be had is
clamped, and `Weights.clamp` says why.

Pure: no I/O; the drivers (haproxy, alb, route53) write and read the weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class WeightSplitError(ValueError):
    """A rate, a live QPS or a weight the split cannot use; the message names the target, the value and the fix."""


@dataclass(frozen=True)
class Weights:
    """One split: the weights for each side and the rate they send onto the stack.

    wanted_qps: the rate asked for the stack.
    qps:        the rate these weights send onto the stack at `live_qps` (live_qps x stack share).
    clamp:      why the wanted rate could not be had ("" when it could, up to rounding).
    """

    stack: int
    production: int
    wanted_qps: float
    qps: float
    live_qps: float
    clamp: str = ""

    @property
    def clamped(self) -> bool:
        return bool(self.clamp)

    @property
    def share(self) -> float:
        """The stack's share of the live traffic, 0..1."""
        total = self.stack + self.production
        return self.stack / total if total else 0.0


def check_weight(weight: int, max_weight: int, what: str) -> int:
    """A weight a target accepts: an integer in 0..max_weight (checked here: moto checks no range)."""
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= max_weight:
        raise WeightSplitError(f"{what} {weight!r} is not an integer in 0..{max_weight}")
    return weight


def _check_rate(value: float, what: str, target: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise WeightSplitError(f"{target}: {what} {value!r} is not a finite number >= 0 requests per second")
    return float(value)


class WeightSplit:
    """Converts rates onto the stack into weights on a scale 0..`max_weight`, for live traffic of `live_qps`.

    target: what the weights are for, named in every error and clamp (e.g. "HAProxy backend app").
    """

    def __init__(self, *, live_qps: float, max_weight: int, min_production_weight: int = 1, target: str) -> None:
        self.target = target
        if isinstance(max_weight, bool) or not isinstance(max_weight, int) or max_weight < 2:
            raise WeightSplitError(f"{target}: max_weight {max_weight!r} must be an integer >= 2 (the weight scale)")
        if (
            isinstance(min_production_weight, bool)
            or not isinstance(min_production_weight, int)
            or not 1 <= min_production_weight < max_weight
        ):
            raise WeightSplitError(
                f"{target}: min_production_weight {min_production_weight!r} must be an integer in 1..{max_weight - 1}: "
                "production always keeps some weight"
            )
        self.max_weight = max_weight
        self.min_production_weight = min_production_weight
        self._live_qps = _check_rate(live_qps, "live_qps", target)

    def __repr__(self) -> str:
        return f"WeightSplit({self.target!r}, live_qps={self._live_qps:g}, max_weight={self.max_weight})"

    @property
    def live_qps(self) -> float:
        """The live (organic) QPS the load balancer splits: an estimate; set it when a better one is known."""
        return self._live_qps

    @live_qps.setter
    def live_qps(self, value: float) -> None:
        self._live_qps = _check_rate(value, "live_qps", self.target)

    @property
    def max_stack_weight(self) -> int:
        return self.max_weight - self.min_production_weight

    @property
    def qps_per_weight(self) -> float:
        """The rate one unit of weight moves (the finest step a shift can make)."""
        return self._live_qps / self.max_weight

    @property
    def max_qps(self) -> float:
        """The most the stack can get while production keeps its minimum weight."""
        return self.qps_for(self.max_stack_weight, self.min_production_weight)

    def qps_for(self, stack: int, production: int) -> float:
        """The rate weights `stack` against `production` send onto the stack (0 when both are 0).

        Takes any non-negative weights, not only this split's (a read-back may find what somebody else set).
        """
        for what, weight in (("stack weight", stack), ("production weight", production)):
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
                raise WeightSplitError(f"{self.target}: {what} {weight!r} is not an integer >= 0")
        total = stack + production
        return self._live_qps * stack / total if total else 0.0

    def weights_for(self, qps: float) -> Weights:
        """The weights nearest to `qps` onto the stack; clamped (and saying why) when they cannot send it."""
        wanted = _check_rate(qps, "the wanted rate", self.target)
        clamp = ""
        if wanted == 0:
            stack = 0
        elif self._live_qps == 0:
            stack = 0
            clamp = (
                f"{self.target}: {wanted:g} QPS wanted but the live traffic is 0 QPS, so no weight sends any; "
                "set live_qps to the traffic the load balancer really receives"
            )
        else:
            # Half up, not Python's half-to-even: the same rate always gives the same weight.
            stack = math.floor(wanted / self._live_qps * self.max_weight + 0.5)
            if stack > self.max_stack_weight:
                stack = self.max_stack_weight
                clamp = (
                    f"{self.target}: {wanted:g} QPS wanted but production keeps at least {self.min_production_weight} "
                    f"of {self.max_weight} weight, so at most {self.max_qps:g} of the {self._live_qps:g} live QPS can "
                    "move onto the stack; lower the target or send more live traffic through the load balancer"
                )
        production = self.max_weight - stack
        return Weights(
            stack=stack,
            production=production,
            wanted_qps=wanted,
            qps=self.qps_for(stack, production),
            live_qps=self._live_qps,
            clamp=clamp,
        )
