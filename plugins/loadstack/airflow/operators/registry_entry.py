"""Stack registry tasks: register a stack a run stood up; mark, clear or flag it as its teardown goes.

Each is one call into `loadstack.stack_registry` (the state bucket), so a teardown inside the stack
DAG (setup/teardown semantics) can reuse them as they are.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from loadstack.airflow.operators.base import TaskProfile
from loadstack.spec import parse_duration
from loadstack.stack_registry import StackRegistry


class StackRegistryOperator(BaseOperator, TaskProfile):
    """Base: the stack whose entry the task changes, and the registry in the profile's state bucket."""

    ui_color = "#eef7e4"

    def __init__(self, *, stack: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stack = stack

    @cached_property
    def registry(self) -> StackRegistry:
        return StackRegistry(self.profile)


class RegisterStackOperator(StackRegistryOperator):
    """The run stood the stack up: list it as up until now + ttl."""

    template_fields = ("variant", "ttl")

    def __init__(self, *, variant: str, ttl: str, stack_owner: str, teardown_dag: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.variant = variant
        self.ttl = ttl
        self.stack_owner = stack_owner
        self.teardown_dag = teardown_dag

    def execute(self, context) -> dict[str, Any]:
        entry = self.registry.register(
            stack=self.stack, variant=self.variant, run_id=context["dag_run"].run_id, owner=self.stack_owner,
            ttl=parse_duration(self.ttl), teardown_dag=self.teardown_dag,
        )
        self.log.info("registered %s (%s, variant %s) as up until %s (ttl %s); %s tears it down",
                      self.stack, entry.profile, entry.variant, entry.expires_at.isoformat(), self.ttl,
                      self.teardown_dag)
        return entry.to_json()


class MarkTearingDownOperator(StackRegistryOperator):
    """A teardown run starts: the entry says so, with why."""

    template_fields = ("reason",)

    def __init__(self, *, reason: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reason = reason

    def execute(self, context) -> None:
        run_id = context["dag_run"].run_id
        entry = self.registry.mark_tearing_down(self.stack, reason=self.reason, teardown_run=run_id)
        if entry is None:
            self.log.info("%s is not in the registry (never registered, or already removed): tearing down anyway",
                          self.stack)
        else:
            self.log.info("%s marked tearing_down by run %s: %s", self.stack, run_id, entry.reason)


class RemoveFromRegistryOperator(StackRegistryOperator):
    """The teardown succeeded: the stack is no longer listed."""

    def execute(self, context) -> None:
        run_id = context["dag_run"].run_id
        if self.registry.remove(self.stack, teardown_run=run_id):
            self.log.info("%s torn down by run %s: removed from the registry", self.stack, run_id)
        else:
            self.log.info("%s: no registry entry removed (not listed, or registered again meanwhile)", self.stack)


class MarkTeardownFailedOperator(StackRegistryOperator):
    """On the failure path of a teardown (trigger rule one_failed): the stack stays listed, with the reason."""

    def execute(self, context) -> None:
        ti, run_id = context["ti"], context["dag_run"].run_id
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[run_id]).get(run_id, {})
        # The destroy tasks before it that failed themselves (not those that failed because an upstream task
        # did): in a stack DAG's own teardown, a step that failed earlier in the run is not the teardown's.
        failed = sorted(task for task, state in states.items() if state == "failed" and task in self.upstream_task_ids)
        reason = (f"teardown run {run_id} of {ti.dag_id} failed at {', '.join(failed) or 'an unknown task'}"
                  " (see that task's log)")
        if self.registry.mark_teardown_failed(self.stack, reason=reason) is None:
            self.log.warning("%s is not in the registry; its teardown failed: %s", self.stack, reason)
        else:
            self.log.error("%s stays listed as teardown_failed: %s", self.stack, reason)
