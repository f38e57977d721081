"""LocalDatabaseRestore: the local profile's database restore is LocalDatabase's, done in the task."""

from __future__ import annotations

from unittest import mock

import pytest

from loadstack.kinds.aurora_restore import AuroraSize
from loadstack.kinds.placement import AuroraPlacement
from loadstack.restore import database
from loadstack.restore.database import LocalDatabaseRestore
from loadstack.snapshots.catalog import CatalogEntry
from loadstack.waits import Ready, UnexpectedPhase, WaitEvent

ENTRY = CatalogEntry(name="shop-seeded", engine="mariadb", kind="seeded", profile="local", location="mariadb/a.tar.zst")


@pytest.fixture
def local_database(monkeypatch):
    server = mock.Mock()
    cls = mock.Mock(return_value=server)
    monkeypatch.setattr(database, "LocalDatabase", cls)
    server.cls = cls
    return server


def test_restore_is_ready_at_once_with_the_servers_outputs(local_database):
    local_database.restore.return_value = {"host": "127.0.0.1", "port": 40001}
    restore = LocalDatabaseRestore("profile", "shop", "events_db")
    progress = restore.restore(ENTRY, AuroraSize(instances=3, instance_class="db.r6g.large"), AuroraPlacement())
    assert progress == Ready({"host": "127.0.0.1", "port": 40001})
    local_database.cls.assert_called_with("profile", "shop", "events_db")
    local_database.restore.assert_called_once_with(ENTRY)


@pytest.mark.parametrize(("removed", "said"),
                         [(True, "server stopped and datadir removed"), (False, "nothing to remove")])
def test_teardown_says_what_it_removed(local_database, removed, said):
    local_database.teardown.return_value = removed
    assert LocalDatabaseRestore("profile", "shop", "events_db").teardown() == said


def test_it_never_waits_so_it_never_resumes(local_database):
    with pytest.raises(UnexpectedPhase, match="shop/events_db database: resumed at unknown phase 'x'"):
        LocalDatabaseRestore("profile", "shop", "events_db").resume("shop-seeded", WaitEvent(phase="x", succeeded=True))
