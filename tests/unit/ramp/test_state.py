"""loadstack.ramp.state: the checkpoint round-trips through JSON, and refuses what it does not know."""

from __future__ import annotations

import json

import pytest

from loadstack.ramp.samples import Sample
from loadstack.ramp.state import RampState, RuleWindow
from loadstack.ramp.timeline import Decision, Timeline


def busy_state() -> RampState:
    return RampState(
        phase="holding",
        stage=3,
        buckets=81,
        started_at=1000.0,
        try_started_at=1000.0,
        tries=1,
        last_action_at=1200.5,
        hold_started_at=1150.25,
        in_band_s=42.0,
        applied_control_seq=2,
        rule_windows={
            "error_ratio > 0.05 for 5 s": RuleWindow(
                since=1190.0, last_at=1192.0, values=[0.07, 0.08], ages_s=[10.0, 10.0]
            )
        },
        organic=[[1190.0, 201.5], [1191.0, 199.25]],
        rates=[[1100.0, 800.0], [1201.5, 810.0]],
        predicted_qps=1004.5,
        residual_ss=123.4,
        residual_n=7,
        timeline=Timeline(
            samples=[Sample(at=1190.0, taken_at=1200.0, qps=1001.5, error_ratio=0.001, p99_ms=120.0, window_s=10.0)],
            decisions=[
                Decision(
                    at=1200.5,
                    action="step_up",
                    reason="r",
                    stage=3,
                    buckets_before=80,
                    buckets_after=81,
                    rate_qps=810.0,
                    values={"qps": 1001.5, "breach_values": [0.1]},
                    thresholds={"high_watermark": 1050.0},
                    sample_at=1190.0,
                    sample_age_s=10.5,
                )
            ],
        ),
    )


def test_a_state_round_trips_through_json_exactly():
    state = busy_state()
    data = json.loads(json.dumps(state.to_json()))
    assert RampState.from_json(data) == state
    assert RampState.from_json(data).to_json() == state.to_json()


def test_the_json_matches_the_timelines_own():
    state = busy_state()
    assert state.to_json()["timeline"] == state.timeline.to_json()


def test_an_unknown_field_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown field.*surprise"):
        RampState.from_json({**RampState().to_json(), "surprise": 1})


def test_a_checkpoint_of_an_earlier_version_still_loads():
    data = RampState(stage=2, buckets=40).to_json()
    del data["organic"], data["rates"]
    data.update(level_qps=[900.0, 901.0], noise_ss=3.0, noise_dof=1)
    state = RampState.from_json(data)
    assert (state.stage, state.buckets, state.organic) == (2, 40, [])


def test_finished_phases():
    assert [RampState(phase=p).finished for p in ("ramping", "holding", "paused", "done", "aborted", "terminated")] == [
        False,
        False,
        False,
        True,
        True,
        True,
    ]
