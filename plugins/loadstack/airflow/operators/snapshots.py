"""SnapshotBuildOperator: make one logical snapshot current for this profile (no-op when it is).

local: built in the task (a private MariaDB or a scratch redis-server). aws, database snapshots: a
build cluster, with the waits for the cluster and for its snapshot deferred to triggers.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from loadstack.airflow.profile import task_profile
from loadstack.airflow.triggers.aws import (
    RdsClusterAvailableTrigger,
    RdsClusterSnapshotAvailableTrigger,
)
from loadstack.data.migrate import schema_hash
from loadstack.profiles import Profile
from loadstack.snapshots.build import build_mariadb_snapshot, build_redis_snapshot
from loadstack.snapshots.build_aws import (
    abandon_aurora_build,
    build_cluster_id,
    finish_aurora_build,
    load_and_snapshot,
    start_aurora_build,
)
from loadstack.snapshots.catalog import Catalog, SnapshotDefinition

# Creating an Aurora cluster or snapshotting a large one takes from minutes to an hour or two.
BUILD_WAIT_TIMEOUT = timedelta(hours=3)


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
        return task_profile()

    def execute(self, context) -> dict[str, Any]:
        definition = SnapshotDefinition.model_validate(self.definition)
        if self.profile.allowed_account_ids:
            self.profile.verify_account()
        entry = Catalog(self.profile).get(self.snapshot)
        if entry and entry.is_current(definition, schema_hash()) and str(self.rebuild).lower() not in ("true", "1"):
            self.log.info("%s is current (built %s, %s): nothing to do", self.snapshot, entry.built_at, entry.location)
            if definition.engine == "mariadb" and not self.profile.is_local:
                # A try that catalogued the snapshot may have failed before deleting its cluster.
                if abandon_aurora_build(self.profile, self.snapshot):
                    self.log.info("deleted the build cluster a previous try left behind")
            return {"snapshot": self.snapshot, "location": entry.location, "built": False}
        if definition.engine == "redis":
            # The RDB is built on the worker on every profile; on aws ElastiCache seeds from it in S3.
            entry = build_redis_snapshot(self.profile, self.snapshot, definition, say=self.log.info)
            return {"snapshot": self.snapshot, "location": entry.location, "built": True}
        if self.profile.is_local:
            entry = build_mariadb_snapshot(self.profile, self.snapshot, definition, say=self.log.info)
            return {"snapshot": self.snapshot, "location": entry.location, "built": True}
        with self._abandon_on_last_try(context):
            return self._start_aurora_build(definition)

    # --- aws: build cluster -> migrate and seed -> cluster snapshot -> catalogue ------------
    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context):
        # Wrapped here rather than in the resumed methods: a trigger that fails or times out makes
        # the base class raise without calling them, and the last try must still clean up.
        with self._abandon_on_last_try(context):
            return super().resume_execution(next_method, next_kwargs, context)

    def _start_aurora_build(self, definition) -> None:
        cluster_id = start_aurora_build(self.profile, self.snapshot, definition, say=self.log.info)
        self.defer(
            trigger=RdsClusterAvailableTrigger(
                cluster_id=cluster_id, region_name=self.profile.region, aws_conn_id=self.profile.aws_conn_id,
                endpoint_url=self.profile.endpoint_url,
            ),
            method_name="build_cluster_ready",
            timeout=BUILD_WAIT_TIMEOUT,
        )

    def build_cluster_ready(self, context, event: dict[str, Any]) -> None:
        definition = SnapshotDefinition.model_validate(self.definition)
        if event.get("status") != "success":
            raise RuntimeError(f"building {self.snapshot} in {build_cluster_id(self.snapshot)}: "
                               f"{event.get('message', event)}")
        snapshot_id = load_and_snapshot(self.profile, self.snapshot, definition, say=self.log.info)
        self.defer(
            trigger=RdsClusterSnapshotAvailableTrigger(
                snapshot_id=snapshot_id, region_name=self.profile.region,
                aws_conn_id=self.profile.aws_conn_id, endpoint_url=self.profile.endpoint_url,
            ),
            method_name="cluster_snapshot_ready",
            timeout=BUILD_WAIT_TIMEOUT,
        )

    def cluster_snapshot_ready(self, context, event: dict[str, Any]) -> dict[str, Any]:
        definition = SnapshotDefinition.model_validate(self.definition)
        if event.get("status") != "success":
            raise RuntimeError(f"snapshotting {self.snapshot}: {event.get('message', event)}")
        entry = finish_aurora_build(self.profile, self.snapshot, definition, event["snapshot_id"], say=self.log.info)
        return {"snapshot": self.snapshot, "location": entry.location, "built": True}

    @contextmanager
    def _abandon_on_last_try(self, context):
        """A failed try keeps the build cluster, so the retry resumes in it; the last one deletes it
        (with its snapshot, unless that is catalogued)."""
        try:
            yield
        except Exception:
            ti = context.get("ti")
            try_number = getattr(ti, "try_number", 1)
            max_tries = getattr(ti, "max_tries", self.retries)
            if try_number > max_tries:
                self.log.error("last try failed: deleting build cluster %s", build_cluster_id(self.snapshot))
                abandon_aurora_build(self.profile, self.snapshot)
            else:
                self.log.warning("keeping build cluster %s for the retry to resume in", build_cluster_id(self.snapshot))
            raise
