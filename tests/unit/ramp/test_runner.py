"""loadstack.ramp.runner: the loop around the controller: what it applies and reads back, when it checkpoints,
how it ends, and that it drains before any error leaves it."""

from __future__ import annotations

import itertools

import pytest

from loadstack.ramp.controller import RampController
from loadstack.ramp.runner import RampTickLimit, describe, run_ramp
from loadstack.ramp.samples import MetricSource, Sample
from loadstack.ramp.simulator import PlantConfig
from loadstack.ramp.traffic import TrafficDriverError


class FailingSource(MetricSource):
    """The simulator's source until `fail_at` (clock offset), then an error (a metrics API gone away)."""

    def __init__(self, rig, fail_at: float) -> None:
        self.rig, self.fail_at = rig, fail_at

    def read(self, now: float) -> Sample | None:
        if now - self.rig.start >= self.fail_at:
            raise ConnectionError("prometheus at 127.0.0.1:9090 refused the connection")
        return self.rig.sim.source.read(now)


def test_an_error_drains_first_then_leaves_unchanged(kit):
    rig = kit.Rig()
    controller = rig.controller()
    with pytest.raises(ConnectionError, match="refused the connection"):
        run_ramp(controller, rig.sim.driver, FailingSource(rig, 120), rig.control, rig.clock, lambda state: None)
    assert controller.state.buckets > 0  # the ramp had traffic on...
    assert rig.sim.driver.calls[-1] == (rig.start + 120, 0.0)  # ...and the runner took it away at once


def test_a_failed_drain_is_noted_on_the_original_error(kit):
    rig = kit.Rig()
    driver = rig.sim.driver

    def refuse_drain() -> None:
        raise TrafficDriverError("locust master at 127.0.0.1:8089 is gone")

    driver.drain = refuse_drain
    with pytest.raises(ConnectionError) as caught:
        run_ramp(rig.controller(), driver, FailingSource(rig, 30), rig.control, rig.clock, lambda state: None)
    assert any(
        "draining traffic after this error failed too" in note and "stop the load generator by hand" in note
        for note in caught.value.__notes__
    )


def test_a_failing_checkpoint_drains_and_fails_the_ramp(kit):
    rig = kit.Rig()

    def checkpoint(state) -> None:
        if rig.clock.now() - rig.start > 50:
            raise OSError("state bucket unreachable")

    with pytest.raises(OSError, match="state bucket unreachable"):
        run_ramp(rig.controller(), rig.sim.driver, rig.sim.source, rig.control, rig.clock, checkpoint)
    assert rig.sim.driver.applied_rate() == 0.0


def test_it_checkpoints_after_every_action_and_every_few_seconds(kit):
    rig = kit.Rig()
    controller = rig.controller()
    rig.run(controller, checkpoint_every_s=5.0)

    times = [t for t, _ in rig.checkpoints]
    actions = {d.at for d in kit.actions(controller)}
    assert actions <= set(times)
    assert max(b - a for a, b in itertools.pairwise(times)) <= 5.0 + 1.0
    assert rig.checkpoints[-1][1]["phase"] == "done"  # the last one is the end


def test_the_rate_the_driver_applied_is_read_back_into_the_decisions(kit):
    rig = kit.Rig(PlantConfig(**{**kit.QUIET.__dict__, "max_rate_qps": 500.0}))
    controller = rig.controller(kit.with_params(max_duration_s=200.0))
    rig.run(controller)
    capped = [d for d in kit.actions(controller, "step_up") if d.rate_qps > 500.0]
    assert capped and all(d.values["applied_qps"] == 500.0 for d in capped)


def test_the_outcome_names_success_or_failure_and_why(kit):
    rig = kit.Rig()
    outcome = rig.run(rig.controller())
    assert outcome.succeeded and outcome.phase == "done" and outcome.reason.startswith("held 60 s in band")
    assert outcome.to_json()["ticks"] == outcome.ticks and outcome.ended_at == rig.clock.now()

    rig = kit.Rig()
    rig.schedule((40, "terminate", "ana", "enough"))
    outcome = rig.run(rig.controller())
    assert not outcome.succeeded and outcome.phase == "terminated" and "enough" in outcome.reason


def test_the_controller_waits_at_least_the_drivers_settle_time(kit):
    rig = kit.Rig(PlantConfig(**{**kit.QUIET.__dict__, "settle_s": 3.0}))
    controller = RampController(kit.PARAMS, settle_s=1.0)
    rig.run(controller)
    assert controller.settle_s == 3.0


def test_a_bounded_loop_drains_when_it_runs_out_of_ticks(kit):
    rig = kit.Rig()
    with pytest.raises(RampTickLimit, match="did not end within 50 ticks"):
        rig.run(rig.controller(), max_ticks=50)
    assert rig.sim.driver.applied_rate() == 0.0


def test_every_decision_is_logged_on_one_line(kit):
    rig = kit.Rig()
    lines: list[str] = []
    controller = rig.controller()
    rig.run(controller, log=lines.append)
    assert len(lines) == len(controller.state.timeline.decisions)
    assert lines[0].startswith("[ramp] start stage 1, buckets 0 -> 0") and "\n" not in "".join(lines)
    assert describe(controller.state.timeline.decisions[-1]) == lines[-1]


def test_a_tick_must_take_time(kit):
    rig = kit.Rig()
    with pytest.raises(ValueError, match="tick_s must be > 0"):
        rig.run(rig.controller(), tick_s=0)


class KeepAliveLog:
    """Wraps the simulator's driver: records each tick's call (set_rate, keep_alive) on the fake clock."""

    def __init__(self, rig, fail_keep_alive_at: float | None = None) -> None:
        self.rig, self.inner, self.fail_at = rig, rig.sim.driver, fail_keep_alive_at
        self.set_rate = self._record("set_rate", self.inner.set_rate)
        self.applied_rate, self.settle_s = self.inner.applied_rate, self.inner.settle_s
        self.drain = self._record("drain", self.inner.drain)
        self.calls: list[tuple[float, str]] = []

    def _record(self, name, fn):
        def call(*args):
            self.calls.append((self.rig.clock.now(), name))
            return fn(*args)

        return call

    def keep_alive(self) -> None:
        now = self.rig.clock.now()
        self.calls.append((now, "keep_alive"))
        if self.fail_at is not None and now - self.rig.start >= self.fail_at:
            raise TrafficDriverError("LocustDriver: lost Locust worker 1 (PID 4242, exited) of the 2 worker(s)")


def test_every_tick_that_keeps_the_rate_calls_keep_alive(kit):
    rig = kit.Rig()
    driver = KeepAliveLog(rig)
    outcome = run_ramp(rig.controller(), driver, rig.sim.source, rig.control, rig.clock, lambda state: None)
    assert outcome.succeeded
    by_tick: dict[float, list[str]] = {}
    for at, name in driver.calls:
        by_tick.setdefault(at, []).append(name)
    # Exactly one of set_rate / keep_alive each tick (the last tick drains instead); before the first tick
    # one keep_alive: the loop's promise to renew (a lease may be taken from then on).
    ticks = sorted(by_tick)
    assert len(ticks) == outcome.ticks
    assert by_tick[ticks[0]] == ["keep_alive", "set_rate"]
    for at in ticks[1:-1]:
        assert by_tick[at] in (["set_rate"], ["keep_alive"]), (at, by_tick[at])
    assert by_tick[ticks[-1]] == ["drain"]
    assert sum(names == ["keep_alive"] for names in by_tick.values()) > outcome.ticks / 2


def test_a_keep_alive_that_finds_the_load_generator_broken_drains_and_fails_the_ramp(kit):
    rig = kit.Rig()
    driver = KeepAliveLog(rig, fail_keep_alive_at=60)
    with pytest.raises(TrafficDriverError, match="lost Locust worker 1"):
        run_ramp(rig.controller(), driver, rig.sim.source, rig.control, rig.clock, lambda state: None)
    assert driver.calls[-1][1] == "drain" and rig.sim.driver.applied_rate() == 0.0


def test_the_default_keep_alive_does_nothing(kit):
    rig = kit.Rig()
    assert rig.sim.driver.keep_alive() is None  # weight shifts and the simulator hold their rate until changed
