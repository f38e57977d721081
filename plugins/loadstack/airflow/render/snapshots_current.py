"""The stack DAG's snapshot tasks, when the stack restores from snapshots: the check before every step, then the
rebuild of what it found stale (skipped when nothing is)."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, TriggerRule

from loadstack.airflow.operators.snapshot_restore import SnapshotRestoreOperator
from loadstack.airflow.operators.snapshots import snapshot_asset
from loadstack.airflow.operators.snapshots_current import SnapshotsCurrentOperator
from loadstack.airflow.operators.snapshots_rebuild import SnapshotsRebuildOperator
from loadstack.airflow.render.snapshots import SNAPSHOTS_DAG_ID
from loadstack.spec import Stack

# Hyphens, which step names cannot have (kinds.base.STEP_NAME_PATTERN): no step's group collides with them.
SNAPSHOTS_CURRENT_TASK_ID = "snapshots-current"
SNAPSHOTS_REBUILD_TASK_ID = "snapshots-rebuild"
REBUILD_PARAM = "rebuild_snapshots"
# How often the rebuild polls the snapshots DAG's run, from the triggerer.
REBUILD_POKE_INTERVAL_S = 15


def add_snapshots_current(dag: DAG, stack: Stack) -> tuple[SnapshotsCurrentOperator, SnapshotsRebuildOperator] | None:
    """Check every restore's snapshot (the run's choice, a Param) first, then rebuild what is stale; None for a
    stack that restores none.

    The check's inlets are every snapshot the restores may use (a step's choices too): the asset graph shows them
    all. The steps that came first run after the rebuild even when it is skipped (nothing stale), but not when
    the check or the rebuild failed: trigger rule none_failed.
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
    snapshots_dir = restores[0].snapshots_dir
    check = SnapshotsCurrentOperator(
        task_id=SNAPSHOTS_CURRENT_TASK_ID, dag=dag, stack=stack.name,
        snapshots={task.step: task.snapshot for task in restores},
        snapshots_dir=snapshots_dir,
        rebuild=f"{{{{ params.{REBUILD_PARAM} }}}}",
        inlets=[snapshot_asset(name) for name in sorted(choices)],
        # A catalog read is a few S3 requests: retry a flaky one; an out-of-date snapshot fails without retries.
        retries=2, retry_delay=timedelta(seconds=5), execution_timeout=timedelta(minutes=2),
        doc_md="Checks every snapshot the run restores against the catalog. Missing or out of date (its definition "
        f"changed): with the run's `{REBUILD_PARAM}` on (the default) it hands them to `{SNAPSHOTS_REBUILD_TASK_ID}`; "
        f"off, it fails the run before anything is stood up: run the `{SNAPSHOTS_DAG_ID}` DAG, then this one again.",
    )
    rebuild = SnapshotsRebuildOperator(
        task_id=SNAPSHOTS_REBUILD_TASK_ID, dag=dag, stack=stack.name, trigger_dag_id=SNAPSHOTS_DAG_ID,
        check_task_id=SNAPSHOTS_CURRENT_TASK_ID, snapshots_dir=snapshots_dir, poke_interval=REBUILD_POKE_INTERVAL_S,
        # A failed snapshot run is retried by that DAG's own task retries; a paused DAG needs a person.
        retries=0, execution_timeout=timedelta(minutes=5),
        doc_md=f"Skipped when every snapshot is current. Otherwise triggers `{SNAPSHOTS_DAG_ID}` (or waits for its "
        "run already queued or running) and waits, deferred, for it to rebuild what is stale; fails at once when "
        "that DAG is paused or missing, and when its run fails.",
    )
    check >> rebuild
    for task in roots:
        task.trigger_rule = TriggerRule.NONE_FAILED
    rebuild.set_downstream(roots)
    return check, rebuild
