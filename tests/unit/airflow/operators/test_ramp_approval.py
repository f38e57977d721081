"""RampApprovalOperator (waits for the ramp's approval point, then asks as Airflow's ApprovalOperator) and
XComApproval (the ramp reading the answer), on moto's in-process S3 and a fake task instance."""

from __future__ import annotations

import typing
from datetime import datetime, timezone
from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException, TaskAwaitingInput, TaskDeferred

from loadstack.airflow.operators import ramp_approval
from loadstack.airflow.operators.ramp_approval import RampApprovalOperator, XComApproval, approval_body
from loadstack.airflow.triggers.ramp import RampPhaseTrigger
from loadstack.ramp.approval import Approval
from loadstack.ramp.params import RampParams
from loadstack.ramp.state import RampState
from loadstack.ramp.timeline import Phase
from loadstack.ramp.samples import Sample
from loadstack.ramp_store import RampStore

RUN_ID = "manual__2026-11-30T09:00:00+00:00"
PARAMS = RampParams(target_qps=250, threshold_qps=10, bucket_qps=5, approve_before="stage_3", approval_timeout_s=900)


def build(profile) -> RampApprovalOperator:
    op = RampApprovalOperator(task_id="approve_stage_3", stack="shop", step="surge", point="stage_3",
                              reach_timeout_s=1800, response_timeout_s=900)
    op.__dict__["profile"] = profile
    return op


def save(profile, **state) -> None:
    ramp = RampState(started_at=1.0, **state)
    ramp.timeline.samples.append(Sample(at=100.0, taken_at=101.0, qps=231.4, error_ratio=0.001, p99_ms=87.0))
    RampStore(profile, "shop", RUN_ID, "surge").save({"params": PARAMS.to_json(), "state": ramp.to_json()})


def context() -> dict:
    ti = mock.MagicMock(id="0193", try_number=1)
    return {"run_id": RUN_ID, "ti": ti, "task_instance": ti}


def test_before_the_ramp_is_there_it_defers_to_the_phase_trigger(s3_profile):
    save(s3_profile, phase="ramping", stage=2, buckets=30)
    with pytest.raises(TaskDeferred) as deferred:
        build(s3_profile).execute(context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, RampPhaseTrigger) and deferred.value.method_name == "execute"
    assert (trigger.stack, trigger.run_id, trigger.step, trigger.phase) == ("shop", RUN_ID, "surge", "awaiting_approval")
    assert deferred.value.timeout.total_seconds() == 1800 + 60


def test_without_a_checkpoint_yet_it_defers_too(s3_profile):
    with pytest.raises(TaskDeferred):
        build(s3_profile).execute(context())


@pytest.mark.parametrize("paused", [False, True])
def test_at_the_point_it_asks_with_the_ramps_numbers(s3_profile, monkeypatch, paused):
    phase = dict(phase="paused", paused_phase="awaiting_approval") if paused else dict(phase="awaiting_approval")
    save(s3_profile, stage=3, buckets=42, **phase)
    asked = mock.Mock()
    monkeypatch.setattr("airflow.providers.standard.operators.hitl.upsert_hitl_detail", asked)
    op = build(s3_profile)
    with pytest.raises(TaskAwaitingInput):  # Airflow 3.3 parks the task until a human answers
        op.execute(context())
    request = asked.call_args.kwargs
    assert request["options"] == ["Approve", "Reject"] and request["subject"] == "shop: approve stage 3 of the ramp surge?"
    assert "is at stage 3 and holds 210 QPS generated (measured 231.4 QPS, p99 87 ms, errors 0.10 %)" in request["body"]
    assert "target 250 QPS, band 240-260" in request["body"] and "Unanswered for 900 s" in request["body"]
    assert request["params"]["comment"]["value"] == ""


def test_a_ramp_that_ended_before_the_point_skips_the_approval(s3_profile):
    save(s3_profile, phase="aborted", end_reason="error_ratio > 0.05 for 8 s")
    with pytest.raises(AirflowSkipException, match=r"ended \(aborted: error_ratio > 0.05 for 8 s\)"):
        build(s3_profile).execute(context())


def test_trigger_events_other_than_reached_skip_or_fail(s3_profile):
    op = build(s3_profile)
    with pytest.raises(AirflowSkipException, match="ended"):
        op.execute(context(), event={"status": "ended", "message": "the ramp ended (done: held)"})
    with pytest.raises(AirflowFailException, match="surge: the ramp was not awaiting_approval by the deadline"):
        op.execute(context(), event={"status": "timeout", "message": "the ramp was not awaiting_approval by the deadline"})


def test_the_body_copes_with_a_ramp_that_has_no_sample_yet():
    body = approval_body("shop", "surge", "hold", {"params": PARAMS.to_json(), "state": RampState(stage=3).to_json()})
    assert "no sample yet" in body and "go on to the hold" in body


# --- the ramp's side: the answer from the approval task's XCom -------------------------------------------
def answer(option: str, **extra) -> dict:
    return {"chosen_options": [option], "params_input": {"comment": "p99 fine"},
            "responded_at": datetime(2026, 11, 30, 9, 5, tzinfo=timezone.utc),
            "responded_by_user": {"id": "ana", "name": "Ana"}, **extra}


def test_an_approval_is_read_with_who_when_and_why():
    ti = mock.Mock()
    ti.xcom_pull.return_value = answer("Approve")
    got = XComApproval(ti, "surge.approve_stage_3", mock.Mock()).read()
    assert got == Approval(True, "Ana", datetime(2026, 11, 30, 9, 5, tzinfo=timezone.utc).timestamp(), "p99 fine")
    ti.xcom_pull.assert_called_once_with(task_ids="surge.approve_stage_3")


def test_a_rejection_an_iso_date_and_no_answer_yet():
    ti = mock.Mock()
    ti.xcom_pull.return_value = answer("Reject", responded_at="2026-11-30T09:05:00Z", responded_by_user={"id": "bo"})
    got = XComApproval(ti, "t", mock.Mock()).read()
    assert (got.approved, got.by, got.at) == (False, "bo", datetime(2026, 11, 30, 9, 5, tzinfo=timezone.utc).timestamp())
    ti.xcom_pull.return_value = None
    assert XComApproval(ti, "t", mock.Mock()).read() is None


def test_a_failed_read_is_no_answer_yet():
    ti, log = mock.Mock(), mock.Mock()
    ti.xcom_pull.side_effect = ConnectionError("api-server restarting")
    assert XComApproval(ti, "t", log).read() is None
    assert "still waiting" in log.warning.call_args.args[0]


def test_the_module_keeps_the_controllers_phase_name():
    assert ramp_approval.AWAITING in typing.get_args(Phase)


@pytest.mark.parametrize("answer", ["Approve", "Reject"])
def test_an_answer_becomes_the_tasks_xcom_and_skips_nothing(s3_profile, answer):
    """ApprovalOperator would skip the tasks after a rejection (the run's outcome among them) by raising before its
    return value reaches XCom, where the ramp reads the answer."""
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    with DAG("shop", schedule=None):
        op = build(s3_profile)
        op >> EmptyOperator(task_id="run-outcome")  # what follows the approval task in a stack DAG: the run's end
    ctx = {**context(), "task": op}
    ctx["ti"].map_index = -1
    event = {"chosen_options": [answer], "params_input": {"comment": "why"},
             "responded_at": datetime(2026, 11, 30, 9, 5, tzinfo=timezone.utc),
             "responded_by_user": {"id": "admin", "name": "admin"}}
    payload = op.execute_complete(ctx, event)
    assert payload["chosen_options"] == [answer]
    assert op.hitl_summary_extra["approved"] is (answer == "Approve")
    approval = XComApproval(mock.Mock(xcom_pull=mock.Mock(return_value=dict(payload))), "approve_stage_3",
                            mock.Mock()).read()
    assert (approval.approved, approval.by, approval.comment) == (answer == "Approve", "admin", "why")
