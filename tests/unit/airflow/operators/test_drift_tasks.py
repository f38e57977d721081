"""The drift DAG's operators on moto's in-process S3: targets out, results through the state bucket, report in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowFailException

from loadstack.airflow.operators import drift as drift_operators
from loadstack.airflow.operators.drift import (
    REPORT_URL_KEY,
    UNREADABLE_SPECS_KEY,
    DriftPlanOperator,
    DriftReportOperator,
    DriftTargetsOperator,
    as_bool,
)
from loadstack.drift.live import DriftTarget
from loadstack.drift.report import (
    HTML_FILE,
    JSON_FILE,
    MARKDOWN_FILE,
    StepDrift,
    load_step_result,
    report_prefix,
    save_step_result,
)

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
RUN_ID = "manual__2026-11-30T03:00:00+00:00"
TARGET = DriftTarget(stack="it_drift", step="param", owner="sre-test", variant="minimal", module_dir="/m/param",
                     modules_root="/m", workspace="it_drift-param", state_key="loadstack/param.tfstate", resources=1)


def build(cls, profile, **kwargs):
    op = cls(task_id="t", **kwargs)
    op.__dict__["profile"] = profile
    return op


@pytest.fixture
def context(make_context):
    ctx = make_context()
    ctx["run_id"] = RUN_ID
    return ctx


@pytest.mark.parametrize("value, expected", [(True, True), ("True", True), ("true", True), (False, False),
                                             ("False", False), ("", False), (None, False)])
def test_as_bool_reads_rendered_params(value, expected):
    assert as_bool(value) is expected


def test_targets_are_the_live_steps_as_json(s3_profile, context, tmp_path):
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    shutil.copy(FIXTURES / "it_stacks" / "it_drift.yaml", stacks / "it_drift.yaml")
    (stacks / "broken.yaml").write_text("name: broken\n")
    op = build(DriftTargetsOperator, s3_profile, stacks_dir=str(stacks), modules_dir=str(FIXTURES / "tf_modules"))
    assert op.execute(context) == []
    state = {"resources": [{"mode": "managed", "type": "aws_ssm_parameter", "name": "this", "instances": [{}]}]}
    s3_profile.client("s3").put_object(Bucket="state", Key="env:/it_drift-param/loadstack/param.tfstate",
                                       Body=json.dumps(state).encode())
    (found,) = op.execute(context)
    assert (found["stack"], found["step"], found["resources"]) == ("it_drift", "param", 1)
    pushed = context["ti"].xcom_push.call_args.kwargs
    assert pushed["key"] == UNREADABLE_SPECS_KEY and list(pushed["value"]) == ["broken.yaml"]


def test_a_plan_task_records_its_result_in_the_state_bucket(s3_profile, context, monkeypatch):
    seen = {}

    def fake_check(profile, target, *, working_dir, reapply, logger, runner):
        seen.update(target=target, working_dir=working_dir, reapply=reapply, runner=runner)
        return StepDrift(stack=target.stack, step=target.step, workspace=target.workspace, variant=target.variant,
                         status="clean")

    monkeypatch.setattr(drift_operators, "check_step", fake_check)
    op = build(DriftPlanOperator, s3_profile, target=TARGET.to_json(), reapply="True")
    result = op.execute(context)
    assert result["status"] == "clean"
    assert seen["target"] == TARGET and seen["reapply"] is True
    run_dir = s3_profile.work_dir / "drift" / "manual__2026-11-30T03_00_00_00_00"
    assert seen["working_dir"] == run_dir / "it_drift" / "param"
    assert load_step_result(s3_profile, RUN_ID, "it_drift", "param").status == "clean"


def test_on_kill_stops_the_plan_tasks_terraform(s3_profile, context, monkeypatch):
    # Terraform runs in a session of its own: Airflow's SIGTERM to the task's process group does not reach it.
    runner = mock.Mock()
    monkeypatch.setattr(drift_operators, "TerraformRunner", mock.Mock(return_value=runner))
    monkeypatch.setattr(drift_operators, "check_step", lambda *a, runner, **k: StepDrift(
        stack=TARGET.stack, step=TARGET.step, workspace=TARGET.workspace, variant=TARGET.variant, status="clean"))
    op = build(DriftPlanOperator, s3_profile, target=TARGET.to_json())
    op.on_kill()  # before any run: nothing to stop, no error
    op.execute(context)
    runner.stop.assert_not_called()
    op.on_kill()
    runner.stop.assert_called_once_with()


def report_context(context, targets, unreadable=None):
    pulled = {"return_value": targets, UNREADABLE_SPECS_KEY: unreadable or {}}
    context["ti"].xcom_pull.side_effect = lambda task_ids, key="return_value": pulled[key]
    return context


def test_the_report_is_stored_and_summarised(s3_profile, context):
    s3 = s3_profile.client("s3")
    s3.create_bucket(Bucket="reports")
    save_step_result(s3_profile, RUN_ID, StepDrift(stack="it_drift", step="param", workspace="it_drift-param",
                                                   variant="minimal", status="drifted"))
    op = build(DriftReportOperator, s3_profile, targets_task_id="find_live_steps", reapply="False")
    summary = op.execute(report_context(context, [TARGET.to_json()]))
    assert summary["drifted"] == ["it_drift/param"] and summary["errors"] == []
    assert summary["location"] == f"s3://reports/{report_prefix(RUN_ID)}{HTML_FILE}"
    stored = json.loads(s3.get_object(Bucket="reports", Key=report_prefix(RUN_ID) + JSON_FILE)["Body"].read())
    assert stored["summary"]["drifted"] == ["it_drift/param"] and stored["reapply"] is False
    markdown = s3.head_object(Bucket="reports", Key=report_prefix(RUN_ID) + MARKDOWN_FILE)
    assert markdown["ContentType"] == "text/markdown; charset=utf-8"
    context["ti"].xcom_push.assert_called_once_with(key=REPORT_URL_KEY, value=summary["url"])
    assert DriftReportOperator.operator_extra_links[0].name == "Drift report"


def test_a_step_that_could_not_be_planned_fails_the_report_after_storing_it(s3_profile, context):
    s3 = s3_profile.client("s3")
    s3.create_bucket(Bucket="reports")
    op = build(DriftReportOperator, s3_profile, targets_task_id="find_live_steps")
    with pytest.raises(AirflowFailException, match="1 steps could not be planned \\(it_drift/param\\)"):
        op.execute(report_context(context, [TARGET.to_json()]))
    stored = json.loads(s3.get_object(Bucket="reports", Key=report_prefix(RUN_ID) + JSON_FILE)["Body"].read())
    assert stored["summary"]["errors"] == ["it_drift/param"]


def test_no_report_when_finding_the_live_steps_failed(s3_profile, context):
    op = build(DriftReportOperator, s3_profile, targets_task_id="find_live_steps")
    with pytest.raises(AirflowFailException, match="find_live_steps left no list"):
        op.execute(report_context(context, None))
