"""The `loadstack_snapshots` DAG: one build task per logical snapshot defined in include/snapshots/, each
updating that snapshot's Asset."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, Param

from loadstack.airflow.operators.snapshots import SnapshotBuildOperator, snapshot_asset
from loadstack.airflow.render.context import START_DATE, queue_args
from loadstack.profiles import load_profile
from loadstack.queues import INFRA
from loadstack.snapshots.catalog import load_definitions

SNAPSHOTS_DAG_ID = "loadstack_snapshots"


def build_snapshots_dag(snapshots_dir: Path):
    """One task per logical snapshot in `snapshots_dir`; they build in parallel."""
    definitions = load_definitions(snapshots_dir)
    with DAG(
        dag_id=SNAPSHOTS_DAG_ID,
        description="Build missing or outdated snapshots (migrated, seeded, cache) and record them in the catalog",
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["loadstack", "snapshots"],
        # A build restores, migrates and seeds a database, then packs it: infrastructure work.
        default_args={"owner": "loadstack", "retries": 1, "retry_delay": timedelta(seconds=15),
                      **queue_args(load_profile(), INFRA)},
        params={"rebuild": Param(False, type="boolean", title="Rebuild", description="Build even if current.")},
        doc_md="Builds every snapshot defined in `include/snapshots/*.yaml` that is missing or out of date for "
        "this profile; stacks restore from the catalog it writes.",
    ) as dag:
        for name in sorted(definitions):
            SnapshotBuildOperator(
                task_id=f"build_{name.replace('-', '_')}",
                snapshot=name,
                definition=definitions[name].model_dump(),
                rebuild="{{ params.rebuild }}",
                outlets=[snapshot_asset(name)],
            )
    return dag
