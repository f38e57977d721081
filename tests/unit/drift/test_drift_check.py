"""The commands a drift check hands Terraform (argv, without running it) and what the check makes of
each outcome: clean, drifted, re-applied, error."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest

from loadstack.drift import check as check_module
from loadstack.drift.check import check_step, resolve_variables
from loadstack.drift.live import DriftTarget
from loadstack.profiles import load_profile
from loadstack.terraform.compat import Terraform111, TerraformError
from loadstack.terraform.runner import PLAN_FILE, PlanResult, TerraformStepFailed

TF = "/usr/local/bin/terraform"
SHOWN = {"format_version": "1.2", "resource_changes": [{
    "address": "aws_ssm_parameter.this", "type": "aws_ssm_parameter",
    "change": {"actions": ["update"], "before": {"value": "x", "tags": {"A": "1"}}, "after": {"value": "y", "tags": {}},
               "before_sensitive": {"value": True}, "after_sensitive": {"value": True}}}]}


class Recorder(Terraform111):
    def __init__(self, results=(), stdout=""):
        self.lines: list[str] = []
        super().__init__(working_dir="/w", terraform_bin_path=TF, env={}, on_stdout_line=self.lines.append)
        self.calls: list[list[str]] = []
        self.results = list(results)
        self.stdout = stdout

    def _run(self, argv):
        self.calls.append(argv)
        return (self.results.pop(0) if self.results else 0), self.stdout, "Error: boom"


def test_plan_asks_for_the_detailed_exit_code_and_a_saved_plan():
    tf = Recorder(results=[2])
    assert tf.plan(out=PLAN_FILE, var_files=["loadstack.auto.tfvars.json"]) == 2
    argv = tf.calls[0]
    assert argv[:2] == [TF, "plan"]
    for flag in ("-detailed-exitcode", "-input=false", "-no-color", f"-out={PLAN_FILE}", "-lock-timeout=120s"):
        assert flag in argv


@pytest.mark.parametrize("code", [0, 2])
def test_plan_exit_codes_0_and_2_are_answers(code):
    assert Recorder(results=[code]).plan(out=PLAN_FILE, var_files=[]) == code


def test_plan_exit_code_1_is_an_error():
    with pytest.raises(TerraformError) as caught:
        Recorder(results=[1]).plan(out=PLAN_FILE, var_files=[])
    assert caught.value.returncode == 1


def test_show_reads_the_saved_plan_as_json_and_never_streams_it():
    tf = Recorder(stdout=json.dumps(SHOWN))
    assert tf.show_plan(PLAN_FILE) == SHOWN
    assert tf.calls == [[TF, "show", "-json", "-no-color", PLAN_FILE]]
    assert tf.lines == []  # the plan document holds sensitive values: it must not reach a log


class FakeRunner:
    """Stands in for TerraformRunner: records the calls, answers with the given plans."""

    plans: ClassVar[list[bool]] = []
    fail_at: ClassVar[str | None] = None
    instances: ClassVar[list[FakeRunner]] = []

    def __init__(self, *, profile, working_dir, logger):
        self.working_dir = working_dir
        self.calls: list[tuple] = []
        self.timings: dict[str, float] = {"plan": 0.1}
        self.plans = list(type(self).plans)
        type(self).instances.append(self)

    def _step(self, name, *args):
        self.calls.append((name, *args))
        if self.fail_at == name:
            raise TerraformStepFailed(f"terraform {name} failed (exit 1): Error acquiring the state lock")

    def prepare(self, module_dir, variant, variables, *, modules_root):
        self._step("prepare", variant, variables)
        return ["loadstack.auto.tfvars.json"]

    def init(self, state_key, workspace):
        self._step("init", state_key, workspace)

    def plan(self, var_files):
        self._step("plan")
        return PlanResult(has_changes=self.plans.pop(0), summary={}, planned=[])

    def show_plan(self):
        self._step("show")
        return SHOWN

    def apply(self):
        self._step("apply")
        return 1

    def cleanup(self, *, keep_working_dir):
        self.calls.append(("cleanup", keep_working_dir))


@pytest.fixture
def fake_runner(monkeypatch):
    FakeRunner.instances = []
    FakeRunner.fail_at = None
    monkeypatch.setattr(check_module, "TerraformRunner", FakeRunner)
    return FakeRunner


@pytest.fixture
def target() -> DriftTarget:
    return DriftTarget(stack="shop", step="network", owner="sre", variant="minimal", module_dir="/m/network",
                       modules_root="/m", workspace="shop-network", state_key="loadstack/network.tfstate",
                       variables={"name": "${stack.name}-net", "tags": {"Variant": "${stack.variant}"}}, resources=3)


@pytest.fixture
def profile(tmp_path):
    return load_profile({"LOADSTACK_HOME": str(tmp_path)})


def test_a_clean_step_is_planned_once_and_not_shown(fake_runner, target, profile, tmp_path):
    fake_runner.plans = [False]
    result = check_step(profile, target, working_dir=tmp_path / "w")
    assert result.status == "clean" and result.resources == () and not result.reapplied
    calls = [c[0] for c in fake_runner.instances[0].calls]
    assert calls == ["prepare", "init", "plan", "cleanup"]
    prepare = fake_runner.instances[0].calls[0]
    assert prepare[1:] == ("minimal", {"name": "shop-net", "tags": {"Variant": "minimal"}})
    assert fake_runner.instances[0].calls[1] == ("init", "loadstack/network.tfstate", "shop-network")
    assert fake_runner.instances[0].calls[-1] == ("cleanup", False)


def test_a_drifted_step_reports_its_planned_changes_and_is_left_alone(fake_runner, target, profile, tmp_path):
    fake_runner.plans = [True]
    result = check_step(profile, target, working_dir=tmp_path / "w")
    assert result.status == "drifted" and not result.reapplied
    (resource,) = result.resources
    assert resource.address == "aws_ssm_parameter.this"
    assert [(a.name, a.sensitive) for a in resource.attributes] == [("tags", False), ("value", True)]
    assert "apply" not in [c[0] for c in fake_runner.instances[0].calls]


def test_reapply_applies_the_saved_plan_and_plans_again(fake_runner, target, profile, tmp_path):
    fake_runner.plans = [True, False]
    result = check_step(profile, target, working_dir=tmp_path / "w", reapply=True)
    assert result.status == "drifted" and result.reapplied and result.clean_after_reapply is True
    calls = [c[0] for c in fake_runner.instances[0].calls]
    assert calls == ["prepare", "init", "plan", "show", "apply", "plan", "cleanup"]


def test_reapply_of_a_clean_step_applies_nothing(fake_runner, target, profile, tmp_path):
    fake_runner.plans = [False]
    result = check_step(profile, target, working_dir=tmp_path / "w", reapply=True)
    assert result.status == "clean" and not result.reapplied
    assert "apply" not in [c[0] for c in fake_runner.instances[0].calls]


def test_a_plan_that_fails_is_an_error_result_and_the_copy_is_kept(fake_runner, target, profile, tmp_path):
    fake_runner.fail_at = "plan"
    fake_runner.plans = [True]
    result = check_step(profile, target, working_dir=tmp_path / "w")
    assert result.status == "error" and "state lock" in result.error
    assert fake_runner.instances[0].calls[-1] == ("cleanup", True)


def test_an_unknown_variant_is_an_error_result(fake_runner, target, profile, tmp_path):
    bad = DriftTarget(**{**target.to_json(), "variant": "huge"})
    result = check_step(profile, bad, working_dir=tmp_path / "w")
    assert result.status == "error" and "variant 'huge'" in result.error


def test_references_to_upstream_steps_are_read_from_their_remote_state(target, profile, monkeypatch):
    read = {}

    def fake_read(profile, state_object):
        read[state_object] = True
        return {"vpc_id": {"value": "vpc-1", "sensitive": False}}

    monkeypatch.setattr("loadstack.outputs.state_exists", lambda profile, key: True)
    monkeypatch.setattr("loadstack.outputs.read_state_outputs", fake_read)
    upstream = DriftTarget(**{**target.to_json(), "variables": {"vpc": "${steps.network.outputs.vpc_id}"},
                              "state_objects": {"network": "env:/shop-network/loadstack/network.tfstate"}})
    assert resolve_variables(profile, upstream) == {"vpc": "vpc-1"}
    assert read == {"env:/shop-network/loadstack/network.tfstate": True}


def test_runner_show_plan_reads_the_saved_plan(tmp_path, monkeypatch):
    from loadstack.terraform.runner import TerraformRunner

    runner = TerraformRunner(profile=load_profile({"LOADSTACK_HOME": str(tmp_path)}), working_dir=tmp_path / "w")
    runner._terraform_dir = tmp_path
    terraform = Recorder(stdout=json.dumps(SHOWN))
    monkeypatch.setattr(TerraformRunner, "_terraform", lambda self, progress=None: terraform)
    assert runner.show_plan() == SHOWN
    assert terraform.calls == [[TF, "show", "-json", "-no-color", PLAN_FILE]] and "show" in runner.timings
