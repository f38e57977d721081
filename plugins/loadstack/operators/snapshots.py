"""SnapshotBuildOperator: make one logical snapshot current for this profile (no-op when it is)."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from loadstack.profiles import Profile, load_profile
from loadstack.snapshots.catalog import Catalog, SnapshotDefinition


class SnapshotBuildOperator(BaseOperator):
    template_fields = ("rebuild",)
    ui_color = "#e8f6e8"

    def __init__(self, *, snapshot: str, definition: dict[str, Any], rebuild: Any = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.snapshot = snapshot
        self.definition = definition
        self.rebuild = rebuild

    @cached_property
    def profile(self) -> Profile:
        return load_profile()

    def execute(self, context) -> dict[str, Any]:
        from loadstack.data.migrate import schema_hash

        definition = SnapshotDefinition.model_validate(self.definition)
        if self.profile.allowed_account_ids:
            self.profile.verify_account()
        entry = Catalog(self.profile).get(self.snapshot)
        if entry and entry.is_current(definition, schema_hash()) and str(self.rebuild).lower() not in ("true", "1"):
            self.log.info("%s is current (built %s, s3://%s/%s): nothing to do", self.snapshot, entry.built_at,
                          self.profile.snapshot_bucket, entry.location)
            return {"snapshot": self.snapshot, "location": entry.location, "built": False}
        if not self.profile.is_local:
            raise RuntimeError(
                f"building {self.snapshot} on the {self.profile.name} profile is not supported yet: create the RDS "
                f"cluster snapshot (or ElastiCache snapshot) yourself and record it as catalog/{self.snapshot}.json "
                f"in s3://{self.profile.snapshot_bucket} with its id as `location`"
            )
        if definition.engine == "mariadb":
            from loadstack.snapshots.build import build_mariadb_snapshot

            entry = build_mariadb_snapshot(self.profile, self.snapshot, definition, say=self.log.info)
        else:
            from loadstack.snapshots.build import build_redis_snapshot

            entry = build_redis_snapshot(self.profile, self.snapshot, definition, say=self.log.info)
        return {"snapshot": self.snapshot, "location": entry.location, "built": True}


def build_snapshots_dag(snapshots_dir: Path):
    """One task per logical snapshot in `snapshots_dir`; they build in parallel."""
    from airflow.sdk import DAG, Param

    from loadstack.render import START_DATE
    from loadstack.snapshots.catalog import load_definitions

    definitions = load_definitions(snapshots_dir)
    with DAG(
        dag_id="loadstack_snapshots",
        description="Build missing or outdated snapshots (migrated, seeded, cache) and record them in the catalog",
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["loadstack", "snapshots"],
        default_args={"owner": "loadstack", "retries": 1, "retry_delay": timedelta(seconds=15)},
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
            )
    return dag
