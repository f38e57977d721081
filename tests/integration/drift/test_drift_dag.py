"""The drift DAG through Airflow (dag.test) with real Terraform on the moto server: a stack applied by its
own DAG, one of its resources changed behind Terraform's back with boto3, found, reported, re-applied."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from loadstack.drift.live import live_targets
from loadstack.drift.report import HTML_FILE, JSON_FILE, MARKDOWN_FILE, report_prefix
from loadstack.spec import load_stack

pytestmark = [pytest.mark.integration, pytest.mark.long]
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
OUT_OF_BAND_VALUE = "changed-behind-terraforms-back"


def task_value(dag_run, task_id: str, key: str = "return_value"):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(run_id=dag_run.run_id, task_id=task_id, key=key).all()
        return [row.value for row in sorted(rows, key=lambda r: r.map_index)]


@pytest.fixture
def stacks_dir(tmp_path) -> Path:
    """A stacks folder holding only the fixture stack (the shared moto server holds other tests' state)."""
    folder = tmp_path / "stacks"
    folder.mkdir()
    shutil.copy(FIXTURES / "it_stacks" / "it_drift.yaml", folder / "it_drift.yaml")
    return folder


def test_a_change_behind_terraforms_back_is_reported_and_reapplied(stacks_dir, run_dag, loadstack_env, local_profile):
    from airflow.utils.state import DagRunState

    from loadstack.airflow.render import build_dag, build_teardown_dag
    from loadstack.airflow.render.drift import build_drift_dag

    modules = FIXTURES / "tf_modules"
    drift_dag = build_drift_dag(stacks_dir, modules_dir=modules, schedule=None)
    ssm = local_profile.client("ssm")
    s3 = local_profile.client("s3")

    # Nothing is live yet: the report says so, no plan task runs.
    empty = run_dag(drift_dag)
    assert empty.state == DagRunState.SUCCESS
    assert task_value(empty, "report")[0]["steps"] == 0

    stack = load_stack(stacks_dir / "it_drift.yaml", modules_dir=modules)
    assert run_dag(build_dag(stack)).state == DagRunState.SUCCESS

    clean = run_dag(drift_dag)
    assert clean.state == DagRunState.SUCCESS
    summary = task_value(clean, "report")[0]
    assert summary["clean"] == ["it_drift/param", "it_drift/follower"] and summary["drifted"] == []

    # Behind Terraform's back: a new value (sensitive in the provider's schema) and a tag on `param`.
    ssm.put_parameter(Name="/it/drift/param", Value=OUT_OF_BAND_VALUE, Type="String", Overwrite=True)
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId="/it/drift/param",
                             Tags=[{"Key": "Owner", "Value": "mallory"}])

    drifted = run_dag(drift_dag)
    assert drifted.state == DagRunState.SUCCESS
    summary = task_value(drifted, "report")[0]
    assert summary["drifted"] == ["it_drift/param"]
    assert summary["drifted_resources"] == ["it_drift/param:aws_ssm_parameter.this"]
    assert summary["clean"] == ["it_drift/follower"]
    results = {r["step"]: r for r in task_value(drifted, "plan")}
    (resource,) = results["param"]["resources"]
    assert resource["action"] == "update" and resource["type"] == "aws_ssm_parameter"
    attributes = {a["name"]: a for a in resource["attributes"]}
    assert attributes["value"] == {"name": "value", "before": "(sensitive)", "after": "(sensitive)", "sensitive": True}
    assert "mallory" in attributes["tags"]["before"] and not attributes["tags"]["sensitive"]

    prefix = report_prefix(drifted.run_id)
    stored = {name: s3.get_object(Bucket=local_profile.report_bucket, Key=prefix + name)["Body"].read().decode()
              for name in (JSON_FILE, MARKDOWN_FILE, HTML_FILE)}
    assert json.loads(stored[JSON_FILE])["summary"]["drifted"] == ["it_drift/param"]
    assert "aws_ssm_parameter.this" in stored[MARKDOWN_FILE] and "aws_ssm_parameter.this" in stored[HTML_FILE]
    for text in stored.values():
        assert OUT_OF_BAND_VALUE not in text  # a sensitive value never reaches the report
    # The report run did not change anything: the drift is still there.
    assert ssm.get_parameter(Name="/it/drift/param")["Parameter"]["Value"] == OUT_OF_BAND_VALUE

    reapplied = run_dag(drift_dag, run_conf={"reapply": True})
    assert reapplied.state == DagRunState.SUCCESS
    summary = task_value(reapplied, "report")[0]
    assert summary["reapplied"] == ["it_drift/param"] and summary["still_drifted_after_reapply"] == []
    assert ssm.get_parameter(Name="/it/drift/param")["Parameter"]["Value"] == "as-planned"

    after = run_dag(drift_dag)
    assert after.state == DagRunState.SUCCESS
    assert task_value(after, "report")[0]["drifted"] == []
    assert task_value(after, "report", key="report_url")[0].startswith(local_profile.endpoint_url)

    # Torn down, the stack's states are empty: nothing of it is live any more.
    assert run_dag(build_teardown_dag(stack)).state == DagRunState.SUCCESS
    assert live_targets(local_profile, stacks_dir, modules_dir=modules) == ([], {})
