"""Terraform operators' execute with a mocked context and a mocked runner: what runs in which order,
what reaches XCom, and that a failed run keeps its working copy for inspection."""

from __future__ import annotations

from unittest import mock

import pytest

from loadstack.airflow.operators import terraform as operators
from loadstack.airflow.operators.terraform import TerraformApplyOperator, TerraformDestroyOperator
from loadstack.outputs import SENSITIVE_MARKER
from loadstack.terraform.runner import PlanResult

VAR_FILES = ["production.tfvars", "loadstack.auto.tfvars.json"]


@pytest.fixture
def runner(monkeypatch):
    """The TerraformRunner class as a mock; `runner.return_value` is the instance each task uses."""
    runner_class = mock.MagicMock(name="TerraformRunner")
    instance = runner_class.return_value
    instance.prepare.return_value = VAR_FILES
    instance.plan.return_value = PlanResult(has_changes=True, summary={"add": 2}, planned=[])
    instance.timings = {"init": 0.5}
    instance.outputs.return_value = {
        "url": {"value": "http://shop.local", "sensitive": False},
        "admin_password": {"value": "hunter2", "sensitive": True},
    }
    monkeypatch.setattr(operators, "TerraformRunner", runner_class)
    return runner_class


def kwargs(**overrides):
    values = dict(
        task_id="apply", stack="shop", step="app", variant="production", stack_owner="sre",
        module_dir="/modules/app_cluster", modules_root="/modules", workspace="shop-app",
        state_key="loadstack/app_cluster.tfstate",
        variables={"vpc_id": "${steps.network.outputs.vpc_id}", "name": "${stack.name}-app", "min_size": 1},
        variant_variables={"production": {"min_size": 3}},
    )
    values.update(overrides)
    return values


def bind(op, profile):
    op.__dict__["profile"] = profile
    return op


@pytest.fixture
def context(make_context):
    ctx = make_context({"vpc_id": "vpc-1"})
    ctx["dag_run"] = mock.MagicMock(run_id="manual__2026-11-29T10:00:00+00:00")
    return ctx


def test_apply_prepares_resolved_variables_plans_applies_and_publishes(profile, runner, context):
    op = bind(TerraformApplyOperator(output_sources={"network": "network.apply", "app": "app.apply"}, **kwargs()), profile)

    outputs = op.execute(context)

    hook = runner.return_value
    prepare_args = hook.prepare.call_args
    assert prepare_args.args[1:] == ("production", {"vpc_id": "vpc-1", "name": "shop-app", "min_size": 3})
    assert str(prepare_args.kwargs["modules_root"]) == "/modules"
    hook.init.assert_called_once_with("loadstack/app_cluster.tfstate", "shop-app")
    hook.plan.assert_called_once_with(VAR_FILES)
    hook.apply.assert_called_once_with()
    hook.cleanup.assert_called_once_with(keep_working_dir=False)
    assert outputs["url"] == "http://shop.local"
    # A sensitive output never reaches XCom: a marker names where the value lives.
    assert outputs["admin_password"] == {SENSITIVE_MARKER: {
        "state_object": "env:/shop-app/loadstack/app_cluster.tfstate", "output": "admin_password"}}
    context["ti"].xcom_push.assert_called_once_with(key="changed", value=True)
    context["ti"].xcom_pull.assert_any_call(task_ids="network.apply")


def test_apply_without_changes_skips_the_apply(profile, runner, context):
    runner.return_value.plan.return_value = PlanResult(has_changes=False, summary={}, planned=[])
    op = bind(TerraformApplyOperator(output_sources={"network": "network.apply"}, **kwargs()), profile)

    op.execute(context)

    runner.return_value.apply.assert_not_called()
    context["ti"].xcom_push.assert_called_once_with(key="changed", value=False)


def test_a_failed_init_keeps_the_working_copy_and_fails_the_task(profile, runner, context):
    runner.return_value.init.side_effect = RuntimeError("terraform init failed (exit 1): no mirror")
    op = bind(TerraformApplyOperator(output_sources={"network": "network.apply"}, **kwargs()), profile)

    with pytest.raises(RuntimeError, match="terraform init failed"):
        op.execute(context)

    runner.return_value.plan.assert_not_called()
    runner.return_value.cleanup.assert_called_once_with(keep_working_dir=True)


def test_destroy_without_state_runs_no_terraform(profile, runner, context, monkeypatch):
    monkeypatch.setattr(operators, "holds_resources", mock.Mock(return_value=False))
    op = bind(TerraformDestroyOperator(state_objects={"network": "env:/shop-network/x.tfstate"},
                                       **kwargs(task_id="destroy")), profile)

    op.execute(context)

    runner.assert_not_called()


def test_destroy_reads_upstream_outputs_from_remote_state(profile, runner, context, monkeypatch):
    monkeypatch.setattr(operators, "holds_resources", mock.Mock(return_value=True))
    resolver_state = {"network": {"vpc_id": {"value": "vpc-from-state", "sensitive": False}}}
    monkeypatch.setattr("loadstack.outputs.state_exists", lambda profile, key: True)
    monkeypatch.setattr("loadstack.outputs.read_state_outputs",
                        lambda profile, key: resolver_state["network"] if "network" in key else {})
    op = bind(TerraformDestroyOperator(state_objects={"network": "env:/shop-network/loadstack/network.tfstate"},
                                       **kwargs(task_id="destroy")), profile)

    op.execute(context)

    hook = runner.return_value
    assert hook.prepare.call_args.args[2]["vpc_id"] == "vpc-from-state"
    hook.destroy.assert_called_once_with(VAR_FILES)
    context["ti"].xcom_pull.assert_not_called()  # teardown never needs the applies' XComs
    hook.cleanup.assert_called_once_with(keep_working_dir=False)


def test_constructors_do_no_io(runner, monkeypatch):
    monkeypatch.setattr(operators, "holds_resources", mock.Mock(side_effect=AssertionError("I/O in __init__")))
    with mock.patch("loadstack.airflow.operators.base.task_profile") as task_profile:
        TerraformApplyOperator(output_sources={}, **kwargs())
        TerraformDestroyOperator(state_objects={}, **kwargs(task_id="destroy"))
    task_profile.assert_not_called()
    runner.assert_not_called()


def test_on_kill_stops_the_running_terraform(profile, runner, context):
    # Terraform runs in a session of its own: Airflow's SIGTERM to the task's process group does not reach it.
    op = bind(TerraformApplyOperator(output_sources={"network": "network.apply"}, **kwargs()), profile)
    op.on_kill()  # before any run: nothing to stop, no error
    runner.return_value.stop.assert_not_called()
    op.execute(context)
    op.on_kill()
    runner.return_value.stop.assert_called_once_with()
