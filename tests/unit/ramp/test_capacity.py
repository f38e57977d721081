"""loadstack.ramp.capacity over the simulator: the capacity found against the plant's known one, time above the
abort limits, "no data", pause / resume / terminate, checkpoints and retries, and its parameters."""

from __future__ import annotations

import dataclasses
import json

import pytest

from loadstack.ramp.capacity import CapacityParams, CapacitySearch, CapacityState
from loadstack.ramp.clock import FakeClock
from loadstack.ramp.params import AbortRule
from loadstack.ramp.runner import run_ramp
from loadstack.ramp.samples import MetricSource, Sample
from loadstack.ramp.simulator import PlantConfig, Simulator, highest_demand, plant_metrics, sustainable_demand

RULES = (AbortRule("error_ratio", 0.05, 5.0), AbortRule("error_ratio", 0.5, 0.0), AbortRule("p99_ms", 1000.0, 10.0))
PARAMS = CapacityParams(start_qps=50.0, abort_rules=RULES, bucket_qps=1.0, precision_ratio=0.01, max_qps=5000.0)
TICK_S = 1.0


def known_capacity(plant: PlantConfig, params: CapacityParams) -> float:
    """The highest total QPS the plant serves with every rule's metric at or under its trip level."""
    return sustainable_demand(plant, params.abort_rules, params.trip_fraction)


def hard_limit_demand(plant: PlantConfig, params: CapacityParams) -> float:
    """The lowest total QPS at which some rule's metric reaches its abort limit itself."""
    return sustainable_demand(plant, params.abort_rules)


class Search:
    """A capacity search over a simulated plant on a fake clock, driven by the ramp runner."""

    def __init__(self, plant: PlantConfig, params: CapacityParams = PARAMS, *, source: MetricSource | None = None):
        self.plant = plant
        self.params = params
        self.clock = FakeClock()
        self.sim = Simulator(plant, self.clock)
        self.source = source or self.sim.source
        self.control = None
        self.checkpoint: dict | None = None

    def run(self, search: CapacitySearch | None = None, *, max_ticks: int = 20_000, checkpoint=None):
        self.search = search or CapacitySearch(self.params)
        outcome = run_ramp(
            self.search,  # duck-typed: run_ramp drives anything with its controller's tick, state and settle_s
            self.sim.driver,
            self.source,
            self.control,
            self.clock,
            checkpoint or self.keep,
            TICK_S,
            max_ticks=max_ticks,
        )
        return outcome

    def keep(self, state: dict) -> None:
        self.checkpoint = state

    def decisions(self, *actions: str) -> list:
        return [d for d in self.search.state.timeline.decisions if not actions or d.action in actions]


NOISY = PlantConfig(seed=1, window_s=10, settle_s=1.0)
QUIET = PlantConfig(seed=1, organic_swing_qps=0.0, organic_walk_qps=0.0, noise=0.0, window_s=10, settle_s=1.0)


# --- the capacity found -------------------------------------------------------------------------------------
def test_known_capacity_comes_from_the_plant_and_the_trip_rule():
    known = known_capacity(NOISY, PARAMS)
    # Errors grow 2 % per 1 % of overload: error_ratio reaches 0.8 x 0.05 at 1 + (0.04 - 0.001) / 2 of the knee.
    assert known == pytest.approx(NOISY.knee_qps * (1 + (0.04 - NOISY.base_error_ratio) / 2), abs=0.05)
    assert known_capacity(NOISY, dataclasses.replace(PARAMS, trip_fraction=1.0)) > known


@pytest.mark.parametrize("delay_s", [0.0, 10.0, 30.0])
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_finds_the_plant_capacity_within_2_percent(delay_s, seed):
    plant = dataclasses.replace(NOISY, seed=seed, delay_s=delay_s)
    run = Search(plant)
    outcome = run.run()
    result = run.search.result(run.clock.now())
    known = known_capacity(plant, PARAMS)
    assert outcome.succeeded and outcome.phase == "done", outcome.reason
    assert result.found and result.limited_by == "precision"
    assert abs(result.capacity_qps - known) / known <= 0.02, (result.capacity_qps, known)
    assert result.precision_qps <= PARAMS.precision_ratio * result.capacity_qps
    assert result.bracket_qps[1] - result.bracket_qps[0] == pytest.approx(result.precision_qps)
    assert result.capacity_qps in result.bracket_qps
    assert run.sim.driver.applied_rate() == 0.0  # drained
    assert [s["verdict"] for s in result.steps].count("healthy") >= 2
    assert result.duration_s == pytest.approx(run.clock.now() - run.sim.start)
    # The stored result is the one reported, and the ending decision carries its numbers.
    assert run.search.state.result == result.to_json()
    done = run.decisions("done")[0]
    assert done.values["capacity_qps"] == pytest.approx(result.capacity_qps, abs=1e-3)
    assert "QPS sustainable" in done.reason and "knee at" in done.reason


def test_the_search_grows_then_bisects_and_each_level_waits_for_settled_samples():
    run = Search(dataclasses.replace(QUIET, delay_s=10.0))
    run.run()
    moves = run.decisions("step_up", "step_down")
    growth = [d for d in moves if d.stage == 1]
    assert [d.rate_qps for d in growth] == [100.0, 200.0, 400.0, 800.0, 1600.0]
    assert all(d.stage in (2, 3) for d in moves[len(growth) :])
    lag = QUIET.window_s + 10.0
    for before, after in zip([run.decisions("start")[0], *moves], moves):
        waited = after.at - before.at
        if after.action == "step_up":  # a healthy verdict: the settle time, the lag and the dwell, at least
            assert waited >= QUIET.settle_s + lag + PARAMS.judged_span_s
        # A sample before the change + settle was never acted on.
        assert after.sample_at >= before.at + QUIET.settle_s or after.action == "step_down"
        assert after.sample_age_s is not None and after.values["level_samples"] >= 0
        assert after.thresholds["trip error_ratio > 0.05 for 5 s"] == pytest.approx(0.04)


def test_a_sustained_run_above_the_trip_level_is_unhealthy_before_the_limit():
    # Latency only: p99 trips at 800 ms, 1.5 x the knee here; its abort limit (1000 ms) is further up.
    params = dataclasses.replace(PARAMS, abort_rules=(AbortRule("p99_ms", 1000.0, 10.0),), start_qps=400.0)
    plant = dataclasses.replace(NOISY, delay_s=10.0)
    run = Search(plant, params)
    assert run.run().succeeded
    known = known_capacity(plant, params)
    assert known > 1.5 * plant.knee_qps
    assert abs(run.search.state.result["capacity_qps"] - known) / known <= 0.02
    sustained = [lv for lv in run.search.state.levels if "above the trip level 800" in lv.reason]
    assert sustained and all(lv.verdict == "unhealthy" for lv in sustained)


def test_a_step_up_above_a_limit_is_left_before_a_fully_settled_sample():
    plant = dataclasses.replace(QUIET, delay_s=10.0)
    run = Search(plant)
    run.run()
    up = next(d for d in run.decisions("step_up") if d.rate_qps == 1600.0)
    down = next(d for d in run.decisions("step_down") if d.at > up.at)
    # A sample holding 1600 QPS alone is read settle + window + delay after the step; the partly settled ones
    # before it already show the rest of their window (800 QPS, healthy) could not reach the limit alone.
    assert down.at - up.at < plant.settle_s + plant.window_s + plant.delay_s
    assert "a sample partly after the step up" in down.reason


def test_a_new_level_at_the_rate_already_flowing_is_judged_on_that_traffic_at_once():
    # A confirmation may start a new level at the rate already flowing: no traffic changes, so a sample of it
    # that shows a breach must end the level at once, not wait out a settle time and a window (CI once held
    # 820 QPS for 22.7 s past a sample above its p99 limit that way).
    search = CapacitySearch(PARAMS, settle_s=2.0)
    search.tick(0.0, None)  # the first level: 50 QPS, settled from 2 s
    search._move(5.0, search.state.buckets, "the same rate, a new level", None, {})
    breach = Sample(at=3.0, taken_at=8.0, qps=50.0, error_ratio=0.6, p99_ms=20.0, window_s=5.0)
    result = search.tick(8.0, breach)
    assert search.state.levels[-2].verdict == "unhealthy", search.state.levels[-2]
    assert [d.action for d in result.decisions] == ["step_down"]
    assert "above the abort limit" in result.decisions[0].reason


@pytest.mark.parametrize("delay_s", [0.0, 10.0, 30.0])
@pytest.mark.parametrize("growth", [2.0, 4.0])
def test_load_above_an_abort_limit_never_stays_longer_than_one_interval(delay_s, growth):
    plant = dataclasses.replace(QUIET, delay_s=delay_s)
    params = dataclasses.replace(PARAMS, growth=growth)
    run = Search(plant, params)
    assert run.run().succeeded
    limit = hard_limit_demand(plant, params) - plant.organic_qps  # the generated rate at which a limit is reached
    # One interval: until the first sample fully reflecting the level is read (settle, rate window, delay, a
    # tick), plus the settle time of the rate that replaces it.
    interval = plant.settle_s + plant.window_s + delay_s + TICK_S + plant.settle_s
    calls = run.sim.driver.calls
    above = [(at, nxt[0]) for (at, rate), nxt in zip(calls, calls[1:]) if rate > limit]
    assert above, "the search never went above a limit: the test proves nothing"
    for since, until in above:
        assert until - since <= interval - plant.settle_s, (since - run.sim.start, until - since)


# --- no data --------------------------------------------------------------------------------------------------
class DroppingSource(MetricSource):
    """The simulator's source with some metrics (or every value) gone between two clock offsets."""

    def __init__(self, run: Search, start: float, until: float, drop: tuple[str, ...]) -> None:
        self.run, self.start, self.until, self.drop = run, start, until, drop
        self.lag_s = run.sim.source.lag_s

    def read(self, now: float) -> Sample | None:
        sample = self.run.sim.source.read(now)
        if sample is not None and self.start <= now - self.run.sim.start < self.until:
            sample = dataclasses.replace(sample, **{k: None for k in self.drop})
        return sample


def test_a_metric_without_data_is_never_healthy_and_never_a_breach():
    plant = QUIET
    run = Search(plant)
    run.source = DroppingSource(run, 0.0, 1e9, ("error_ratio",))
    outcome = run.run()
    assert not outcome.succeeded and outcome.phase == "aborted"
    assert "no value of error_ratio" in outcome.reason and "no_data_limit_s is 90 s" in outcome.reason
    # Neither a step up (healthy) nor a step down (a breach) in all that time.
    assert run.decisions("step_up", "step_down") == []
    assert run.search.state.levels[-1].verdict == "interrupted"
    assert run.sim.driver.applied_rate() == 0.0


@pytest.mark.parametrize("answer", ["none", "empty"])
def test_a_blackout_holds_the_rate_without_a_verdict(answer):
    run = Search(QUIET)
    run.sim.blackout(run.sim.start + 5, run.sim.start + 65, answer=answer)
    outcome = run.run()
    assert outcome.succeeded
    first_move = run.decisions("step_up", "step_down")[0]
    assert first_move.at >= run.sim.start + 65 and first_move.action == "step_up"
    waits = [d for d in run.decisions("wait") if d.values.get("wait") == "no_data"]
    assert waits and all(d.rate_qps == 50.0 for d in waits)


def test_no_sample_for_the_no_data_limit_aborts_and_drains():
    run = Search(QUIET)
    run.sim.blackout(run.sim.start + 100, run.sim.start + 10_000)
    outcome = run.run()
    assert outcome.phase == "aborted" and "no usable sample for 91 s (no sample)" in outcome.reason
    assert "highest healthy level 600.0 QPS (400 generated), lowest unhealthy none" in outcome.reason
    assert run.sim.driver.applied_rate() == 0.0


# --- control --------------------------------------------------------------------------------------------------
class Timed:
    """A human at the controls: actions at clock offsets."""

    def __init__(self, run: Search, plan: list[tuple[float, str]]) -> None:
        from loadstack.ramp.control import ControlRecord

        self.run, self.plan, self.record, self.make = run, plan, None, ControlRecord.following

    def read(self):
        now = self.run.clock.now() - self.run.sim.start
        while self.plan and self.plan[0][0] <= now:
            offset, action = self.plan.pop(0)
            self.record = self.make(self.record, action, at=self.run.sim.start + offset, by="sre", reason="watching")
        return self.record


def test_pause_holds_the_rate_and_resume_carries_on():
    run = Search(QUIET)
    run.control = Timed(run, [(30.0, "pause"), (300.0, "resume")])
    outcome = run.run()
    assert outcome.succeeded
    pause, resume = run.decisions("pause")[0], run.decisions("resume")[0]
    during = [d for d in run.decisions("step_up", "step_down") if pause.at <= d.at < resume.at]
    assert during == []
    assert all(rate == 50.0 for at, rate in run.sim.driver.calls if pause.at <= at < resume.at)
    assert [d for d in run.decisions("step_up") if d.at >= resume.at][0].at == resume.at  # judged healthy meanwhile
    assert known_capacity(QUIET, PARAMS) * 0.98 <= run.search.state.result["capacity_qps"]


def test_an_unhealthy_level_backs_off_while_paused_and_stays_paused():
    run = Search(QUIET)
    # Paused a second after the growth stage stepped from 800 to 1600 QPS (at 105 s), before any verdict on 1600.
    run.control = Timed(run, [(106.0, "pause"), (400.0, "resume")])
    outcome = run.run()
    assert outcome.succeeded
    pause, resume = run.decisions("pause")[0], run.decisions("resume")[0]
    assert pause.rate_qps == 1600.0
    moves = [d for d in run.decisions("step_up", "step_down") if pause.at <= d.at < resume.at]
    assert [(d.action, d.rate_qps) for d in moves] == [("step_down", 800.0)]  # the highest healthy rate
    assert "while paused" in moves[0].reason and "staying paused" in moves[0].reason
    assert moves[0].at - pause.at <= QUIET.settle_s + QUIET.window_s + TICK_S
    assert run.search.state.result["capacity_qps"] >= 0.98 * known_capacity(QUIET, PARAMS)


def test_a_healthy_level_held_by_a_pause_is_still_watched():
    run = Search(QUIET)
    run.control = Timed(run, [(50.0, "pause"), (400.0, "resume")])
    run.sim.shift_organic(run.sim.start + 100, 1200.0)  # 200 generated + 1400 organic: unhealthy; 100 + 1400 not
    outcome = run.run()
    pause, resume = run.decisions("pause")[0], run.decisions("resume")[0]
    moves = [d for d in run.decisions("step_up", "step_down") if pause.at <= d.at < resume.at]
    # Back to the total of the highest healthy level (300 QPS) as far as the organic traffic is known by then.
    assert [d.action for d in moves] == ["step_down"] and moves[0].rate_qps < 200.0
    assert moves[0].at > run.sim.start + 100 and "the highest healthy level, and staying paused" in moves[0].reason
    assert outcome.succeeded
    known = known_capacity(dataclasses.replace(QUIET, organic_qps=1400.0), PARAMS)
    assert abs(run.search.state.result["capacity_qps"] - known) / known <= 0.02


def test_terminate_drains_and_fails_with_the_bracket_so_far():
    run = Search(QUIET)
    run.control = Timed(run, [(150.0, "terminate")])
    outcome = run.run()
    assert outcome.phase == "terminated" and not outcome.succeeded
    assert "terminate #1 by sre: watching" in outcome.reason and "highest healthy level" in outcome.reason
    assert run.sim.driver.calls[-1] == (run.sim.start + 150.0, 0.0)
    result = run.search.state.result
    assert result["limited_by"] == "terminated" and not result["found"]


# --- checkpoints and retries ------------------------------------------------------------------------------------
def test_the_state_round_trips_through_json():
    run = Search(NOISY)
    run.run()
    data = run.search.state.to_json()
    again = CapacityState.from_json(json.loads(json.dumps(data)))
    assert again.to_json() == data
    assert again == run.search.state
    with pytest.raises(ValueError, match="unknown field.*stage_targets.*Clear the checkpoint"):
        CapacityState.from_json({**data, "stage_targets": []})


def test_a_retry_resumes_from_the_checkpoint_without_judging_levels_again():
    plant = dataclasses.replace(NOISY, delay_s=10.0)
    first = Search(plant)
    with pytest.raises(ConnectionError):

        def crash_mid_bisection(state: dict) -> None:
            first.keep(state)
            if state["stage"] == 2 and len(state["levels"]) >= 9:
                raise ConnectionError("worker lost")

        first.run(checkpoint=crash_mid_bisection)
    assert first.sim.driver.applied_rate() == 0.0  # the runner drained before the error left it
    saved = json.loads(json.dumps(first.checkpoint))
    judged = [lv for lv in saved["levels"] if lv["verdict"] in ("healthy", "unhealthy")]

    first.clock.advance(60.0)  # the retry starts a minute later on another worker, same plant
    retry = CapacitySearch(PARAMS, CapacityState.from_json(saved))
    outcome = first.run(retry)
    assert outcome.succeeded
    state = retry.state
    assert state.tries == 2
    assert [lv.to_json() for lv in state.levels[: len(judged)]] == judged
    restart = [d for d in state.timeline.decisions if d.action == "start"][-1]
    assert "resumed from a checkpoint (try 2)" in restart.reason
    assert restart.buckets_after == saved["buckets"]
    assert abs(state.result["capacity_qps"] - known_capacity(plant, PARAMS)) / known_capacity(plant, PARAMS) <= 0.02
    # No growth again: every level after the restart is under the lowest unhealthy rate the first try found.
    _, high = CapacitySearch(PARAMS, CapacityState.from_json(saved)).bracket()
    assert high is not None
    assert all(lv.stage != 1 and lv.buckets < high.buckets for lv in state.levels[len(saved["levels"]) :])


def test_a_terminated_search_cleared_searches_again_from_where_it_was():
    run = Search(QUIET)
    run.control = Timed(run, [(150.0, "terminate")])
    run.run()
    state = CapacityState.from_json(json.loads(json.dumps(run.search.state.to_json())))
    outcome = run.run(CapacitySearch(PARAMS, state))  # the same record (seq 1) is history now
    assert outcome.succeeded
    assert "cleared after it terminated" in run.decisions("start")[-1].reason


# --- the knee, max_qps, max_duration ------------------------------------------------------------------------------
def test_the_knee_lies_between_the_levels_reported_around_it():
    run = Search(NOISY)
    run.run()
    result = run.search.result(run.clock.now())
    first_level = result.steps[0]["qps_mean"]
    base = plant_metrics(NOISY, first_level)

    def calm(m: Sample) -> bool:
        return m.error_ratio - base.error_ratio <= PARAMS.knee_error_rise and all(
            getattr(m, q) / getattr(base, q) - 1 <= PARAMS.knee_latency_rise for q in ("p95_ms", "p99_ms")
        )

    knee = highest_demand(NOISY, calm)
    assert result.knee_metric == "error_ratio"
    assert result.knee_below_qps * 0.99 <= knee <= result.knee_qps * 1.01
    assert result.knee_qps <= result.capacity_qps


def test_a_search_healthy_up_to_max_qps_ends_there():
    params = dataclasses.replace(PARAMS, max_qps=600.0)
    run = Search(QUIET, params)
    outcome = run.run()
    assert outcome.succeeded and "at least 800.0 QPS (healthy up to max_qps; no limit found)" in outcome.reason
    assert "max_qps 600 reached" in run.decisions("stage_reached")[0].reason
    result = run.search.state.result
    assert result["limited_by"] == "max_qps" and result["capacity_rate_qps"] == 600.0
    assert result["precision_qps"] is None
    assert max(rate for _, rate in run.sim.driver.calls) == 600.0


def test_max_duration_ends_the_search_with_what_it_found():
    run = Search(QUIET, dataclasses.replace(PARAMS, max_duration_s=150.0))
    outcome = run.run()
    assert outcome.phase == "aborted" and "max_duration_s 150 s exceeded" in outcome.reason
    assert run.search.state.result["capacity_rate_qps"] is not None
    assert run.sim.driver.applied_rate() == 0.0


def test_nothing_sustainable_aborts():
    run = Search(QUIET)
    run.sim.inject_error_burst(run.sim.start, error_ratio=0.3)  # organic traffic alone fails
    outcome = run.run()
    assert outcome.phase == "aborted" and "no bucket of 1 QPS below it" in outcome.reason
    assert "nothing sustainable found" in outcome.reason
    assert [d.rate_qps for d in run.decisions("step_down")] == [25.0, 12.0, 6.0, 3.0, 1.0]
    assert run.search.state.result["capacity_qps"] is None


# --- parameters --------------------------------------------------------------------------------------------------
def test_params_round_trip_and_name_what_is_wrong():
    data = json.loads(json.dumps(PARAMS.to_json()))
    assert CapacityParams.from_json(data) == PARAMS
    assert PARAMS.judged_span_s == 10.0 and dataclasses.replace(PARAMS, dwell_s=2.0).judged_span_s == 10.0
    wrong = r"capacity params: trip_fraction 1.5 must be in \(0, 1\]; growth 1.0 must be > 1"
    with pytest.raises(ValueError, match=wrong):
        dataclasses.replace(PARAMS, growth=1.0, trip_fraction=1.5)
    with pytest.raises(ValueError, match="give precision_qps or precision_ratio"):
        dataclasses.replace(PARAMS, precision_ratio=None)
    with pytest.raises(ValueError, match="abort_rules is empty"):
        dataclasses.replace(PARAMS, abort_rules=())
    with pytest.raises(ValueError, match="unknown field.*stages"):
        CapacityParams.from_json({**data, "stages": [1.0]})
    # Both precisions: the looser ends the search.
    both = dataclasses.replace(PARAMS, precision_qps=20.0, precision_ratio=0.01)
    assert both.precision_for(1000.0) == 20.0 and both.precision_for(3000.0) == 30.0
