"""loadstack.ramp.simulator: a deterministic plant: rate in, delayed windowed samples out, and its faults."""

from __future__ import annotations

import dataclasses

import pytest

from loadstack.ramp.clock import FakeClock
from loadstack.ramp.params import AbortRule
from loadstack.ramp.simulator import PlantConfig, Simulator, plant_metrics, sustainable_demand
from loadstack.ramp.traffic import TrafficDriverError

QUIET = PlantConfig(organic_qps=100.0, organic_swing_qps=0.0, organic_walk_qps=0.0, noise=0.0, window_s=5, settle_s=1.0)


def run(sim: Simulator, seconds: float) -> None:
    sim.clock.sleep(seconds)


def test_the_same_seed_gives_the_same_samples_and_another_seed_others():
    def samples(seed: int) -> list:
        clock = FakeClock()
        sim = Simulator(PlantConfig(seed=seed), clock)
        sim.driver.set_rate(300.0)
        out = []
        for _ in range(60):
            clock.sleep(1.0)
            out.append(sim.source.read(clock.now()))
        return out

    assert samples(4) == samples(4)
    assert samples(4) != samples(5)


def test_a_sample_covers_its_window_and_arrives_after_the_delay():
    clock = FakeClock()
    sim = Simulator(dataclasses.replace(QUIET, delay_s=10.0), clock)
    assert sim.source.read(clock.now()) is None  # nothing measured yet
    run(sim, 30)
    sample = sim.source.read(clock.now())
    assert sample.at == clock.now() - 10 - 5 and sample.window_s == 5.0 and sample.taken_at == clock.now()
    assert sample.qps == 100.0 and sample.age(clock.now()) == sim.source.lag_s == 15.0


def test_a_rate_reaches_the_samples_after_the_settle_time():
    clock = FakeClock()
    sim = Simulator(QUIET, clock)
    run(sim, 10)
    assert sim.driver.set_rate(200.0) == 200.0 and sim.driver.applied_rate() == 200.0
    changed_at = clock.now() + 1.0
    run(sim, 20)
    for back in range(15):
        sample = sim.source.read(clock.now() - back)
        if sample.at >= changed_at:
            assert sample.qps == 300.0
        elif sample.at + 5 <= changed_at:
            assert sample.qps == 100.0
        else:
            assert 100.0 < sample.qps < 300.0  # the window straddles the change


def test_above_the_knee_errors_and_latency_rise():
    clock = FakeClock()
    sim = Simulator(dataclasses.replace(QUIET, knee_qps=500.0), clock)
    sim.driver.set_rate(300.0)
    run(sim, 20)
    calm = sim.source.read(clock.now())
    sim.driver.set_rate(600.0)
    run(sim, 20)
    loaded = sim.source.read(clock.now())
    assert calm.error_ratio == pytest.approx(0.001) and loaded.error_ratio > 0.3
    assert loaded.p99_ms > 3 * calm.p99_ms and calm.p50_ms < calm.p95_ms < calm.p99_ms


def test_an_error_burst_shows_from_its_start():
    clock = FakeClock()
    sim = Simulator(QUIET, clock)
    sim.inject_error_burst(clock.now() + 20, error_ratio=0.3, latency_factor=4.0)
    run(sim, 40)
    before = sim.source.read(clock.now() - 21)
    after = sim.source.read(clock.now())
    assert before.error_ratio == pytest.approx(0.001)
    assert after.error_ratio == pytest.approx(0.301) and after.p99_ms == pytest.approx(4 * before.p99_ms)


def test_a_stalled_pipeline_serves_ageing_samples_then_catches_up():
    clock = FakeClock()
    sim = Simulator(QUIET, clock)
    sim.stall_metrics(clock.now() + 20, clock.now() + 60)
    run(sim, 50)
    stuck = sim.source.read(clock.now())
    assert stuck.age(clock.now()) > 30
    run(sim, 15)
    assert sim.source.read(clock.now()).age(clock.now()) == 5.0


def test_a_blackout_answers_nothing_or_a_sample_without_data():
    clock = FakeClock()
    sim = Simulator(QUIET, clock)
    sim.blackout(clock.now() + 10, clock.now() + 20)
    sim.blackout(clock.now() + 20, clock.now() + 30, answer="empty")
    run(sim, 15)
    assert sim.source.read(clock.now()) is None
    run(sim, 10)
    empty = sim.source.read(clock.now())
    assert empty is not None and not empty.has_data and empty.error_ratio is None
    run(sim, 10)
    assert sim.source.read(clock.now()).qps == 100.0


def test_organic_traffic_can_shift():
    clock = FakeClock()
    sim = Simulator(QUIET, clock)
    sim.shift_organic(clock.now() + 10, 50.0)
    run(sim, 30)
    assert sim.source.read(clock.now()).qps == 150.0


def test_the_driver_refuses_a_negative_rate_and_caps_at_its_ceiling():
    sim = Simulator(dataclasses.replace(QUIET, max_rate_qps=250.0), FakeClock())
    with pytest.raises(TrafficDriverError, match="rate -1.0 QPS refused"):
        sim.driver.set_rate(-1.0)
    assert sim.driver.set_rate(400.0) == 250.0 and sim.driver.applied_rate() == 250.0
    sim.driver.close()
    assert sim.driver.applied_rate() == 0.0


def test_a_plant_needs_whole_second_windows():
    with pytest.raises(ValueError, match="whole seconds"):
        PlantConfig(window_s=2.5)


def test_sustainable_demand_is_where_the_plant_metrics_cross_the_limits():
    plant = PlantConfig(seed=1, knee_qps=1000.0)
    rules = (AbortRule("error_ratio", 0.05, 5.0),)
    # Errors grow 2 % per 1 % of overload from a base of 0.001: 0.05 at 1 + 0.049 / 2 of the knee.
    assert sustainable_demand(plant, rules) == pytest.approx(1000.0 * (1 + 0.049 / 2), abs=0.05)
    assert sustainable_demand(plant, rules, 0.8) < sustainable_demand(plant, rules)
    steady = plant_metrics(plant, 500.0)
    assert steady.qps == pytest.approx(500.0) and steady.error_ratio == pytest.approx(plant.base_error_ratio)
