"""The stack DAG's snapshot check: one task before every step, when the stack restores from snapshots."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from loadstack.airflow.operators.snapshot_restore import SnapshotRestoreOperator
from loadstack.airflow.operators.snapshots import snapshot_asset
from loadstack.airflow.operators.snapshots_current import SnapshotsCurrentOperator
from loadstack.spec import Stack

# A hyphen, which step names cannot have (kinds.base.STEP_NAME_PATTERN): no step's group collides with it.
SNAPSHOTS_CURRENT_TASK_ID = "snapshots-current"


def add_snapshots_current(dag: DAG, stack: Stack) -> SnapshotsCurrentOperator | None:
    """Check every restore's snapshot (the run's choice, a Param) first; None for a stack that restores none.

    Its inlets are every snapshot the restores may use (a step's choices too): the asset graph shows them all.
    """
    restores = [task for task in dag.tasks if isinstance(task, SnapshotRestoreOperator)]
    if not restores:
        return None
    roots = [task for task in dag.tasks if not task.upstream_task_ids]
    choices = set()
    for task in restores:
        step = stack.steps[task.step]
        choices.add(step.snapshot)  # type: ignore[attr-defined]  # every restore kind names its snapshot
        choices.update(getattr(step, "snapshot_choices", ()))
    check = SnapshotsCurrentOperator(
        task_id=SNAPSHOTS_CURRENT_TASK_ID, dag=dag, stack=stack.name,
        snapshots={task.step: task.snapshot for task in restores},
        snapshots_dir=restores[0].snapshots_dir,
        inlets=[snapshot_asset(name) for name in sorted(choices)],
        # A catalog read is a few S3 requests: retry a flaky one; an out-of-date snapshot fails without retries.
        retries=2, retry_delay=timedelta(seconds=5), execution_timeout=timedelta(minutes=2),
        doc_md="Fails the run before anything is stood up when a snapshot it restores is missing or out of date "
        "(its definition changed): run the `loadstack_snapshots` DAG, then this one again.",
    )
    check.set_downstream(roots)
    return check
