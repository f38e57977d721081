"""The stack registry's tasks in a stack's DAGs: where they sit, their trigger rules and arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadstack.spec import load_stack

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"


@pytest.fixture(scope="module")
def storefront():
    return load_stack(FIXTURES / "good_specs" / "storefront.yaml", modules_dir=FIXTURES / "modules")


def test_the_stack_dag_registers_once_every_step_is_up(storefront):
    from airflow.sdk import TriggerRule

    from loadstack.airflow.render import build_dag

    dag = build_dag(storefront)
    register = dag.get_task("registry-register")
    # After every step's last task (handlers included), so only a run that stood the whole stack up registers.
    assert register.upstream_task_ids == {"network.publish_ssm_parameter", "network.publish_ssm_parameter_2",
                                          "app.publish_airflow_variable", "mail.apply"}
    # Then only the run's end: the teardown decision, the unlock and the outcome wait for every task.
    assert register.downstream_task_ids == {"teardown-decide", "stack-unlock", "run-outcome"}
    assert register.trigger_rule == TriggerRule.ALL_SUCCESS
    assert (register.stack, register.stack_owner, register.ttl, register.teardown_dag) == (
        "storefront", "sre-load", "{{ params.ttl }}", "storefront__teardown")
    # The run's TTL Param, whose default is the spec's ttl.
    assert dag.params["ttl"] == "2h"
    assert register.variant == "{{ params.variant }}"
    assert set(register.template_fields) == {"variant", "ttl"}


def test_steps_with_nothing_to_destroy_do_not_hold_up_registration():
    """A ramp (or its checks) failing later leaves the stack up all the same: it is listed before the ramp."""
    from loadstack.airflow.render import build_dag

    shop = load_stack(FIXTURES.parent.parent / "include" / "stacks" / "shop.yaml")
    dag = build_dag(shop)
    register = dag.get_task("registry-register")
    upstream_steps = {task_id.split(".")[0] for task_id in register.get_flat_relative_ids(upstream=True)
                      if task_id != "stack-lock"}
    # surge is the ramp; the snapshot check and rebuild run before every step.
    assert upstream_steps == set(shop.steps) - {"surge"} | {"snapshots-current", "snapshots-rebuild"}
    assert shop.steps["surge"].kind == "ramp"


def test_the_teardown_dag_marks_first_then_removes_or_flags(storefront):
    from airflow.sdk import TriggerRule

    from loadstack.airflow.render import build_teardown_dag

    dag = build_teardown_dag(storefront)
    destroys = {"network.destroy", "app.destroy", "mail.destroy"}
    mark, remove, failed = (dag.get_task(t) for t in ("registry-tearing-down", "registry-remove",
                                                        "registry-teardown-failed"))
    # After the stack lock (test_stack_lock_render.py), which is given back after everything.
    assert mark.upstream_task_ids == {"stack-lock"} and mark.downstream_task_ids == {
        "app.destroy", "mail.destroy", "registry-remove", "registry-teardown-failed", "stack-unlock"}
    assert remove.upstream_task_ids == failed.upstream_task_ids == destroys | {"registry-tearing-down"}
    assert remove.trigger_rule == TriggerRule.ALL_SUCCESS
    assert failed.trigger_rule == TriggerRule.ONE_FAILED
    assert {t.task_id for t in dag.tasks if t.downstream_task_ids == {"stack-unlock"}} == {
        "registry-remove", "registry-teardown-failed"}
    assert mark.reason == "{{ params.reason }}"
    assert dag.params["reason"] == "manual teardown"
    assert all(t.stack == "storefront" for t in (mark, remove, failed))


def test_registry_tasks_retry_quickly_and_never_wait_long(storefront):
    from loadstack.airflow.render import build_dag, build_teardown_dag

    tasks = [build_dag(storefront).get_task("registry-register"),
             *(t for t in build_teardown_dag(storefront).tasks if t.task_id.startswith("registry-"))]
    assert len(tasks) == 4
    for task in tasks:
        assert task.retries == 2 and task.execution_timeout.total_seconds() == 120
        assert task.owner == "sre-load"


def test_a_teardown_without_the_reason_param_passes_its_own(storefront):
    from airflow.sdk import DAG

    from loadstack.airflow.render.registry_tasks import add_teardown_bookkeeping

    with DAG(dag_id="storefront_inline", schedule=None) as dag:
        mark, _remove, _failed = add_teardown_bookkeeping(dag, storefront, reason="end of the nightly run")
    assert mark.reason == "end of the nightly run"


def test_a_stack_with_nothing_to_destroy_is_not_registered(tmp_path):
    """Nothing of it stays up (a ramp alone against an existing system): nothing to list, reap or tear down."""
    import yaml

    from loadstack.airflow.render import build_dag

    spec = {"name": "probe", "description": "d", "owner": "sre", "steps": {"surge": {
        "kind": "ramp", "target_url": "http://127.0.0.1:9/", "metrics": {"source": "locust"},
        "target_qps": 100, "threshold_qps": 10, "bucket_qps": 5, "approval": {"before": "hold"}}}}
    (tmp_path / "probe.yaml").write_text(yaml.safe_dump(spec))
    dag = build_dag(load_stack(tmp_path / "probe.yaml"))
    assert "registry-register" not in dag.task_dict
    assert not {"teardown-decide", "registry-tearing-down"} & set(dag.task_dict)
    # The approval task is followed only by the run's end (which runs whatever became of it): a rejection
    # skips only what follows it in the ramp.
    assert dag.get_task("surge.approve_hold").downstream_task_ids == {"stack-unlock", "run-outcome"}
