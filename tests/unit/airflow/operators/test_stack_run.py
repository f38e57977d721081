"""The run's own tasks: the teardown decision (skip = keep up) and the outcome (history record, run state)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from loadstack.airflow.operators.stack_run import RunOutcomeOperator, TeardownDecisionOperator
from loadstack.run_history import RunHistory

T0 = datetime(2026, 12, 1, 2, 0, 5, tzinfo=UTC)


def decision_context(run_type: str, keep_up=None) -> dict:
    return {"params": {"keep_up": keep_up}, "dag_run": mock.Mock(run_type=run_type)}


def decide(context):
    return TeardownDecisionOperator(task_id="teardown-decide", stack="shop", teardown_dag="shop__teardown"
                                    ).execute(context)


def test_a_scheduled_run_tears_down():
    assert decide(decision_context("scheduled")) == {"keep_up": False, "run_type": "scheduled"}


def test_a_manual_run_keeps_the_stack_up_and_says_how_to_remove_it():
    with pytest.raises(AirflowSkipException, match="keeps the stack up.*shop__teardown DAG"):
        decide(decision_context("manual"))


def test_the_param_overrides_the_run_type():
    assert decide(decision_context("manual", keep_up=False))["keep_up"] is False
    with pytest.raises(AirflowSkipException):
        decide(decision_context("scheduled", keep_up=True))


def outcome_context(states: dict, pulled: dict, run_type: str = "scheduled") -> dict:
    run_id = "scheduled__2026-12-01T02:00:00+00:00"
    ti = mock.Mock(dag_id="shop")
    ti.get_task_states.return_value = {run_id: states}
    ti.xcom_pull.side_effect = lambda task_ids: pulled.get(task_ids)
    return {"ti": ti, "dag_run": mock.Mock(run_id=run_id, run_type=run_type, start_date=T0)}


@pytest.fixture
def outcome(s3_profile):
    op = RunOutcomeOperator(task_id="run-outcome", stack="shop", variant="minimal",
                            register_task_id="registry-register", remove_task_id="registry-remove",
                            decision_task_id="teardown-decide", ramp_report_task_ids={"surge": "surge.report"})
    op.profile = s3_profile  # the cached property: moto's S3, no Airflow connection
    return op


PASSED = {"network.apply": "success", "surge.checks": "success", "teardown-decide": "success",
          "registry-remove": "success", "run-outcome": "running"}
PULLED = {
    "registry-register": {"created_at": (T0 + timedelta(seconds=190)).isoformat()},
    "surge.report": {"url": "http://reports/shop/1", "summary": {"outcome": "done", "reason": ""}},
}


def test_a_passing_night_is_recorded_with_spin_up_ramp_and_teardown(outcome, s3_profile):
    s3_profile.client("s3").create_bucket(Bucket="reports")
    result = outcome.execute(outcome_context(PASSED, PULLED))
    [record] = RunHistory(s3_profile).list("shop")
    assert result == record.to_json()
    assert (record.outcome, record.run_type, record.variant, record.spin_up_s, record.teardown) == (
        "pass", "scheduled", "minimal", 190.0, "torn_down")
    assert [(r.step, r.outcome, r.url) for r in record.ramps] == [("surge", "done", "http://reports/shop/1")]
    page = s3_profile.client("s3").get_object(Bucket="reports", Key="reports/shop/index.html")["Body"].read()
    assert b"1 runs, 1 passed" in page


def test_a_failed_night_is_recorded_then_fails_the_run(outcome, s3_profile):
    states = {**PASSED, "gated.apply": "failed", "top.apply": "upstream_failed", "surge.checks": "upstream_failed"}
    with pytest.raises(AirflowFailException, match="failed at gated.apply.*teardown: torn_down"):
        outcome.execute(outcome_context(states, {"registry-register": None, "surge.report": None}))
    [record] = RunHistory(s3_profile).list("shop")
    assert (record.outcome, record.failed_tasks, record.spin_up_s) == ("fail", ("gated.apply",), None)
    assert [(r.step, r.outcome) for r in record.ramps] == [("surge", "no report")]


def test_a_missing_report_bucket_costs_the_page_not_the_record(outcome, s3_profile):
    # The aws profile never creates a bucket: the page cannot be written, the run's record still is.
    outcome.execute(outcome_context(PASSED, PULLED))
    assert [r.outcome for r in RunHistory(s3_profile).list("shop")] == ["pass"]
