"""Which stacks are live: Terraform steps whose remote state holds managed resources (moto's S3)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from loadstack.drift.live import DriftTarget, find_live_stacks, live_targets, managed_resources

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
MODULES = FIXTURES / "tf_modules"


def put_state(profile, key, resources):
    body = {"version": 4, "outputs": {"secret": {"value": "s3cr3t", "sensitive": True}}, "resources": resources}
    profile.client("s3").put_object(Bucket=profile.state_bucket, Key=key, Body=json.dumps(body).encode())


MANAGED = {"mode": "managed", "type": "aws_ssm_parameter", "name": "this", "instances": [{"attributes": {}}]}
DATA = {"mode": "data", "type": "aws_caller_identity", "name": "me", "instances": [{"attributes": {}}]}


@pytest.fixture
def stacks(tmp_path) -> Path:
    folder = tmp_path / "stacks"
    folder.mkdir()
    shutil.copy(FIXTURES / "it_stacks" / "it_drift.yaml", folder / "it_drift.yaml")
    shutil.copy(FIXTURES / "it_stacks" / "it_chain.yaml", folder / "it_chain.yaml")
    return folder


def test_managed_resources_counts_only_managed_resources_with_instances(drift_profile):
    assert managed_resources(drift_profile, "env:/x/none.tfstate") == 0
    put_state(drift_profile, "env:/x/empty.tfstate", [])  # a torn-down step keeps its state, empty
    assert managed_resources(drift_profile, "env:/x/empty.tfstate") == 0
    put_state(drift_profile, "env:/x/data.tfstate", [DATA, {**MANAGED, "instances": []}])
    assert managed_resources(drift_profile, "env:/x/data.tfstate") == 0
    put_state(drift_profile, "env:/x/live.tfstate", [MANAGED, DATA, MANAGED])
    assert managed_resources(drift_profile, "env:/x/live.tfstate") == 2


def test_nothing_is_live_without_state(drift_profile, stacks):
    found = find_live_stacks(drift_profile, stacks, modules_dir=MODULES)
    assert found.stacks == () and found.unreadable == {}


def test_live_stacks_and_their_steps_with_resources(drift_profile, stacks):
    put_state(drift_profile, "env:/it_drift-param/loadstack/param.tfstate", [MANAGED])
    put_state(drift_profile, "env:/it_drift-follower/loadstack/param.tfstate", [])
    put_state(drift_profile, "env:/it_chain-first/loadstack/param.tfstate", [])  # torn down: not live
    targets, unreadable = live_targets(drift_profile, stacks, modules_dir=MODULES)
    assert unreadable == {}
    assert [(t.stack, t.step) for t in targets] == [("it_drift", "param")]
    (target,) = targets
    assert target == DriftTarget(
        stack="it_drift", step="param", owner="sre-test", variant="minimal",
        module_dir=str(MODULES / "param"), modules_root=str(MODULES), workspace="it_drift-param",
        state_key="loadstack/param.tfstate", variables={"name": "/it/drift/param", "value": "as-planned"},
        state_objects={}, resources=1,
    )
    assert DriftTarget.from_json(json.loads(json.dumps(target.to_json()))) == target


def test_a_downstream_step_reads_its_upstream_outputs_from_remote_state(drift_profile, stacks):
    put_state(drift_profile, "env:/it_drift-param/loadstack/param.tfstate", [MANAGED])
    put_state(drift_profile, "env:/it_drift-follower/loadstack/param.tfstate", [MANAGED])
    targets, _ = live_targets(drift_profile, stacks, modules_dir=MODULES)
    follower = {t.step: t for t in targets}["follower"]
    assert follower.variables == {"name": "/it/drift/follower", "value": "${steps.param.outputs.parameter_value}-too"}
    assert follower.state_objects == {"param": "env:/it_drift-param/loadstack/param.tfstate"}
    assert [t.step for t in targets] == ["param", "follower"]  # dependency order


def test_a_spec_that_does_not_load_is_skipped_and_named(drift_profile, stacks):
    (stacks / "broken.yaml").write_text("name: broken\nowner: x\nsteps: {a: {kind: nope}}\n")
    put_state(drift_profile, "env:/it_drift-param/loadstack/param.tfstate", [MANAGED])
    found = find_live_stacks(drift_profile, stacks, modules_dir=MODULES)
    assert [live.stack.name for live in found.stacks] == ["it_drift"]
    assert list(found.unreadable) == ["broken.yaml"] and "broken.yaml" in found.unreadable["broken.yaml"]


def test_a_registered_stack_is_planned_with_the_variant_it_was_stood_up_with(drift_profile, stacks):
    from datetime import timedelta

    from loadstack.stack_registry import StackRegistry

    put_state(drift_profile, "env:/it_drift-param/loadstack/param.tfstate", [MANAGED])
    put_state(drift_profile, "env:/it_chain-first/loadstack/param.tfstate", [MANAGED])
    StackRegistry(drift_profile).register(stack="it_drift", variant="production", run_id="manual__1", owner="sre-test",
                                          ttl=timedelta(hours=8), teardown_dag="it_drift__teardown")
    found = {live.stack.name: live.variant for live in find_live_stacks(drift_profile, stacks, modules_dir=MODULES).stacks}
    assert found == {"it_drift": "production", "it_chain": "minimal"}  # it_chain: not registered, its default
