"""The ramp's closing tasks on a checkpoint in moto's in-process S3: the checks pass or fail the run naming
the failed checks; the report is stored in the report bucket, linked (XCom and extra link) and emitted
as an Asset event whose extra is the ramp's summary; both handle a ramp that left no checkpoint."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.sdk.execution_time.context import OutletEventAccessors

from loadstack.airflow.operators import ramp_report
from loadstack.airflow.operators.ramp_report import (
    REPORT_URL_KEY,
    RampChecksOperator,
    RampReportLink,
    RampReportOperator,
    report_asset,
)
from loadstack.artifacts import ArtifactError
from loadstack.profiles import Profile
from loadstack.ramp.clock import FakeClock
from loadstack.ramp.controller import RampController
from loadstack.ramp.params import AbortRule, RampParams
from loadstack.ramp.runner import run_ramp
from loadstack.ramp.simulator import PlantConfig, Simulator
from loadstack.ramp_store import RampStore

RUN_ID = "manual__2026-01-02T03:04:05+00:00"
PARAMS = RampParams(
    target_qps=100,
    threshold_qps=10,
    bucket_qps=5,
    group_interval_s=5,
    bucket_interval_s=3,
    hold_s=20,
    max_staleness_s=15,
    no_data_limit_s=30,
    abort_rules=(AbortRule("error_ratio", 0.2, 0.0),),
)
PLANT = PlantConfig(organic_qps=0, organic_swing_qps=0, organic_walk_qps=0, noise=0.5, window_s=2, delay_s=1)
PASSING = [
    {"metric": "error_ratio", "operator": "<", "value": 0.05, "over": None},
    {"metric": "in_band_share", "operator": ">=", "value": 0.5, "over": None},
]
FAILING = [*PASSING, {"metric": "p99_ms", "operator": "<", "value": 1.0, "over": None}]



def checkpoint(profile: Profile, *, burst: bool = False) -> dict:
    """Run a ramp on the simulator and checkpoint it as the ramp task does; returns its final state (JSON)."""
    clock = FakeClock()
    sim = Simulator(PLANT, clock)
    if burst:
        sim.inject_error_burst(clock.now() + 15, error_ratio=0.5)
    controller = RampController(PARAMS)
    run_ramp(controller, sim.driver, sim.source, None, clock, lambda state: None, max_ticks=500)
    state = controller.state.to_json()
    RampStore(profile, "shop", RUN_ID, "surge").save({"params": PARAMS.to_json(), "state": state})
    return state


@pytest.fixture
def context(make_context):
    context = make_context()
    context["run_id"] = RUN_ID
    context["outlet_events"] = OutletEventAccessors()
    return context


def build(cls, profile, checks=PASSING, **kwargs):
    op = cls(task_id=cls.__name__, stack="shop", step="surge", variant="minimal", checks=checks, **kwargs)
    op.__dict__["profile"] = profile
    return op


# --- checks --------------------------------------------------------------------------------------
def test_checks_pass_and_return_each_verdict(s3_profile, context):
    checkpoint(s3_profile)
    results = build(RampChecksOperator, s3_profile).execute(context)
    assert [(r["name"], r["passed"]) for r in results] == [
        ("error_ratio < 0.05 over hold", True),
        ("in_band_share >= 0.5 over hold", True),
    ]
    assert json.loads(json.dumps(results)) == results


def test_a_failed_check_fails_the_task_naming_it(s3_profile, context):
    checkpoint(s3_profile)
    with pytest.raises(AirflowFailException) as caught:
        build(RampChecksOperator, s3_profile, checks=FAILING).execute(context)
    message = str(caught.value)
    assert message.startswith("1 of 3 post-ramp checks failed: p99_ms over the hold was ")
    assert message.endswith("not < 1: failed") and "error_ratio" not in message


def test_checks_of_an_aborted_ramp_fail_for_want_of_a_hold(s3_profile, context):
    assert checkpoint(s3_profile, burst=True)["phase"] == "aborted"
    with pytest.raises(AirflowFailException, match="no data"):
        build(RampChecksOperator, s3_profile).execute(context)


def test_checks_without_a_checkpoint_fail(s3_profile, context):
    with pytest.raises(
        AirflowFailException, match="surge: the ramp left no checkpoint in the state bucket: nothing to check"
    ):
        build(RampChecksOperator, s3_profile).execute(context)


# --- report --------------------------------------------------------------------------------------
def test_the_report_is_stored_linked_and_emitted_as_an_asset_event(s3_profile, context):
    checkpoint(s3_profile)
    s3 = s3_profile.client("s3")
    s3.create_bucket(Bucket="reports")
    result = build(RampReportOperator, s3_profile).execute(context)

    prefix = f"reports/shop/{RUN_ID}/surge/"
    stored = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="reports", Prefix=prefix)["Contents"])
    assert stored == [prefix + name for name in ("errors.png", "index.html", "latency.png", "qps.png", "timeline.json")]
    page = s3.get_object(Bucket="reports", Key=prefix + "index.html")
    assert page["ContentType"].startswith("text/html") and b"<html" in page["Body"].read()
    document = json.loads(s3.get_object(Bucket="reports", Key=prefix + "timeline.json")["Body"].read())
    assert document["run_id"] == RUN_ID and document["passed"] is True

    url = s3_profile.object_url("reports", prefix + "index.html")
    assert result["url"] == url and result["location"] == f"s3://reports/{prefix}index.html"
    context["ti"].xcom_push.assert_called_once_with(key=REPORT_URL_KEY, value=url)
    extra = context["outlet_events"][report_asset("shop", "surge")].extra
    assert extra["run_id"] == RUN_ID and extra["url"] == url and extra["outcome"] == "done"
    assert 0.9 <= extra["achieved_ratio"] <= 1.1 and extra["in_band_share"] > 0.5 and extra["error_ratio"] < 0.01
    assert set(extra) == {
        "run_id",
        "url",
        "outcome",
        "reason",
        "time_to_band_s",
        "achieved_ratio",
        "in_band_share",
        "p99_ms",
        "error_ratio",
    }
    assert json.loads(json.dumps(extra)) == extra
    assert result["summary"]["outcome"] == "done"


def test_an_aborted_ramp_still_gets_its_report(s3_profile, context):
    checkpoint(s3_profile, burst=True)
    s3_profile.client("s3").create_bucket(Bucket="reports")
    build(RampReportOperator, s3_profile).execute(context)
    extra = context["outlet_events"][report_asset("shop", "surge")].extra
    assert extra["outcome"] == "aborted" and "error_ratio" in extra["reason"]


def test_a_missing_report_bucket_is_named(s3_profile, context):
    checkpoint(s3_profile)
    with pytest.raises(ArtifactError, match="report bucket 'reports' does not exist in profile 'aws'"):
        build(RampReportOperator, s3_profile).execute(context)


def test_no_checkpoint_no_report(s3_profile, context):
    with pytest.raises(AirflowSkipException, match="surge: the ramp never started"):
        build(RampReportOperator, s3_profile).execute(context)
    context["ti"].xcom_push.assert_not_called()


def test_the_extra_link_reads_the_report_url_of_that_try(monkeypatch):
    urls = {"a": "http://127.0.0.1:5055/reports/index.html"}
    fake_xcom = mock.Mock()
    fake_xcom.get_value.side_effect = lambda *, key, ti_key: urls.get(ti_key) if key == REPORT_URL_KEY else None
    monkeypatch.setattr(ramp_report, "XCom", fake_xcom)
    link = RampReportLink()
    assert link.name == "Ramp report"
    assert link.get_link(None, ti_key="a") == urls["a"]
    assert link.get_link(None, ti_key="b") == ""  # no report (yet): no link
    assert RampReportOperator.operator_extra_links[0].name == "Ramp report"


def test_one_asset_per_stack_and_step():
    assert report_asset("shop", "surge") == report_asset("shop", "surge")
    assert report_asset("shop", "surge").name == "loadstack-report.shop.surge"
    assert report_asset("shop", "surge") != report_asset("shop", "other")


# --- a capacity search ---------------------------------------------------------------------------
def save_capacity(profile: Profile, run) -> None:
    RampStore(profile, "shop", RUN_ID, "surge").save({"params": run.params.to_json(), "state": run.checkpoints[-1]})


def test_a_capacity_search_is_checked_on_what_it_found(s3_profile, context, capacity_run):
    save_capacity(s3_profile, capacity_run)
    checks = [{"metric": "capacity_qps", "operator": ">=", "value": 90, "over": None}]
    results = build(RampChecksOperator, s3_profile, checks=checks).execute(context)
    assert results[0]["passed"] and results[0]["observed"] == pytest.approx(capacity_run.result.capacity_qps)
    too_much = [{"metric": "capacity_qps", "operator": ">=", "value": 500, "over": None}]
    with pytest.raises(AirflowFailException, match="capacity_qps of the capacity search was 100, not >= 500"):
        build(RampChecksOperator, s3_profile, checks=too_much).execute(context)


def test_a_capacity_search_report_shows_its_levels_and_its_asset_event_what_it_found(s3_profile, context, capacity_run):
    save_capacity(s3_profile, capacity_run)
    s3 = s3_profile.client("s3")
    s3.create_bucket(Bucket="reports")
    result = build(RampReportOperator, s3_profile, checks=[]).execute(context)
    prefix = f"reports/shop/{RUN_ID}/surge/"
    stored = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="reports", Prefix=prefix)["Contents"])
    assert stored == [prefix + name for name in ("errors.png", "index.html", "latency.png", "levels.png", "timeline.json")]
    document = json.loads(s3.get_object(Bucket="reports", Key=prefix + "timeline.json")["Body"].read())
    assert document["mode"] == "capacity" and document["capacity"] == capacity_run.result.to_json()
    page = s3.get_object(Bucket="reports", Key=prefix + "index.html")["Body"].read().decode()
    assert "Capacity search report: shop" in page and "Highest sustainable QPS" in page
    extra = context["outlet_events"][report_asset("shop", "surge")].extra
    assert extra["outcome"] == "done" and extra["capacity_qps"] == capacity_run.result.capacity_qps
    assert extra["bracket_qps"] == list(capacity_run.result.bracket_qps) and extra["limited_by"] == "precision"
    assert json.loads(json.dumps(extra)) == extra
    assert result["summary"]["capacity"]["capacity_qps"] == capacity_run.result.capacity_qps
