"""Restoring a stack step's cache from a catalogued RDB snapshot: the interface, and the local profile's.

`loadstack.backends.backends_for` picks the implementation for a profile: `LocalCacheRestore` (a
private redis-server, loaded in the task) or `loadstack.restore.elasticache.ElastiCacheRestore` (a
replication group, which takes a wait for the group to become available).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from loadstack.kinds.placement import CachePlacement
from loadstack.kinds.redis_restore import RedisSize
from loadstack.profiles import Profile
from loadstack.restore.local_cache import LocalCache
from loadstack.snapshots.catalog import CatalogEntry
from loadstack.waits import Progress, Ready, UnexpectedPhase, WaitEvent


class CacheRestore(ABC):
    """One step's cache. Outputs: engine, host, port, secret_id, snapshot (and keys where counted)."""

    def __init__(self, profile: Profile, stack: str, step: str) -> None:
        self.profile = profile
        self.stack = stack
        self.step = step

    @abstractmethod
    def restore(self, entry: CatalogEntry, size: RedisSize, placement: CachePlacement) -> Progress:
        """Restore from `entry` (or reuse a restore of it): the outputs, or a wait to resume after."""

    def resume(self, snapshot: str, event: WaitEvent) -> Progress:
        """Carry on after a wait `restore` asked for; `snapshot` is the name `restore` was given."""
        raise UnexpectedPhase(f"{self.stack}/{self.step} cache", event.phase, ())

    @abstractmethod
    def teardown(self) -> str:
        """Remove the cache; says what was removed (for the log)."""


class LocalCacheRestore(CacheRestore):
    """A private redis-server on 127.0.0.1; sizes and placement are the aws profile's business."""

    def restore(self, entry: CatalogEntry, size: RedisSize, placement: CachePlacement) -> Progress:
        return Ready(self._cache().restore(entry))

    def teardown(self) -> str:
        return "redis stopped and removed" if self._cache().teardown() else "nothing to remove"

    def _cache(self) -> LocalCache:
        return LocalCache(self.profile, self.stack, self.step)
