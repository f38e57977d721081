"""The registry tasks against moto's in-process S3: what each writes for its run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

from loadstack.airflow.operators.registry_entry import (
    MarkTearingDownOperator,
    MarkTeardownFailedOperator,
    RegisterStackOperator,
    RemoveFromRegistryOperator,
)
from loadstack.stack_registry import StackRegistry

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
def registry(s3_profile) -> StackRegistry:
    return StackRegistry(s3_profile, clock=lambda: T0)


def with_registry(operator, registry):
    operator.registry = registry  # the cached property's value: the registry on moto with a fixed clock
    return operator


def context(run_id: str, task_states: dict[str, str] | None = None, dag_id: str = "shop__teardown") -> dict:
    ti = mock.Mock(dag_id=dag_id)
    ti.get_task_states.return_value = {run_id: task_states or {}}
    return {"ti": ti, "dag_run": mock.Mock(run_id=run_id)}


def register(registry, run_id: str = "manual__1"):
    op = RegisterStackOperator(task_id="registry-register", stack="shop", variant="production", ttl="1h30m",
                               stack_owner="sre-load", teardown_dag="shop__teardown")
    return with_registry(op, registry).execute(context(run_id, dag_id="shop"))


def test_register_lists_the_run_with_its_variant_and_ttl(registry):
    written = register(registry)
    entry = registry.get("shop")
    assert written == entry.to_json()
    assert (entry.run_id, entry.variant, entry.owner, entry.profile, entry.teardown_dag) == (
        "manual__1", "production", "sre-load", "aws", "shop__teardown")
    assert entry.expires_at == T0 + timedelta(hours=1, minutes=30)


def test_a_bad_ttl_fails_the_task_naming_the_value(registry):
    op = RegisterStackOperator(task_id="r", stack="shop", variant="minimal", ttl="soon", stack_owner="o",
                               teardown_dag="shop__teardown")
    with pytest.raises(ValueError, match="'soon' is not a duration"):
        with_registry(op, registry).execute(context("manual__1"))


def test_teardown_marks_then_removes(registry):
    register(registry)
    mark = with_registry(MarkTearingDownOperator(task_id="m", stack="shop", reason="manual teardown"), registry)
    mark.execute(context("manual__9"))
    entry = registry.get("shop")
    assert (entry.status, entry.reason, entry.teardown_run) == ("tearing_down", "manual teardown", "manual__9")
    with_registry(RemoveFromRegistryOperator(task_id="rm", stack="shop"), registry).execute(context("manual__9"))
    assert registry.get("shop") is None


def test_teardown_of_an_unlisted_stack_goes_ahead(registry):
    with_registry(MarkTearingDownOperator(task_id="m", stack="shop", reason="r"), registry).execute(context("r1"))
    with_registry(RemoveFromRegistryOperator(task_id="rm", stack="shop"), registry).execute(context("r1"))
    assert registry.list() == []


def test_the_failure_path_names_the_tasks_that_failed(registry):
    register(registry)
    # surge.checks failed earlier in the run (a stack DAG's own teardown): not the teardown's failure.
    states = {"surge.checks": "failed", "registry-tearing-down": "success", "app.destroy": "failed",
              "mail.destroy": "failed", "network.destroy": "upstream_failed", "registry-remove": None,
              "registry-teardown-failed": "running"}
    with DAG(dag_id="shop__teardown", schedule=None):
        destroys = [EmptyOperator(task_id=t) for t in ("registry-tearing-down", "app.destroy", "mail.destroy",
                                                        "network.destroy")]
        op = with_registry(MarkTeardownFailedOperator(task_id="registry-teardown-failed", stack="shop"), registry)
        op.set_upstream(destroys)
    ctx = context("manual__9", states)
    op.execute(ctx)
    ctx["ti"].get_task_states.assert_called_once_with(dag_id="shop__teardown", run_ids=["manual__9"])
    entry = registry.get("shop")
    assert entry.status == "teardown_failed"
    assert entry.reason == ("teardown run manual__9 of shop__teardown failed at app.destroy, mail.destroy "
                            "(see that task's log)")
