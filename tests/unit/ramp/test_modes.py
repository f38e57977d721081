"""loadstack.ramp.modes: a checkpoint's or a task's params pick their mode's state and controller; the log line,
the XCom extras and the status of each mode."""

from __future__ import annotations

import json

import pytest

from loadstack.ramp.capacity import CapacityParams, CapacitySearch, CapacityState
from loadstack.ramp.controller import RampController
from loadstack.ramp.modes import (
    build_controller, capacity_status, describe_plan, mode_of, outcome_extras, params_from_json, state_from_json,
)  # fmt: skip
from loadstack.ramp.params import AbortRule, RampParams
from loadstack.ramp.state import RampState

HOLD = RampParams(target_qps=100, threshold_qps=10, bucket_qps=5, abort_rules=(AbortRule("error_ratio", 0.2),))


def test_params_json_names_its_mode_and_comes_back_as_its_class(capacity_run):
    capacity = json.loads(json.dumps(capacity_run.params.to_json()))
    assert capacity["mode"] == "capacity" and params_from_json(capacity) == capacity_run.params
    assert "mode" not in HOLD.to_json() and params_from_json(HOLD.to_json()) == HOLD
    assert params_from_json({**HOLD.to_json(), "mode": "hold"}) == HOLD
    assert (mode_of(HOLD), mode_of(capacity_run.params)) == ("hold", "capacity")
    with pytest.raises(ValueError, match="unknown mode 'soak'; known: hold, capacity"):
        params_from_json({**HOLD.to_json(), "mode": "soak"})
    with pytest.raises(ValueError, match="mode 'hold' is not 'capacity'"):
        CapacityParams.from_json({**capacity, "mode": "hold"})


def test_the_state_and_the_controller_follow_the_params(capacity_run):
    saved = capacity_run.checkpoints[-1]
    state = state_from_json(capacity_run.params, saved)
    assert isinstance(state, CapacityState) and state.to_json() == saved
    search = build_controller(capacity_run.params, state)
    assert isinstance(search, CapacitySearch) and search.state is state
    assert isinstance(build_controller(HOLD), RampController)
    assert isinstance(state_from_json(HOLD, RampState(stage=2).to_json()), RampState)
    with pytest.raises(ValueError, match="capacity state: unknown field.*in_band_s"):
        state_from_json(capacity_run.params, RampState().to_json())  # a hold's checkpoint under capacity params


def test_the_plan_and_the_xcom_extras_of_each_mode(capacity_run):
    assert describe_plan(HOLD) == "ramp to 100 QPS (band 90..110) in stages [0.75, 0.9, 1.0]"
    plan = describe_plan(capacity_run.params)
    assert plan.startswith("capacity search from 10 QPS (x2, then bisection; at most 400 QPS; unhealthy at 0.8 x ")
    assert outcome_extras(RampController(HOLD)) == {"target_qps": 100}
    extras = outcome_extras(CapacitySearch(capacity_run.params, capacity_run.state))
    assert extras["mode"] == "capacity" and extras["capacity"] == capacity_run.result.to_json()


def test_a_capacity_status_is_small_json_with_the_bracket(capacity_run):
    status = capacity_status(capacity_run.state, capacity_run.params, now=capacity_run.clock.now())
    assert json.loads(json.dumps(status)) == status and len(json.dumps(status)) < 1024
    assert status["mode"] == "capacity" and status["phase"] == "done" and status["buckets"] == 0
    assert status["capacity_qps"] == pytest.approx(capacity_run.result.capacity_qps, abs=0.01)
    low, high = status["bracket_qps"]
    assert low <= status["capacity_qps"] <= high and status["limited_by"] == "precision"
    assert status["levels"] == len(capacity_run.state.levels) and status["last_decision"].startswith("[ramp] drain")
    begun = capacity_status(CapacityState(), capacity_run.params, now=1.0)
    assert (begun["phase"], begun["capacity_qps"], begun["bracket_qps"], begun["applied_control_seq"]) == (
        "ramping", None, None, 0,
    )  # fmt: skip
