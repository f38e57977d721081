import json

import pytest
from pydantic import TypeAdapter, ValidationError

from loadstack.ramp.capacity import CapacityResult
from loadstack.ramp.checks import CAPACITY_METRICS, Check, evaluate_checks, failures
from loadstack.ramp.params import RampParams
from loadstack.ramp.samples import Sample
from loadstack.ramp.timeline import Decision, Timeline

T0 = 1_767_225_600.0
PARAMS = RampParams(target_qps=100.0, threshold_qps=10.0, bucket_qps=10.0, max_staleness_s=30.0)
CHECKS = TypeAdapter(list[Check])


def sample(at, qps=None, error_ratio=None, p99=None):
    return Sample(at=T0 + at, taken_at=T0 + at + 5, qps=qps, error_ratio=error_ratio, p99_ms=p99)


def decision(at, action):
    return Decision(
        at=T0 + at, action=action, reason=action, stage=3, buckets_before=10, buckets_after=10, rate_qps=100.0
    )


def ramp(samples, actions=((0, "start"), (10, "hold_started"), (40, "done"))):
    return Timeline(samples=list(samples), decisions=[decision(*a) for a in actions])


# Ramp: 50 QPS at p99 900 ms. Hold: 100, 95, 120 QPS (in band 2/3 of it), p99 at most 300 ms, 2 % errors.
LINE = ramp(
    [
        sample(0, 50.0, 0.0, 900.0),
        sample(10, 100.0, 0.02, 100.0),
        sample(20, 95.0, 0.02, 300.0),
        sample(30, 120.0, 0.02, 200.0),
    ]
)


def one(text, line=LINE):
    (result,) = evaluate_checks([Check.model_validate(text)], PARAMS, line)
    return result


@pytest.mark.parametrize(
    ("text", "metric", "operator", "value", "over", "name"),
    [
        ("p99_ms < 800", "p99_ms", "<", 800.0, None, "p99_ms < 800 over hold"),
        ("in_band_share>=0.95", "in_band_share", ">=", 0.95, None, "in_band_share >= 0.95 over hold"),
        ("  error_ratio <= 1e-2 over all ", "error_ratio", "<=", 0.01, "all", "error_ratio <= 0.01 over all"),
        ("time_to_band_s < 600", "time_to_band_s", "<", 600.0, None, "time_to_band_s < 600"),
        (
            {"metric": "achieved_ratio", "operator": ">", "value": 0.97, "over": "ramp"},
            "achieved_ratio",
            ">",
            0.97,
            "ramp",
            "achieved_ratio > 0.97 over ramp",
        ),
    ],
)
def test_a_check_reads_from_text_or_a_mapping(text, metric, operator, value, over, name):
    check = Check.model_validate(text)
    assert (check.metric, check.operator, check.value, check.over, check.name) == (metric, operator, value, over, name)


def test_a_spec_list_mixes_both_forms_and_the_window_defaults_to_the_hold():
    checks = CHECKS.validate_python(["p99_ms < 800", {"metric": "error_ratio", "operator": "<", "value": 0.01}])
    assert [c.window for c in checks] == ["hold", "hold"]
    assert Check.model_validate("time_to_band_s < 600").window is None


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("p99 is low", "is not a check; write 'METRIC OPERATOR VALUE"),
        ("p42_ms < 800", "p42_ms"),
        ("p99_ms == 800", "is not a check"),
        ("p99_ms < fast", "valid number"),
        ("p99_ms < 800 over lunch", "'hold', 'ramp' or 'all'"),
        ("time_to_band_s < 600 over hold", "measured over the whole ramp: remove 'over: hold'"),
        ({"metric": "p99_ms", "operator": "<", "value": 1, "unit": "ms"}, "Extra inputs are not permitted"),
    ],
)
def test_a_bad_check_says_what_is_wrong(text, complaint):
    with pytest.raises(ValidationError) as error:
        Check.model_validate(text)
    assert complaint in str(error.value)


@pytest.mark.parametrize(
    ("text", "passed", "observed"),
    [
        ("p99_ms < 800", True, 300.0),  # the hold's highest sample; the ramp's 900 is outside the hold
        ("p99_ms < 300", False, 300.0),
        ("p99_ms <= 300", True, 300.0),
        ("p99_ms < 800 over all", False, 900.0),
        ("in_band_share >= 0.95", False, 2 / 3),
        ("in_band_share > 0.5", True, 2 / 3),
        ("achieved_ratio >= 0.97", True, 1.05),
        ("achieved_qps_min >= 96", False, 95.0),
        ("error_ratio < 0.01", False, 0.02),
        ("error_ratio < 0.05", True, 0.02),
        ("samples_above_high <= 0", False, 1.0),
        ("achieved_qps_mean < 60 over ramp", True, 50.0),
        ("time_to_band_s <= 10", True, 10.0),
    ],
)
def test_checks_pass_or_fail_on_the_observed_value(text, passed, observed):
    result = one(text)
    assert result.passed is passed
    assert result.observed == pytest.approx(observed)
    assert result.limit == Check.model_validate(text).value
    assert ("passed" if passed else "failed") in result.message


def test_a_failure_says_what_was_observed_against_what():
    result = one("p99_ms < 300")
    assert result.message == "p99_ms over the hold was 300, not < 300: failed"
    assert result.window == "hold" and result.operator == "<"


def test_no_data_fails_and_says_why():
    never_held = ramp([sample(0, 50.0, 0.0, 100.0)], [(0, "start"), (60, "abort")])
    result = one("p99_ms < 800", never_held)
    assert (result.passed, result.observed) == (False, None)
    assert result.message == "p99_ms over the hold: no data (the hold never started); a check without data fails"

    no_latency = ramp([sample(0, 50.0), sample(10, 100.0, 0.0), sample(20, 100.0, 0.0)])
    result = one("p99_ms < 800", no_latency)
    assert not result.passed and "no data (no sample in the hold carried p99_ms)" in result.message
    assert one("in_band_share >= 0.5", no_latency).passed  # other metrics of that hold still have data

    silent_hold = ramp([sample(0, 50.0)], [(0, "start"), (100, "hold_started"), (200, "done")])
    result = one("achieved_ratio >= 0.97", silent_hold)
    assert not result.passed and "no data (no sample in the hold)" in result.message

    result = one("time_to_band_s < 600", never_held)
    assert not result.passed and "no sample in the ramp was in band" in result.message

    for text in ("error_ratio < 0.01", "time_to_band_s < 600"):
        result = one(text, Timeline())
        assert not result.passed and "the timeline is empty" in result.message


def test_failures_name_every_failed_check_and_results_are_json():
    results = evaluate_checks(
        CHECKS.validate_python(["p99_ms < 800", "error_ratio < 0.01", "in_band_share >= 0.95"]), PARAMS, LINE
    )
    message = failures(results)
    assert message.startswith("2 of 3 post-ramp checks failed: error_ratio over the hold was 0.02")
    assert "in_band_share over the hold was 0.6667, not >= 0.95" in message and "p99_ms" not in message
    assert failures(results[:1]) is None
    assert json.loads(json.dumps([r.to_json() for r in results]))[0]["observed"] == 300.0
    assert evaluate_checks([], PARAMS, LINE) == []


# --- a capacity search's checks ------------------------------------------------------------------
def test_capacity_checks_judge_the_search_result(capacity_run):
    checks = [Check.model_validate(text) for text in ("capacity_qps >= 95", "precision_qps <= 10", "search_s < 30")]
    results = evaluate_checks(checks, capacity_run.params, capacity_run.state.timeline, capacity_run.result)
    assert [r.passed for r in results] == [True, True, False]
    assert results[0].observed == pytest.approx(capacity_run.result.capacity_qps) and results[0].window is None
    assert results[2].message == (
        f"search_s of the capacity search was {capacity_run.result.duration_s:.4g}, not < 30: failed"
    )
    assert failures(results).startswith("1 of 3 post-ramp checks failed: search_s")


def test_a_capacity_check_without_data_fails_saying_why(capacity_run):
    knee, found = Check.model_validate("knee_qps > 0"), Check.model_validate("capacity_qps > 0")
    hold_metric = Check.model_validate("in_band_share >= 0.9")
    results = evaluate_checks([knee, found, hold_metric], capacity_run.params, capacity_run.state.timeline, None)
    assert not any(r.passed for r in results) and all(r.observed is None for r in results)
    assert "no data (the search left no result)" in results[1].message
    assert "a capacity search has no hold or band" in results[2].message
    nothing = CapacityResult.from_json({**capacity_run.result.to_json(), "capacity_qps": None, "knee_qps": None,
                                        "limited_by": "nothing_sustainable"})  # fmt: skip
    results = evaluate_checks([knee, found], capacity_run.params, capacity_run.state.timeline, nothing)
    assert "no level showed a rise" in results[0].message
    assert "the search found none (limited by nothing_sustainable)" in results[1].message


@pytest.mark.parametrize("metric", CAPACITY_METRICS)
def test_a_capacity_metric_has_no_window(metric):
    assert Check.model_validate(f"{metric} > 1").window is None
    with pytest.raises(ValidationError, match=f"{metric} is measured over the whole ramp: remove 'over: hold'"):
        Check.model_validate(f"{metric} > 1 over hold")
