"""Root modules as users write them, with real Terraform on the moto server: one calling a shared
module by a `../` path, one without a lock file, one without a backend block. Each is applied,
re-planned with no changes, destroyed, and leaves nothing behind; its state is in the state bucket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadstack.spec import load_stack
from loadstack.terraform.runner import TerraformRunner
from loadstack.terraform.state import state_object_key

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
MODULES_ROOT = FIXTURES / "tf_modules"
LAYOUTS = ("via_shared", "no_lock", "no_backend")


def run_layout(profile, module: str, workspace: str, copy: str, *, destroy: bool = False):
    runner = TerraformRunner(profile=profile, working_dir=profile.work_dir / "layouts" / f"{workspace}-{copy}")
    var_files = runner.prepare(
        MODULES_ROOT / module, "minimal", {"name": f"/it/layouts/{workspace}", "value": module},
        modules_root=MODULES_ROOT,
    )
    runner.init(f"loadstack/{module}.tfstate", workspace)
    if destroy:
        runner.destroy(var_files)
        return runner, None
    plan = runner.plan(var_files)
    if plan.has_changes:
        runner.apply()
    return runner, plan


def state_document(profile, key: str) -> dict:
    return json.loads(profile.client("s3").get_object(Bucket=profile.state_bucket, Key=key)["Body"].read())


def assert_no_local_state(runner: TerraformRunner) -> None:
    work = runner.terraform_dir
    assert not (work / "terraform.tfstate").exists() and not (work / "terraform.tfstate.d").exists()
    assert json.loads((work / ".terraform" / "terraform.tfstate").read_text())["backend"]["type"] == "s3"


@pytest.mark.parametrize("module", LAYOUTS)
def test_layout_applies_reruns_clean_and_destroys(local_profile, module):
    workspace = f"it-layout-{module.replace('_', '-')}"
    ssm = local_profile.client("ssm")
    state_key = state_object_key(workspace, f"loadstack/{module}.tfstate")

    first, plan = run_layout(local_profile, module, workspace, "a")
    assert plan.has_changes and plan.summary["add"] == 1
    assert first.outputs()["parameter_value"]["value"] == module
    assert ssm.get_parameter(Name=f"/it/layouts/{workspace}")["Parameter"]["Value"] == module
    assert_no_local_state(first)
    assert len(state_document(local_profile, state_key)["resources"]) == 1
    if module == "no_lock":
        # Generated in the working copy from the provider mirror, never written back into the module.
        assert "hashicorp/aws" in (first.terraform_dir / ".terraform.lock.hcl").read_text()
        assert not (MODULES_ROOT / module / ".terraform.lock.hcl").exists()
    first.cleanup(keep_working_dir=False)

    # A rerun in a fresh working copy finds the state again: nothing to change.
    again, replan = run_layout(local_profile, module, workspace, "b")
    assert replan.has_changes is False, replan.planned
    again.cleanup(keep_working_dir=False)

    gone, _ = run_layout(local_profile, module, workspace, "c", destroy=True)
    assert_no_local_state(gone)
    gone.cleanup(keep_working_dir=False)
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=f"/it/layouts/{workspace}")
    assert state_document(local_profile, state_key)["resources"] == []
    assert not list((MODULES_ROOT / module).glob("*.tfstate*")) and not (MODULES_ROOT / module / ".terraform").exists()


def xcom(dag_run, task_id: str, key: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.query(XComModel).filter_by(run_id=dag_run.run_id, task_id=task_id, key=key).one().value


def test_the_three_layouts_through_a_stack_dag(run_dag, loadstack_env, local_profile):
    from airflow.utils.state import DagRunState

    from loadstack.airflow.render import build_dag, build_teardown_dag

    stack = load_stack(FIXTURES / "it_stacks" / "it_layouts.yaml", modules_dir=MODULES_ROOT)
    ssm = local_profile.client("ssm")
    value = lambda name: ssm.get_parameter(Name=name)["Parameter"]["Value"]  # noqa: E731

    run = run_dag(build_dag(stack))
    assert run.state == DagRunState.SUCCESS
    assert value("/it/layouts/via_shared") == "shared"
    assert value("/it/layouts/no_lock") == "shared-unlocked"
    assert value("/it/layouts/no_backend") == "backendless"
    keys = {o["Key"] for o in local_profile.client("s3").list_objects_v2(Bucket=local_profile.state_bucket)["Contents"]}
    for step in LAYOUTS:
        assert f"env:/it_layouts-{step}/loadstack/{step}.tfstate" in keys

    rerun = run_dag(build_dag(stack))
    assert rerun.state == DagRunState.SUCCESS
    assert {step: xcom(rerun, f"{step}.apply", "changed") for step in LAYOUTS} == dict.fromkeys(LAYOUTS, False)

    assert run_dag(build_teardown_dag(stack)).state == DagRunState.SUCCESS
    for name in ("/it/layouts/via_shared", "/it/layouts/no_lock", "/it/layouts/no_backend"):
        with pytest.raises(ssm.exceptions.ParameterNotFound):
            ssm.get_parameter(Name=name)
    for step in LAYOUTS:
        assert state_document(local_profile, f"env:/it_layouts-{step}/loadstack/{step}.tfstate")["resources"] == []
    # Working copies of successful runs are removed; none ever held state.
    leftovers = list(local_profile.work_dir.glob("it_layouts/**/terraform.tfstate"))
    assert leftovers == []
