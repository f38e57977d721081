"""The stack registry's tasks in a stack's DAGs: the stack DAG registers the stack once it is up, the
teardown DAG marks, then removes or flags the entry.

Task ids carry a hyphen, which step names cannot (kinds.base.STEP_NAME_PATTERN): no step's task group
can collide with them.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, BaseOperator, TaskGroup, TriggerRule

from loadstack.airflow.operators.registry_entry import (
    MarkTearingDownOperator,
    MarkTeardownFailedOperator,
    RegisterStackOperator,
    RemoveFromRegistryOperator,
)
from loadstack.airflow.render.context import VARIANT_TEMPLATE
from loadstack.spec import Stack

REGISTER_TASK_ID = "registry-register"
MARK_TEARING_DOWN_TASK_ID = "registry-tearing-down"
REMOVE_TASK_ID = "registry-remove"
MARK_FAILED_TASK_ID = "registry-teardown-failed"
REASON_TEMPLATE = "{{ params.reason }}"
# The stack DAG's `ttl` Param (render.dag): the spec's ttl unless the run asks for another.
TTL_TEMPLATE = "{{ params.ttl }}"
# Registry calls are a few S3 requests: retry a flaky one, never wait long.
_TASK_ARGS = dict(retries=2, retry_delay=timedelta(seconds=5), execution_timeout=timedelta(minutes=2))


def add_registration(dag: DAG, stack: Stack, *, stood_up_by: list[TaskGroup], teardown_dag_id: str
                     ) -> RegisterStackOperator | None:
    """List the stack as up once every step that leaves something running (`stood_up_by`: the groups of the
    steps the teardown DAG destroys) succeeded: as soon as the stack is up, not after a two-hour ramp, and
    also when a later ramp or check fails, since the stack is up all the same. A stack none of whose steps
    leaves anything running (a ramp alone against an existing system) has nothing to list, reap or tear down."""
    if not stood_up_by:
        return None
    register = RegisterStackOperator(
        task_id=REGISTER_TASK_ID, dag=dag, stack=stack.name, variant=VARIANT_TEMPLATE, ttl=TTL_TEMPLATE,
        stack_owner=stack.model.owner, teardown_dag=teardown_dag_id, doc_md="Lists the stack in the registry "
        "(`loadstack ls`) as up until its TTL runs out; the reaper tears it down then.", **_TASK_ARGS,
    )
    register.set_upstream(stood_up_by)
    return register


def add_teardown_bookkeeping(dag: DAG, stack: Stack, *, reason: str = REASON_TEMPLATE,
                             destroy_tasks: list[BaseOperator] | None = None
                             ) -> tuple[BaseOperator, BaseOperator, BaseOperator]:
    """Around the destroy tasks (`destroy_tasks`, by default every task of a teardown DAG): mark tearing_down
    first, then remove the entry when all succeeded, or flag it teardown_failed with the failed tasks (the
    one_failed path).

    `reason` (a template) is what the entry says while the teardown runs: the teardown DAG's `reason`
    Param by default; a DAG without that Param passes its own.
    """
    tasks = list(dag.tasks) if destroy_tasks is None else list(destroy_tasks)
    ids = {task.task_id for task in tasks}
    roots = [task for task in tasks if not task.upstream_task_ids & ids]
    mark = MarkTearingDownOperator(task_id=MARK_TEARING_DOWN_TASK_ID, dag=dag, stack=stack.name,
                                   reason=reason, **_TASK_ARGS)
    remove = RemoveFromRegistryOperator(task_id=REMOVE_TASK_ID, dag=dag, stack=stack.name, **_TASK_ARGS)
    failed = MarkTeardownFailedOperator(task_id=MARK_FAILED_TASK_ID, dag=dag, stack=stack.name,
                                        trigger_rule=TriggerRule.ONE_FAILED, **_TASK_ARGS)
    mark.set_downstream(roots)
    # Every destroy task feeds both: the entry goes only when all succeeded, and the failure path
    # names the tasks that failed.
    for task in [mark, *tasks]:
        task.set_downstream([remove, failed])
    return mark, remove, failed
