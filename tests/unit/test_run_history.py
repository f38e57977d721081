"""Run history on moto's in-process S3: one record per run, reruns overwrite, the page lists them newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loadstack.profiles import Profile
from loadstack.run_history import (
    RampResult,
    RunHistory,
    RunRecord,
    failed_tasks,
    history_rows,
    index_key,
    record_key,
    render_index,
    teardown_of,
)

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


@pytest.fixture
def profile(tmp_path, mocked_aws) -> Profile:
    profile = Profile(name="aws", region="us-east-1", state_bucket="state", report_bucket="reports", home=tmp_path,
                      terraform_bin="terraform", plugin_mirror=tmp_path)
    s3 = profile.client("s3")
    s3.create_bucket(Bucket="state")
    s3.create_bucket(Bucket="reports")
    return profile


def night(day: int, outcome: str = "pass", **changes) -> RunRecord:
    start = T0 + timedelta(days=day)
    fields = dict(stack="shop", run_id=f"scheduled__2026-12-0{day + 1}T02:00:00+00:00", run_type="scheduled",
                  variant="minimal", outcome=outcome, started_at=start, ended_at=start + timedelta(minutes=9),
                  spin_up_s=185.4, ramps=(RampResult("surge", "done", url="http://r/1"),), teardown="torn_down")
    fields.update(changes)
    return RunRecord(**fields)


def test_records_round_trip_and_list_oldest_first(profile):
    history = RunHistory(profile)
    second, first = night(1, "fail", failed_tasks=("app_cluster.apply",)), night(0)
    history.record(second)
    history.record(first)
    assert history.list("shop") == [first, second]
    assert history.list("other") == []


def test_a_rerun_of_the_same_run_overwrites_its_record(profile):
    history = RunHistory(profile)
    failed = night(0, "fail", failed_tasks=("gated.apply",))
    history.record(failed)
    history.record(night(0, "pass"))  # the backfill reran that night
    assert [r.outcome for r in history.list("shop")] == ["pass"]


def test_keys_are_one_segment_per_run():
    assert record_key("shop", "scheduled__2026-12-01T02:00:00+00:00") == \
        "loadstack/history/shop/scheduled__2026-12-01T02_00_00+00_00.json"
    assert record_key("shop", "a/b").count("/") == 3
    assert index_key("shop") == "reports/shop/index.html"


def test_failed_tasks_are_those_that_failed_themselves():
    states = {"a.apply": "success", "b.apply": "failed", "c.apply": "upstream_failed", "run-outcome": "failed",
              "d.apply": None}
    assert failed_tasks(states, ignore=("run-outcome",)) == ("b.apply",)


@pytest.mark.parametrize(("states", "teardown"), [
    ({"decide": "skipped", "remove": "skipped"}, "kept_up"),
    ({"decide": "success", "remove": "success"}, "torn_down"),
    ({"decide": "success", "remove": "upstream_failed"}, "teardown_failed"),
    ({"decide": "success", "remove": "failed"}, "teardown_failed"),
    ({"decide": "upstream_failed", "remove": "upstream_failed"}, "not_run"),
    ({}, "not_run"),
])
def test_what_became_of_the_stack(states, teardown):
    assert teardown_of(states, remove_task="remove", decision_task="decide") == teardown


def test_rows_and_page_show_newest_first_with_ramp_links(profile):
    history = RunHistory(profile)
    history.record(night(0))
    history.record(night(1, "fail", failed_tasks=("gated.apply",), spin_up_s=None, ramps=(), teardown="torn_down"))
    rows = history_rows(history.list("shop"))
    assert rows[0][:8] == ("2026-12-01 02:00", "scheduled", "minimal", "FAIL", "gated.apply", "-", "-", "torn_down")
    assert rows[1][:8] == ("2026-11-30 02:00", "scheduled", "minimal", "PASS", "-", "3m05s", "surge: done", "torn_down")
    key = history.publish_index("shop")
    page = profile.client("s3").get_object(Bucket="reports", Key=key)["Body"].read().decode()
    assert "2 runs, 1 passed" in page
    assert page.index("gated.apply") < page.index('<a href="http://r/1">surge: done</a>')


def test_the_page_escapes_what_it_shows():
    page = render_index("shop", [night(0, "fail", failed_tasks=("<script>",))])
    assert "<script>" not in page and "&lt;script&gt;" in page
