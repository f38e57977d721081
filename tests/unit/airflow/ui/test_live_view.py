"""loadstack.airflow.ui.live_view: the document the ramp page polls, built from a checkpoint."""

from __future__ import annotations

import pytest

from loadstack.airflow.ui.live_view import NotARampTask, RampAddress, live_view, ramp_step

WHERE = RampAddress("shop", "manual__1", "surge.ramp")


def view(checkpoint, **kwargs):
    defaults = dict(task_state="running", checkpoint_location="s3://state/x", checkpoint=checkpoint, control=None,
                    status=None, now=checkpoint["state"]["ended_at"] + 2.0 if checkpoint else 0.0)
    return live_view(WHERE, **{**defaults, **kwargs})


def test_the_step_comes_from_the_ramp_tasks_id():
    assert ramp_step("surge.ramp") == "surge"
    for task_id in ("surge.report", "ramp", ".ramp"):
        with pytest.raises(NotARampTask, match=r"is not a ramp task: .*<step>\.ramp"):
            ramp_step(task_id)


def test_before_the_first_checkpoint_only_the_address_and_the_control_are_known():
    got = view(None, control={"action": "pause", "seq": 1, "at": 1.0}, status="garbled")
    assert got["found"] is False and got["step"] == "surge" and got["checkpoint"] == "s3://state/x"
    assert got["control"]["action"] == "pause" and got["status"] is None
    assert "samples" not in got and "state" not in got


def test_a_checkpoint_gives_the_phase_target_watermarks_samples_and_decisions(finished_ramp_checkpoint):
    got = view(finished_ramp_checkpoint)
    params, state = got["params"], got["state"]
    assert (params["target_qps"], params["low_watermark"], params["high_watermark"]) == (600.0, 560.0, 640.0)
    assert params["stage_targets_qps"] == [450.0, 540.0, 600.0]
    assert [rule["name"] for rule in params["abort_rules"]] == ["error_ratio > 0.05 for 5 s", "p99_ms > 800 (hard limit)"]
    assert state["phase"] == "done" and state["stage"] == 3 and state["stages"] == 3
    assert state["generated_qps"] == state["buckets"] * 10.0
    assert got["epoch"] == state["started_at"] == finished_ramp_checkpoint["state"]["started_at"]
    samples = finished_ramp_checkpoint["state"]["timeline"]["samples"]
    decisions = finished_ramp_checkpoint["state"]["timeline"]["decisions"]
    assert got["samples"] == {"from": 0, "total": len(samples), "items": samples}
    assert got["decisions"]["total"] == len(decisions) and got["decisions"]["items"] == decisions
    assert {"qps", "p50_ms", "p95_ms", "p99_ms", "error_ratio", "at"} <= set(got["samples"]["items"][-1])
    stepped = next(d for d in got["decisions"]["items"] if d["action"] == "step_up")
    assert {"values", "thresholds", "sample_age_s"} <= set(stepped) and stepped["values"]["qps"] > 0
    assert got["latest"]["qps"] == samples[-1]["qps"] and got["latest"]["age_s"] == pytest.approx(2.0 + state["ended_at"] - samples[-1]["at"])
    assert got["summary"]["outcome"] == "done" and got["summary"]["hold"]["in_band_share"] > 0.9


def test_the_page_gets_only_what_it_has_not_seen(finished_ramp_checkpoint):
    samples = finished_ramp_checkpoint["state"]["timeline"]["samples"]
    decisions = finished_ramp_checkpoint["state"]["timeline"]["decisions"]
    got = view(finished_ramp_checkpoint, samples_from=len(samples) - 3, decisions_from=len(decisions))
    assert got["samples"]["from"] == len(samples) - 3 and got["samples"]["items"] == samples[-3:]
    assert got["decisions"]["items"] == [] and got["decisions"]["total"] == len(decisions)


def test_counts_beyond_the_checkpoint_mean_another_checkpoint_and_everything_is_sent(finished_ramp_checkpoint):
    samples = finished_ramp_checkpoint["state"]["timeline"]["samples"]
    got = view(finished_ramp_checkpoint, samples_from=len(samples) + 10, decisions_from=2)
    assert got["samples"]["from"] == 0 and len(got["samples"]["items"]) == len(samples)
    assert got["decisions"]["from"] == 0


def test_a_capacity_search_fills_the_same_fields_its_target_the_capacity_its_band_the_bracket(capacity_run):
    checkpoint = {"params": capacity_run.params.to_json(), "state": capacity_run.checkpoints[-1]}
    got = view(checkpoint)
    params, state, result = got["params"], got["state"], capacity_run.result
    assert params["mode"] == "capacity" and params["target_qps"] == result.capacity_qps
    assert (params["low_watermark"], params["high_watermark"]) == result.bracket_qps
    assert params["stage_targets_qps"] == [] and [rule["metric"] for rule in params["abort_rules"]] == ["error_ratio", "p99_ms"]
    assert state["phase"] == "done" and state["stages"] == 3 and state["hold_s"] == capacity_run.params.confirm_s
    assert got["summary"]["mode"] == "capacity" and len(got["summary"]["capacity"]["steps"]) == len(result.steps)
    assert got["samples"]["total"] == len(capacity_run.state.timeline.samples)
    # While it runs: no bracket yet after the first level.
    early = {"params": capacity_run.params.to_json(), "state": capacity_run.checkpoints[1]}
    got = live_view(WHERE, task_state="running", checkpoint_location="s3://state/x", checkpoint=early, control=None,
                    status=None, now=capacity_run.clock.now())  # fmt: skip
    assert got["params"]["low_watermark"] is None and got["state"]["phase"] == "ramping"
