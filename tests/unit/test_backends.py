"""loadstack.backends: the one place that picks the data tier's implementations for a profile."""

from __future__ import annotations

import pytest

from loadstack.appservice.aws import AwsAppService
from loadstack.appservice.local import LocalAppService
from loadstack.backends import backends_for
from loadstack.profiles import Profile
from loadstack.restore.aurora import AuroraRestore
from loadstack.restore.cache import LocalCacheRestore
from loadstack.restore.database import LocalDatabaseRestore
from loadstack.restore.elasticache import ElastiCacheRestore
from loadstack.snapshots.aws_builder import AwsSnapshotBuilder
from loadstack.snapshots.builder import LocalSnapshotBuilder


def profile(name: str, tmp_path) -> Profile:
    return Profile(
        name=name,
        region="us-east-1",
        state_bucket="state",
        home=tmp_path,
        terraform_bin="terraform",
        plugin_mirror=tmp_path,
    )


@pytest.mark.parametrize(
    ("name", "database", "cache", "builder", "app"),
    [
        ("local", LocalDatabaseRestore, LocalCacheRestore, LocalSnapshotBuilder, LocalAppService),
        ("aws", AuroraRestore, ElastiCacheRestore, AwsSnapshotBuilder, AwsAppService),
    ],
)
def test_each_profile_gets_its_implementations_bound_to_it(tmp_path, name, database, cache, builder, app):
    chosen = backends_for(profile(name, tmp_path))
    restore = chosen.database("shop", "events_db")
    assert type(restore) is database
    assert (restore.profile.name, restore.stack, restore.step) == (name, "shop", "events_db")
    assert type(chosen.cache("shop", "cache")) is cache and chosen.cache("shop", "cache").step == "cache"
    assert type(chosen.snapshots()) is builder and chosen.snapshots().profile.name == name
    service = chosen.app("shop", "app")
    assert type(service) is app and (service.profile.name, service.stack, service.step) == (name, "shop", "app")
