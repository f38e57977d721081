"""The argv loadstack hands to Terraform, built through python-terraform, checked without running it."""

from __future__ import annotations

import json

import pytest

from loadstack.terraform.compat import Terraform111, TerraformError

TF = "/usr/local/bin/terraform"


class Recorder(Terraform111):
    def __init__(self, results=None, stdout=""):
        super().__init__(working_dir="/work/dir", terraform_bin_path=TF, env={"A": "1"})
        self.calls: list[list[str]] = []
        self.results = list(results or [])
        self.stdout = stdout

    def _run(self, argv):
        self.calls.append(argv)
        return (self.results.pop(0) if self.results else 0), self.stdout, "boom"


def test_init_passes_backend_config_and_never_a_var_file():
    tf = Recorder()
    tf.init({"bucket": "state", "key": "loadstack/network.tfstate", "use_lockfile": "true"})
    assert tf.calls == [[
        TF, "init", "-no-color", "-input=false", "-lockfile=readonly",
        "-backend-config=bucket=state", "-backend-config=key=loadstack/network.tfstate",
        "-backend-config=use_lockfile=true", "-reconfigure", "-backend=true",
    ]]


def test_init_without_a_committed_lock_file_may_write_one():
    # A module that commits no .terraform.lock.hcl: `-lockfile=readonly` would fail ("lock file is
    # read-only"), so init resolves from the CLI config's mirror and writes it in the working copy.
    tf = Recorder()
    tf.init({"bucket": "state"}, lockfile_readonly=False)
    assert tf.calls == [[TF, "init", "-no-color", "-input=false", "-backend-config=bucket=state", "-reconfigure", "-backend=true"]]


def test_workspace_select_creates_when_missing():
    tf = Recorder()
    tf.select_workspace("shop-network")
    assert tf.calls == [[TF, "workspace", "select", "-or-create=true", "shop-network"]]


def test_plan_writes_a_plan_file_with_detailed_exit_code():
    tf = Recorder(results=[2])
    assert tf.plan(out="tfplan", var_files=["minimal.tfvars", "loadstack.auto.tfvars.json"]) == 2
    argv = tf.calls[0]
    assert argv[:2] == [TF, "plan"]
    for flag in ("-input=false", "-no-color", "-json", "-detailed-exitcode", "-out=tfplan",
                 "-lock-timeout=120s", "-var-file=minimal.tfvars", "-var-file=loadstack.auto.tfvars.json"):
        assert flag in argv
    assert "-destroy" not in argv
    assert not any(a.startswith("-var=") for a in argv)


def test_plan_exit_code_1_is_an_error():
    tf = Recorder(results=[1])
    with pytest.raises(TerraformError, match="terraform plan failed with exit code 1"):
        tf.plan(out="tfplan", var_files=[])


def test_apply_takes_the_saved_plan_and_no_variables():
    tf = Recorder()
    tf.apply_plan("tfplan")
    argv = tf.calls[0]
    assert argv[:2] == [TF, "apply"] and argv[-1] == "tfplan"
    assert "-input=false" in argv and "-no-color" in argv and "-json" in argv
    assert not any(a.startswith(("-var", "-auto-approve", "-synchronous")) for a in argv)


def test_upstream_apply_without_plan_is_refused():
    with pytest.raises(NotImplementedError):
        Recorder().apply("some/dir")


def test_destroy_uses_auto_approve_not_the_removed_force_flag():
    tf = Recorder()
    tf.destroy(var_files=["minimal.tfvars"])
    argv = tf.calls[0]
    assert argv[:2] == [TF, "destroy"]
    assert "-auto-approve" in argv and "-force" not in argv and "-var-file=minimal.tfvars" in argv


def test_outputs_reads_all_outputs_as_json():
    payload = {"vpc_id": {"value": "vpc-1", "type": "string", "sensitive": False}}
    tf = Recorder(stdout=json.dumps(payload))
    assert tf.outputs() == payload
    assert tf.calls == [[TF, "output", "-json", "-no-color"]]
    with pytest.raises(NotImplementedError):
        tf.output("vpc_id")


def test_subprocess_gets_only_the_given_environment(tmp_path):
    script = tmp_path / "fake-terraform"
    script.write_text('#!/bin/sh\necho "{\\"A\\": \\"$A\\", \\"HOME\\": \\"$HOME\\"}"\n')
    script.chmod(0o755)
    lines = []
    tf = Terraform111(working_dir=str(tmp_path), terraform_bin_path=str(script), env={"A": "x"}, on_stdout_line=lines.append)
    assert tf.outputs() == {"A": "x", "HOME": ""}
    assert lines == ['{"A": "x", "HOME": ""}']
