"""Ramp test rigs: the controller and its runner over the simulator, on a fake clock (no sleeping).

Test modules are imported by path, so they reach these helpers through the `kit` fixture: `kit.PARAMS`,
`kit.QUIET` (a plant without noise or drift: exact, for the logic), `kit.NOISY` (the benchmark's plant:
Poisson-like noise, drifting organic traffic, a 10 s rate window), `kit.Rig` (a simulator, a control
source and the checkpoints `run_ramp` hands over), `kit.with_params`, `kit.actions`.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest

from loadstack.ramp.clock import FakeClock
from loadstack.ramp.control import ControlAction, ControlRecord, ControlSource, MemoryControl
from loadstack.ramp.controller import RampController
from loadstack.ramp.params import AbortRule, RampParams
from loadstack.ramp.runner import RampOutcome, run_ramp
from loadstack.ramp.simulator import PlantConfig, Simulator
from loadstack.ramp.state import RampState

PARAMS = RampParams(
    target_qps=1000.0,
    threshold_qps=50.0,
    bucket_qps=10.0,
    bucket_group=10,
    group_interval_s=15.0,
    bucket_interval_s=5.0,
    hold_s=60.0,
    max_staleness_s=40.0,
    no_data_limit_s=60.0,
    organic_qps=200.0,
    abort_rules=(AbortRule("error_ratio", 0.05, 5.0), AbortRule("error_ratio", 0.5, 0.0)),
)
QUIET = PlantConfig(
    seed=1, organic_qps=200.0, organic_swing_qps=0.0, organic_walk_qps=0.0, noise=0.0, window_s=5, settle_s=1.0
)
NOISY = PlantConfig(seed=7, window_s=10, settle_s=1.0)


def with_params(**changes: Any) -> RampParams:
    return dataclasses.replace(PARAMS, **changes)


class ScheduledControl(ControlSource):
    """A human at the controls: each (time offset, action, by, reason) becomes the current record at its time."""

    def __init__(self, clock: FakeClock, start: float, plan: list[tuple[float, ControlAction, str, str]]) -> None:
        self.clock, self.start, self.plan = clock, start, sorted(plan, key=lambda step: step[0])
        self.record: ControlRecord | None = None
        self._next = 0

    def read(self) -> ControlRecord | None:
        while self._next < len(self.plan) and self.plan[self._next][0] <= self.clock.now() - self.start:
            offset, action, by, reason = self.plan[self._next]
            self.record = ControlRecord.following(self.record, action, at=self.start + offset, by=by, reason=reason)
            self._next += 1
        return self.record


class Rig:
    """A simulator on a fake clock, a control source, and the checkpoints the runner hands over."""

    def __init__(self, plant: PlantConfig = QUIET, *, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.sim = Simulator(plant, self.clock)
        self.control: ControlSource = MemoryControl()
        self.checkpoints: list[tuple[float, dict[str, Any]]] = []

    @property
    def start(self) -> float:
        return self.sim.start

    def controller(self, params: RampParams = PARAMS, state: RampState | None = None) -> RampController:
        return RampController(params, state)

    def run(self, controller: RampController, *, max_ticks: int = 5000, **kwargs: Any) -> RampOutcome:
        return run_ramp(
            controller,
            self.sim.driver,
            self.sim.source,
            self.control,
            self.clock,
            lambda state: self.checkpoints.append((self.clock.now(), state)),
            max_ticks=max_ticks,
            **kwargs,
        )

    def schedule(self, *plan: tuple[float, ControlAction, str, str]) -> None:
        self.control = ScheduledControl(self.clock, self.start, list(plan))


def actions(controller: RampController, *kinds: str) -> list:
    """The controller's decisions of these kinds (all but waits when none are given)."""
    decisions = controller.state.timeline.decisions
    if kinds:
        return [d for d in decisions if d.action in kinds]
    return [d for d in decisions if d.action != "wait"]


@pytest.fixture
def kit() -> SimpleNamespace:
    return SimpleNamespace(
        PARAMS=PARAMS,
        QUIET=QUIET,
        NOISY=NOISY,
        Rig=Rig,
        ScheduledControl=ScheduledControl,
        with_params=with_params,
        actions=actions,
    )
