import json

import pytest

from loadstack.ramp.params import RampParams
from loadstack.ramp.samples import Sample
from loadstack.ramp.summary import ordered_samples, spans, summarize, summarize_capacity, window_metrics
from loadstack.ramp.timeline import Decision, Timeline

T0 = 1_767_225_600.0
# Band 90..110; a sample governs at most 30 s.
PARAMS = RampParams(target_qps=100.0, threshold_qps=10.0, bucket_qps=10.0, max_staleness_s=30.0)


def sample(at, qps=None, error_ratio=None, p50=None, p95=None, p99=None, taken=None):
    return Sample(
        at=T0 + at,
        taken_at=T0 + (at + 5 if taken is None else taken),
        qps=qps,
        error_ratio=error_ratio,
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
    )


def decision(at, action, reason="", stage=3):
    return Decision(
        at=T0 + at, action=action, reason=reason or action, stage=stage, buckets_before=0, buckets_after=0, rate_qps=0.0
    )


def timeline(samples, actions):
    return Timeline(samples=list(samples), decisions=[decision(*a) for a in actions])


def held(*samples, hold_at=10, end_at=40, end="done"):
    """Start at 0, hold from `hold_at`, end (done/abort/terminate) at `end_at`."""
    return timeline(samples, [(0, "start"), (hold_at, "hold_started"), (end_at, end), (end_at, "drain")])


def test_the_hold_is_judged_by_the_time_each_sample_governs():
    line = held(
        sample(0, 50.0),
        sample(10, 100.0, 0.0, p99=100.0),
        sample(20, 95.0, 0.03, p99=300.0),
        sample(30, 120.0, 0.03, p99=200.0),
    )
    hold = window_metrics(PARAMS, line, "hold")
    assert (hold.start_s, hold.end_s, hold.duration_s, hold.samples, hold.covered_s) == (10, 40, 30, 3, 30)
    assert hold.achieved_qps_mean == pytest.approx(105.0)
    assert (hold.achieved_qps_min, hold.achieved_qps_max) == (95.0, 120.0)
    assert hold.achieved_ratio == pytest.approx(1.05)
    assert hold.in_band_share == pytest.approx(20 / 30)  # 120 is above the high watermark
    assert hold.samples_above_high == 1
    # failed / all requests, not the mean of the ratios (0.02)
    assert hold.error_ratio == pytest.approx((0.03 * 95 + 0.03 * 120) / (100 + 95 + 120))
    assert hold.error_ratio_max == 0.03
    assert hold.p99_ms == 300.0  # the highest sample, not the mean (200)
    assert hold.p50_ms is None and hold.p95_ms is None  # no sample carried them: no data, not 0


def test_the_ramp_window_is_before_the_hold_and_all_is_both():
    line = held(sample(0, 50.0), sample(5, 70.0), sample(10, 100.0), sample(20, 100.0), sample(30, 100.0))
    ramp = window_metrics(PARAMS, line, "ramp")
    assert (ramp.start_s, ramp.end_s, ramp.samples) == (0, 10, 2)
    assert ramp.achieved_qps_mean == pytest.approx(60.0)
    assert ramp.in_band_share == 0.0
    everything = window_metrics(PARAMS, line, "all")
    assert (everything.start_s, everything.end_s, everything.samples) == (0, 40, 5)
    assert everything.in_band_share == pytest.approx(30 / 40)


def test_the_sample_before_a_window_governs_its_start():
    line = held(sample(0, 100.0), sample(20, 200.0), hold_at=15, end_at=30)
    hold = window_metrics(PARAMS, line, "hold")
    assert hold.samples == 1 and hold.covered_s == 15
    assert hold.achieved_qps_mean == pytest.approx((100 * 5 + 200 * 10) / 15)
    assert hold.in_band_share == pytest.approx(5 / 15)


def test_a_sample_governs_no_longer_than_the_staleness_limit_and_unknown_time_is_not_in_band():
    line = held(sample(0, 100.0), sample(100, 100.0), hold_at=0, end_at=110)
    hold = window_metrics(PARAMS, line, "hold")
    assert hold.covered_s == 40  # 30 s from the first sample, 10 s from the second
    assert hold.in_band_share == pytest.approx(40 / 110)
    assert hold.achieved_qps_mean == 100.0  # the mean is over the time with data


def test_no_data_samples_are_unknown_not_zero():
    line = held(sample(10, 100.0, 0.0, p99=50.0), sample(20), sample(30, 100.0, 0.0, p99=70.0))
    hold = window_metrics(PARAMS, line, "hold")
    assert hold.in_band_share == pytest.approx(20 / 30)
    assert hold.achieved_qps_mean == 100.0 and hold.achieved_qps_min == 100.0
    assert hold.covered_s == 20


def test_a_window_without_samples_has_no_data_and_a_missing_hold_has_no_window():
    hold = window_metrics(PARAMS, held(sample(0, 50.0, 0.0), hold_at=40, end_at=100), "hold")
    assert hold.start_s == 40 and hold.samples == 0
    assert hold.achieved_qps_mean is None and hold.in_band_share is None and hold.samples_above_high is None
    never = window_metrics(PARAMS, timeline([sample(0, 50.0)], [(0, "start"), (20, "abort")]), "hold")
    assert never.start_s is None and never.duration_s is None and never.achieved_qps_mean is None


def test_readings_of_one_moment_keep_the_later_and_samples_are_ordered_by_moment():
    samples = [sample(20, 3.0), sample(10, 1.0, taken=12), sample(10, 2.0, taken=14)]
    assert [(s.at - T0, s.qps) for s in ordered_samples(samples)] == [(10, 2.0), (20, 3.0)]


def test_windows_come_from_the_first_start_hold_and_ending():
    line = timeline(
        [sample(-5, 1.0)],
        [
            (0, "start"),
            (10, "hold_started"),
            (20, "pause"),
            (25, "hold_started"),
            (30, "abort"),
            (31, "drain"),
            (35, "done"),
        ],
    )
    ramp = spans(line)
    assert (ramp.start - T0, ramp.hold_start - T0, ramp.end - T0, ramp.ending.action) == (0, 10, 30, "abort")


def test_a_ramp_run_again_after_an_ending_is_judged_by_its_last_attempt():
    line = timeline(
        [sample(10, 100.0), sample(60, 200.0), sample(110, 100.0)],
        [
            (0, "start"),
            (10, "hold_started"),
            (50, "terminate", "terminated by ops"),
            (51, "drain"),
            (100, "start"),
            (110, "hold_started"),
            (140, "done", "held 30 s"),
            (140, "drain"),
        ],
    )
    ramp, summary = spans(line), summarize(PARAMS, line)
    assert (ramp.start - T0, ramp.hold_start - T0, ramp.end - T0) == (0, 110, 140)
    assert (summary.outcome, summary.reason, summary.hold_started_s, summary.hold_s) == ("done", "held 30 s", 110, 30)
    assert summary.hold.in_band_share == 1.0 and summary.hold.samples == 1


def test_a_start_without_an_ending_before_it_continues_the_attempt():
    line = timeline([sample(10, 100.0)], [(0, "start"), (10, "hold_started"), (50, "start"), (140, "done")])
    assert (spans(line).hold_start - T0, summarize(PARAMS, line).hold_s) == (10, 130)


@pytest.mark.parametrize(
    ("actions", "outcome", "reason"),
    [
        (
            [(0, "start"), (50, "hold_started"), (170, "done", "held 120 s in band"), (170, "drain")],
            "done",
            "held 120 s in band",
        ),
        (
            [(0, "start"), (50, "abort", "error_ratio > 0.05 for 30 s: 0.2"), (51, "drain", "drained")],
            "aborted",
            "error_ratio > 0.05 for 30 s: 0.2",
        ),
        ([(0, "start"), (50, "terminate", "terminated by ops"), (51, "drain")], "terminated", "terminated by ops"),
        ([(0, "start"), (50, "hold_started"), (60, "wait", "holding: 10 of 120 s")], "holding", "holding: 10 of 120 s"),
        ([(0, "start"), (50, "pause", "paused by ops"), (60, "wait", "paused")], "paused", "paused"),
        ([(0, "start"), (10, "step_up")], "ramping", "step_up"),
    ],
)
def test_outcome_and_reason(actions, outcome, reason):
    summary = summarize(PARAMS, timeline([sample(0, 1.0)], actions))
    assert (summary.outcome, summary.reason) == (outcome, reason)


def test_an_empty_timeline_has_not_started():
    summary = summarize(PARAMS, Timeline())
    assert summary.outcome == "not started" and summary.stages == () and summary.hold.start_s is None
    json.dumps(summary.to_json())


def test_stage_durations_and_time_to_band():
    line = timeline(
        [sample(5, 30.0), sample(22, 80.0), sample(40, 89.0), sample(45, 91.0), sample(55, 100.0)],
        [
            (0, "start", "", 1),
            (20, "stage_reached", "", 1),
            (35, "stage_reached", "", 2),
            (50, "hold_started", "", 3),
            (170, "done", "", 3),
        ],
    )
    summary = summarize(PARAMS, line)
    assert [(s.stage, s.target_qps, s.started_s, s.reached_s, s.duration_s) for s in summary.stages] == [
        (1, 75.0, 0, 20, 20),
        (2, 90.0, 20, 35, 15),
        (3, 100.0, 35, 50, 15),  # the hold reaches the last stage
    ]
    assert summary.time_to_band_s == 45  # the first sample in band, not the hold's start
    assert (summary.hold_started_s, summary.hold_s, summary.duration_s) == (50, 120, 170)
    assert summary.actions == {"start": 1, "stage_reached": 2, "hold_started": 1, "done": 1}


def test_a_stage_not_reached_lasts_until_the_end_and_later_stages_never_began():
    line = timeline([sample(5, 30.0)], [(0, "start", "", 1), (20, "stage_reached", "", 1), (45, "abort", "", 2)])
    summary = summarize(PARAMS, line)
    assert [(s.started_s, s.reached_s, s.duration_s, s.reached) for s in summary.stages] == [
        (0, 20, 20, True),
        (20, None, 25, False),
        (None, None, None, False),
    ]
    assert summary.time_to_band_s is None and summary.hold_s is None and summary.hold.in_band_share is None


def test_the_summary_is_json():
    line = held(sample(10, 100.0, 0.001, 10.0, 20.0, 30.0))
    data = json.loads(json.dumps(summarize(PARAMS, line).to_json()))
    assert data["outcome"] == "done"
    assert data["hold"]["in_band_share"] == 1.0 and data["hold"]["duration_s"] == 30
    assert data["stages"][2]["reached"] is True


def test_a_capacity_search_is_summarized_by_its_ending_and_its_result(capacity_run):
    timeline = capacity_run.state.timeline
    summary = summarize_capacity(timeline, capacity_run.result)
    assert summary.outcome == "done" and "QPS sustainable" in summary.reason
    assert summary.duration_s == pytest.approx(capacity_run.result.duration_s)
    data = json.loads(json.dumps(summary.to_json()))
    assert data["mode"] == "capacity" and data["capacity"]["capacity_qps"] == capacity_run.result.capacity_qps
    assert data["actions"]["done"] == 1 and data["actions"]["step_up"] >= 4
    empty = summarize_capacity(Timeline(), None)
    assert (empty.outcome, empty.result, empty.to_json()["capacity"]) == ("not started", None, None)
