"""The stack DAG's own teardown and outcome: setup/teardown semantics, reverse order, the keep_up Param."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadstack.spec import load_stack

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
ROOT = FIXTURES.parent.parent
STEP_TASKS = {"network.apply", "network.publish_ssm_parameter", "network.publish_ssm_parameter_2", "app.apply",
              "app.publish_airflow_variable", "mail.apply", "registry-register"}
DESTROYS = {"stack-teardown.network.destroy", "stack-teardown.app.destroy", "stack-teardown.mail.destroy"}


@pytest.fixture(scope="module")
def dag():
    from loadstack.airflow.render import build_dag

    return build_dag(load_stack(FIXTURES / "good_specs" / "storefront.yaml", modules_dir=FIXTURES / "modules"))


def test_the_decision_follows_every_step_task_whatever_became_of_it(dag):
    from airflow.sdk import TriggerRule

    decide = dag.get_task("teardown-decide")
    assert decide.is_setup and decide.trigger_rule == TriggerRule.ALL_DONE
    # Every task, not only the leaves: a leaf is upstream_failed while a sibling branch may still be applying.
    assert decide.upstream_task_ids == STEP_TASKS
    assert decide.downstream_task_ids == DESTROYS | {"registry-tearing-down"}


def test_destroys_are_teardowns_of_the_decision_in_reverse_order(dag):
    from airflow.sdk import TriggerRule

    for task_id in DESTROYS:
        task = dag.get_task(task_id)
        assert task.is_teardown and task.on_failure_fail_dagrun, task_id
        assert task.trigger_rule == TriggerRule.ALL_DONE_SETUP_SUCCESS
        assert "teardown-decide" in task.upstream_task_ids
    assert dag.get_task("stack-teardown.network.destroy").upstream_task_ids == {
        "teardown-decide", "stack-teardown.app.destroy", "stack-teardown.mail.destroy"}
    assert dag.get_task("stack-teardown.app.destroy").upstream_task_ids == {"teardown-decide", "registry-tearing-down"}
    # The teardown DAG's own destroy tasks: the same operators with the same arguments.
    app = dag.get_task("stack-teardown.app.destroy")
    assert type(app).__name__ == "TerraformDestroyOperator"
    assert app.state_objects == {"network": "env:/storefront-network/loadstack/network.tfstate"}
    assert app.workspace == "storefront-app"


def test_registry_bookkeeping_surrounds_the_destroys(dag):
    mark, remove, failed = (dag.get_task(t) for t in ("registry-tearing-down", "registry-remove",
                                                        "registry-teardown-failed"))
    assert mark.upstream_task_ids == {"teardown-decide"}
    assert mark.reason == "torn down at the end of its run {{ run_id }}"
    assert remove.upstream_task_ids == failed.upstream_task_ids == DESTROYS | {"registry-tearing-down"}


def test_the_outcome_is_the_last_task_and_sees_every_other(dag):
    from airflow.sdk import TriggerRule

    outcome = dag.get_task("run-outcome")
    assert outcome.trigger_rule == TriggerRule.ALL_DONE and outcome.downstream_task_ids == set()
    others = {t.task_id for t in dag.tasks} - {"run-outcome"}
    # Setups aside (Airflow wants a setup's direct downstream all_success or teardowns); their teardowns are in.
    assert outcome.upstream_task_ids == others - {"teardown-decide", "stack-lock"}
    assert (outcome.register_task_id, outcome.remove_task_id, outcome.decision_task_id) == (
        "registry-register", "registry-remove", "teardown-decide")
    assert outcome.ramp_report_task_ids == {}


def test_setup_teardown_rules_hold_for_every_spec():
    from loadstack.airflow.render import build_dag

    for spec in sorted((ROOT / "include" / "stacks").glob("*.yaml")):
        dag = build_dag(load_stack(spec))
        dag.validate_setup_teardown()
        if dag.schedule is not None:
            dag.params.validate()  # a scheduled DAG's Params are validated when it is parsed: defaults must pass
        assert dag.get_task("run-outcome").downstream_task_ids == set(), spec.name


def test_the_shop_stack_runs_nightly_and_reports_its_ramp():
    from loadstack.airflow.render import build_dag

    dag = build_dag(load_stack(ROOT / "include" / "stacks" / "shop.yaml"))
    assert dag.timetable.expression == "0 2 * * *" and dag.catchup is False
    assert dag.params["variant"] == "minimal"
    assert dag.get_task("run-outcome").ramp_report_task_ids == {"surge": "surge.report"}


def test_keep_up_param_is_null_by_default_and_boolean_when_set(dag):
    from airflow.sdk.definitions.param import ParamValidationError

    keep_up = dag.params.get_param("keep_up")
    assert keep_up.value is None
    assert keep_up.resolve(True) is True and keep_up.resolve(False) is False
    with pytest.raises(ParamValidationError):
        keep_up.resolve("yes")


def test_the_teardown_dag_has_no_decision_it_always_tears_down():
    from loadstack.airflow.render import build_teardown_dag

    teardown = build_teardown_dag(load_stack(FIXTURES / "good_specs" / "storefront.yaml",
                                             modules_dir=FIXTURES / "modules"))
    assert "teardown-decide" not in teardown.task_ids and "keep_up" not in teardown.params
    assert not any(t.is_teardown for t in teardown.tasks if t.task_id.endswith(".destroy"))
