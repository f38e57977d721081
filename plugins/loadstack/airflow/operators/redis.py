"""The redis_restore kind's tasks: restore the step's cache from an RDB snapshot, and tear it down."""

from __future__ import annotations

from loadstack.airflow.operators.snapshot_restore import RestoredStepTeardownOperator, SnapshotRestoreOperator
from loadstack.backends import Backends
from loadstack.kinds.placement import CachePlacement
from loadstack.kinds.redis_restore import RedisSize
from loadstack.restore.cache import CacheRestore


class RedisRestoreOperator(SnapshotRestoreOperator):
    """Outputs host, port, secret id and snapshot."""

    size_model = RedisSize
    placement_model = CachePlacement

    def restorer(self, backends: Backends) -> CacheRestore:
        return backends.cache(self.stack, self.step)


class RedisTeardownOperator(RestoredStepTeardownOperator):
    def restorer(self, backends: Backends) -> CacheRestore:
        return backends.cache(self.stack, self.step)
