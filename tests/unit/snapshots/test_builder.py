"""LocalSnapshotBuilder: both engines build in the task, by the local build functions."""

from __future__ import annotations

from unittest import mock

import pytest

from loadstack.snapshots import builder
from loadstack.snapshots.builder import LocalSnapshotBuilder
from loadstack.snapshots.catalog import CatalogEntry, SnapshotDefinition
from loadstack.waits import Ready


@pytest.mark.parametrize(("engine", "kind", "function"), [("mariadb", "migrated", "build_mariadb_snapshot"),
                                                          ("redis", "rdb", "build_redis_snapshot")])
def test_each_engine_builds_in_the_task(monkeypatch, engine, kind, function):
    entry = CatalogEntry(name="s", engine=engine, kind=kind, profile="local", location=f"{engine}/s-1")
    build = mock.Mock(return_value=entry)
    monkeypatch.setattr(builder, function, build)
    definition = SnapshotDefinition(engine=engine, kind=kind)
    local = LocalSnapshotBuilder("profile")
    expected = Ready({"snapshot": "s", "location": f"{engine}/s-1", "built": True})
    assert local.build("s", definition, say=print) == expected
    build.assert_called_once_with("profile", "s", definition, say=print)
    assert local.leftover("s", definition) is None and local.clean_up("s", definition) is None
