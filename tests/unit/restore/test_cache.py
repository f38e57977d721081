"""LocalCacheRestore: the local profile's cache restore is LocalCache's, done in the task."""

from __future__ import annotations

from unittest import mock

import pytest

from loadstack.kinds.placement import CachePlacement
from loadstack.kinds.redis_restore import RedisSize
from loadstack.restore import cache
from loadstack.restore.cache import LocalCacheRestore
from loadstack.snapshots.catalog import CatalogEntry
from loadstack.waits import Ready

ENTRY = CatalogEntry(name="shop-cache", engine="redis", kind="rdb", profile="local", location="redis/a.rdb")


@pytest.fixture
def local_cache(monkeypatch):
    server = mock.Mock()
    monkeypatch.setattr(cache, "LocalCache", mock.Mock(return_value=server))
    return server


def test_restore_is_ready_at_once_with_the_servers_outputs(local_cache):
    local_cache.restore.return_value = {"port": 40002, "keys": 50}
    progress = LocalCacheRestore("profile", "shop", "cache").restore(
        ENTRY, RedisSize(node_type="cache.t4g.small", replicas=0), CachePlacement())
    assert progress == Ready({"port": 40002, "keys": 50})
    local_cache.restore.assert_called_once_with(ENTRY)


@pytest.mark.parametrize(("removed", "said"), [(True, "redis stopped and removed"), (False, "nothing to remove")])
def test_teardown_says_what_it_removed(local_cache, removed, said):
    local_cache.teardown.return_value = removed
    assert LocalCacheRestore("profile", "shop", "cache").teardown() == said
