"""The tasks a stack DAG adds around its steps: the guaranteed teardown and the run's outcome.

After the steps (every task of them, whatever their state), `teardown-decide` decides whether this run tears
the stack down (operators.stack_run). It is the *setup* of every destroy task, which are teardown tasks
(Airflow's setup/teardown semantics): they run when the decision succeeded even though steps failed, and are
skipped with it when the run keeps the stack up. The destroy tasks are the teardown DAG's own (each kind's
`render_teardown`), in the same reverse dependency order, with the same registry bookkeeping around them
(marked tearing_down, then removed, or flagged teardown_failed): destroying what is already gone is a no-op,
so a run that failed half-way, or a rerun, tears down cleanly.

Why the decision and not the steps' apply tasks are the setups: a failed apply can leave half its resources
behind, and its teardown must run all the same; and a skipped setup skips its teardowns, which is exactly
"keep the stack up".

`run-outcome` comes last (all_done): it records the run in the stack's history and fails the run when any task
failed. Without it the run would succeed whenever its teardown did: with on_failure_fail_dagrun the teardown
tasks, not the failed steps before them, decide the run's state.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, BaseOperator, TaskGroup, TriggerRule

from loadstack.airflow.operators.stack_run import RunOutcomeOperator, TeardownDecisionOperator
from loadstack.airflow.render.context import VARIANT_TEMPLATE
from loadstack.airflow.render.registry_tasks import (
    REGISTER_TASK_ID,
    REMOVE_TASK_ID,
    add_teardown_bookkeeping,
)
from loadstack.spec import Stack

DECISION_TASK_ID = "teardown-decide"
OUTCOME_TASK_ID = "run-outcome"
# The destroy tasks' group: a hyphen, which step names cannot have, so no step's group collides with it.
TEARDOWN_GROUP_ID = "stack-teardown"
_SMALL_TASK_ARGS = dict(retries=2, retry_delay=timedelta(seconds=5), execution_timeout=timedelta(minutes=2))
IN_RUN_REASON = "torn down at the end of its run {{ run_id }}"


def add_guaranteed_teardown(dag: DAG, stack: Stack, *, destroy_groups, teardown_dag_id: str) -> TeardownDecisionOperator:
    """Add the decision, then `destroy_groups(parent)` (which renders every step's destroy tasks in reverse
    dependency order inside `parent` and returns them), then the registry bookkeeping.

    Call it after every step is rendered: the decision waits for every task already in the DAG.
    """
    body = [task for task in dag.tasks if not task.is_setup]
    decide = TeardownDecisionOperator(
        task_id=DECISION_TASK_ID, dag=dag, stack=stack.name, teardown_dag=teardown_dag_id,
        # After every step, whatever became of it. Every task, not the leaves only: a leaf is upstream_failed
        # as soon as one of its upstream tasks failed, while another may still be applying.
        trigger_rule=TriggerRule.ALL_DONE, doc_md="Tears the stack down at the end of the run, or keeps it up: the "
        "run's `keep_up` Param, else the run type (manual runs keep it up, scheduled runs and backfills do not). "
        "Skipped when the run keeps it up, which skips every teardown task.", **_SMALL_TASK_ARGS,
    ).as_setup()
    decide.set_upstream(body)
    with TaskGroup(group_id=TEARDOWN_GROUP_ID, dag=dag, tooltip="destroy every step, dependents first") as group:
        destroys: list[BaseOperator] = destroy_groups(group)
    for task in destroys:
        task.as_teardown(setups=decide, on_failure_fail_dagrun=True)
    mark, _remove, _failed = add_teardown_bookkeeping(dag, stack, reason=IN_RUN_REASON, destroy_tasks=destroys)
    decide >> mark
    return decide


def add_run_outcome(dag: DAG, stack: Stack, *, ramp_report_task_ids: dict[str, str]) -> RunOutcomeOperator:
    outcome = RunOutcomeOperator(
        task_id=OUTCOME_TASK_ID, dag=dag, stack=stack.name, variant=VARIANT_TEMPLATE, register_task_id=REGISTER_TASK_ID,
        remove_task_id=REMOVE_TASK_ID, decision_task_id=DECISION_TASK_ID, ramp_report_task_ids=ramp_report_task_ids,
        trigger_rule=TriggerRule.ALL_DONE, doc_md="Records the run (pass/fail, where it failed, spin-up time, ramp "
        "results, teardown) in the stack's history (`loadstack history`, and the history page in the report "
        "bucket), then fails if any task of the run failed.", **_SMALL_TASK_ARGS,
    )
    # After every task (see add_guaranteed_teardown), except setup tasks: Airflow wants a setup's direct
    # downstream tasks all_success or teardowns, and the teardowns after the decision are upstream anyway.
    outcome.set_upstream([task for task in dag.tasks if task is not outcome and not task.is_setup])
    return outcome
