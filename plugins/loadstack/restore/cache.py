"""Restoring a stack step's cache from a catalogued RDB snapshot: the interface, and the local profile's.

`loadstack.backends.backends_for` picks the implementation for a profile: `LocalCacheRestore` (a
private redis-server, loaded in the task) or `loadstack.restore.elasticache.ElastiCacheRestore` (a
replication group, which takes a wait for the group to become available).
"""

from __future__ import annotations

from loadstack.kinds.placement import CachePlacement
from loadstack.kinds.redis_restore import RedisSize
from loadstack.restore.local_cache import LocalCache
from loadstack.restore.step import StepRestore
from loadstack.snapshots.catalog import CatalogEntry
from loadstack.waits import Progress, Ready


class CacheRestore(StepRestore):
    """One step's cache. Outputs: engine, host, port, secret_id, snapshot (and keys where counted).
    Restores take a `RedisSize` and a `CachePlacement`."""

    resource = "cache"


class LocalCacheRestore(CacheRestore):
    """A private redis-server on 127.0.0.1; sizes and placement are the aws profile's business.
    Only the worker that restored it (its server record's owner) reuses or removes it: on any other worker
    restore and teardown raise `loadstack.server_record.ForeignServerError` and change nothing."""

    def restore(self, entry: CatalogEntry, size: RedisSize, placement: CachePlacement) -> Progress:
        return Ready(self._cache().restore(entry))

    def teardown(self) -> str:
        return "redis stopped and removed" if self._cache().teardown() else "nothing to remove"

    def _cache(self) -> LocalCache:
        return LocalCache(self.profile, self.stack, self.step)
