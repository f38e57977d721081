"""TerraformRunner against a real moto server and real Terraform: apply, no-change replan, state, destroy."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from loadstack.terraform.runner import VARS_FILE, TerraformRunner
from loadstack.terraform.state import read_state_outputs, state_object_key

pytestmark = pytest.mark.integration
MODULE = Path(__file__).resolve().parents[2] / "fixtures" / "tf_modules" / "param"
KEY = "loadstack/param.tfstate"


def run_step(profile, workspace: str, value: str, logs: list[str] | None = None, copy: str = "a"):
    hook = TerraformRunner(profile=profile, working_dir=profile.work_dir / "it" / f"{workspace}-{copy}")
    if logs is not None:
        hook.log = type("L", (), {"info": lambda self, msg, *a: logs.append(msg % a if a else msg)})()
    var_files = hook.prepare(MODULE, "minimal", {"name": f"/it/{workspace}", "value": value, "secret": "s3cr3t-value"})
    hook.init(KEY, workspace)
    plan = hook.plan(var_files)
    if plan.has_changes:
        hook.apply()
    return hook, var_files, plan


def test_apply_replan_state_and_destroy(local_profile):
    logs: list[str] = []
    hook, var_files, plan = run_step(local_profile, "it-single", "v1", logs)
    assert plan.has_changes and plan.summary["add"] == 1
    outputs = hook.outputs()
    assert outputs["parameter_value"]["value"] == "v1"
    assert outputs["secret"]["sensitive"] is True
    assert any("aws_ssm_parameter.this: created" in line for line in logs), logs
    assert not any("s3cr3t-value" in line for line in logs)

    # The state object sits under env:/<workspace>/ in the state bucket.
    s3 = local_profile.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=local_profile.state_bucket)["Contents"]]
    assert state_object_key("it-single", KEY) in keys
    assert read_state_outputs(local_profile, f"env:/it-single/{KEY}")["parameter_value"]["value"] == "v1"
    assert local_profile.client("ssm").get_parameter(Name="/it/it-single")["Parameter"]["Value"] == "v1"

    # Same inputs again, in a fresh working copy: the plan has no changes.
    hook2, _, replan = run_step(local_profile, "it-single", "v1", copy="b")
    assert replan.has_changes is False
    hook2.cleanup(keep_working_dir=False)
    assert not hook2.working_dir.exists()

    hook.destroy(var_files)
    with pytest.raises(local_profile.client("ssm").exceptions.ParameterNotFound):
        local_profile.client("ssm").get_parameter(Name="/it/it-single")
    hook.cleanup(keep_working_dir=True)
    assert not (hook.terraform_dir / VARS_FILE).exists()
    state = json.loads(s3.get_object(Bucket=local_profile.state_bucket, Key=f"env:/it-single/{KEY}")["Body"].read())
    assert state["resources"] == []


def test_two_steps_apply_in_parallel(local_profile):
    spans: dict[str, tuple[float, float]] = {}
    errors: list[BaseException] = []

    def worker(workspace: str) -> None:
        started = time.monotonic()
        try:
            run_step(local_profile, workspace, workspace)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        spans[workspace] = (started, time.monotonic())

    threads = [threading.Thread(target=worker, args=(ws,)) for ws in ("it-par-a", "it-par-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    (a0, a1), (b0, b1) = spans["it-par-a"], spans["it-par-b"]
    assert a0 < b1 and b0 < a1, "the two steps did not overlap in time"
    ssm = local_profile.client("ssm")
    assert ssm.get_parameter(Name="/it/it-par-a")["Parameter"]["Value"] == "it-par-a"
    assert ssm.get_parameter(Name="/it/it-par-b")["Parameter"]["Value"] == "it-par-b"


def test_state_lock_blocks_a_second_writer(local_profile):
    """use_lockfile=true: while one run holds the lock object, another gets a clear lock error."""
    from loadstack.terraform.runner import TerraformStepFailed

    hook, var_files, _ = run_step(local_profile, "it-lock", "v1")
    s3 = local_profile.client("s3")
    lock_key = f"env:/it-lock/{KEY}.tflock"
    s3.put_object(Bucket=local_profile.state_bucket, Key=lock_key, Body=json.dumps({"ID": "held-by-test", "Operation": "test"}).encode())
    try:
        other = TerraformRunner(profile=local_profile, working_dir=local_profile.work_dir / "it" / "it-lock-2", lock_timeout="1s")
        files = other.prepare(MODULE, "minimal", {"name": "/it/it-lock", "value": "v2"})
        other.init(KEY, "it-lock")
        with pytest.raises(TerraformStepFailed, match="state lock"):
            other.plan(files)
    finally:
        s3.delete_object(Bucket=local_profile.state_bucket, Key=lock_key)
