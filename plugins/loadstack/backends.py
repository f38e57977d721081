"""Which implementation restores a step's database and cache, builds snapshots and runs the app, on a profile.

The one place that tells the profiles apart: `local` runs MariaDB, redis-server, the app's processes,
HAProxy and Prometheus on 127.0.0.1; `aws` uses Aurora and ElastiCache (with waits the caller defers)
and the app_cluster module's instances behind their load balancer.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadstack.appservice.aws import AwsAppService
from loadstack.appservice.base import AppService
from loadstack.appservice.local import LocalAppService
from loadstack.profiles import Profile
from loadstack.restore.aurora import AuroraRestore
from loadstack.restore.cache import CacheRestore, LocalCacheRestore
from loadstack.restore.database import DatabaseRestore, LocalDatabaseRestore
from loadstack.restore.elasticache import ElastiCacheRestore
from loadstack.snapshots.aws_builder import AwsSnapshotBuilder
from loadstack.snapshots.builder import LocalSnapshotBuilder, SnapshotBuilder


@dataclass(frozen=True)
class Backends:
    profile: Profile
    database_restore: type[DatabaseRestore]
    cache_restore: type[CacheRestore]
    snapshot_builder: type[SnapshotBuilder]
    app_service: type[AppService]

    def database(self, stack: str, step: str) -> DatabaseRestore:
        return self.database_restore(self.profile, stack, step)

    def cache(self, stack: str, step: str) -> CacheRestore:
        return self.cache_restore(self.profile, stack, step)

    def snapshots(self) -> SnapshotBuilder:
        return self.snapshot_builder(self.profile)

    def app(self, stack: str, step: str) -> AppService:
        return self.app_service(self.profile, stack, step)


def backends_for(profile: Profile) -> Backends:
    if profile.is_local:
        return Backends(profile, LocalDatabaseRestore, LocalCacheRestore, LocalSnapshotBuilder, LocalAppService)
    return Backends(profile, AuroraRestore, ElastiCacheRestore, AwsSnapshotBuilder, AwsAppService)
