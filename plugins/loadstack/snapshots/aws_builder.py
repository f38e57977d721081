"""The aws profile's snapshot builds: database snapshots in an Aurora build cluster, caches as RDB files.

A database build is the three idempotent steps of `loadstack.snapshots.build_aws`, with a wait
between each: build cluster available -> migrate, seed and snapshot -> snapshot available ->
catalogue. A failed try keeps the build cluster so that the retry resumes in it. A cache needs no
AWS build: its RDB is built on the worker as on the local profile, and ElastiCache seeds from it in S3.
"""

from __future__ import annotations

import logging

from loadstack.snapshots.build_aws import (
    abandon_aurora_build,
    build_cluster_id,
    finish_aurora_build,
    load_and_snapshot,
    start_aurora_build,
)
from loadstack.snapshots.build_local import build_redis_snapshot
from loadstack.snapshots.builder import Say, SnapshotBuilder, built
from loadstack.snapshots.catalog import SnapshotDefinition
from loadstack.waits import (
    RDS_CLUSTER_AVAILABLE,
    RDS_CLUSTER_SNAPSHOT_AVAILABLE,
    Progress,
    Ready,
    UnexpectedPhase,
    Wait,
    WaitEvent,
    WaitFailed,
)

log = logging.getLogger(__name__)

BUILD_CLUSTER_READY = "build_cluster_ready"
CLUSTER_SNAPSHOT_READY = "cluster_snapshot_ready"


class AwsSnapshotBuilder(SnapshotBuilder):
    def build(self, name: str, definition: SnapshotDefinition, *, say: Say = log.info) -> Progress:
        if definition.engine == "redis":
            return Ready(built(build_redis_snapshot(self.profile, name, definition, say=say)))
        cluster_id = start_aurora_build(self.profile, name, definition, say=say)
        return Wait(kind=RDS_CLUSTER_AVAILABLE, args={"cluster_id": cluster_id}, phase=BUILD_CLUSTER_READY)

    def resume(self, name: str, definition: SnapshotDefinition, event: WaitEvent, *, say: Say = log.info) -> Progress:
        if event.phase == BUILD_CLUSTER_READY:
            if not event.succeeded:
                raise WaitFailed(f"building {name} in {build_cluster_id(name)}: {event.message}")
            snapshot_id = load_and_snapshot(self.profile, name, definition, say=say)
            return Wait(kind=RDS_CLUSTER_SNAPSHOT_AVAILABLE, args={"snapshot_id": snapshot_id},
                        phase=CLUSTER_SNAPSHOT_READY)
        if event.phase == CLUSTER_SNAPSHOT_READY:
            if not event.succeeded:
                raise WaitFailed(f"snapshotting {name}: {event.message}")
            snapshot_id = event.values["snapshot_id"]
            return Ready(built(finish_aurora_build(self.profile, name, definition, snapshot_id, say=say)))
        raise UnexpectedPhase(f"building {name}", event.phase, (BUILD_CLUSTER_READY, CLUSTER_SNAPSHOT_READY))

    def leftover(self, name: str, definition: SnapshotDefinition) -> str | None:
        return f"build cluster {build_cluster_id(name)}" if definition.engine == "mariadb" else None

    def clean_up(self, name: str, definition: SnapshotDefinition) -> str | None:
        if definition.engine != "mariadb":
            return None
        # A try that catalogued the snapshot may have failed before deleting its cluster.
        return f"build cluster {build_cluster_id(name)}" if abandon_aurora_build(self.profile, name) else None
