"""The aws profile's cache restore: an ElastiCache replication group seeded from the snapshot.

The snapshots DAG keeps RDB files in the snapshot bucket and ElastiCache seeds from them in S3; an
ElastiCache snapshot name catalogued by hand is used as it is. Restoring creates the group (or reuses
the one seeded from the same source), then waits (deferred) until it is available.
"""

from __future__ import annotations

from loadstack.aws.elasticache import (
    create_replication_group_from_snapshot,
    delete_replication_group,
    rdb_s3_arn,
    replication_group_endpoint,
)
from loadstack.aws.names import cache_group_id
from loadstack.cache.rdb import RDB_PREFIX
from loadstack.kinds.placement import CachePlacement
from loadstack.kinds.redis_restore import RedisSize
from loadstack.restore.cache import CacheRestore
from loadstack.snapshots.catalog import Catalog, CatalogEntry
from loadstack.waits import ELASTICACHE_GROUP_AVAILABLE, Progress, Ready, UnexpectedPhase, Wait, WaitEvent, WaitFailed

GROUP_AVAILABLE = "group_available"


class ElastiCacheRestore(CacheRestore):
    @property
    def group_id(self) -> str:
        return cache_group_id(self.stack, self.step)

    def restore(self, entry: CatalogEntry, size: RedisSize, placement: CachePlacement) -> Progress:
        from_rdb = entry.location.startswith(RDB_PREFIX)
        create_replication_group_from_snapshot(
            self.profile.client("elasticache"), self.group_id, None if from_rdb else entry.location,
            size.node_type, size.replicas + 1,
            rdb_s3_arns=[rdb_s3_arn(self.profile.snapshot_bucket, entry.location)] if from_rdb else (),
            subnet_group=placement.subnet_group, security_group_ids=placement.resolved_security_group_ids(),
            tags={"loadstack:stack": self.stack, "loadstack:step": self.step},
        )
        return Wait(kind=ELASTICACHE_GROUP_AVAILABLE, args={"group_id": self.group_id}, phase=GROUP_AVAILABLE)

    def resume(self, snapshot: str, event: WaitEvent) -> Progress:
        if event.phase != GROUP_AVAILABLE:
            raise UnexpectedPhase(f"restoring {self.group_id}", event.phase, (GROUP_AVAILABLE,))
        if not event.succeeded:
            raise WaitFailed(f"restoring {self.group_id}: {event.message}{self._seeding_hint(snapshot)}")
        endpoint = replication_group_endpoint(self.profile.client("elasticache"), self.group_id)
        return Ready({"engine": "redis", "host": endpoint["host"], "port": endpoint["port"],
                      "secret_id": None, "snapshot": snapshot})

    def _seeding_hint(self, snapshot: str) -> str:
        """The usual reason a group seeded from S3 fails: the bucket does not let ElastiCache read."""
        entry = Catalog(self.profile).get(snapshot)
        if not entry or not entry.location.startswith(RDB_PREFIX):
            return ""
        return (f" (seeding from s3://{self.profile.snapshot_bucket}/{entry.location} needs that bucket, in the "
                "cache's region, to grant ElastiCache read access to redis/*: see the README)")

    def teardown(self) -> str:
        if delete_replication_group(self.profile.client("elasticache"), self.group_id):
            return f"deleting replication group {self.group_id}"
        return "nothing to remove"
