"""Restoring a stack step's database from a catalogued snapshot: the interface, and the local profile's.

`loadstack.backends.backends_for` picks the implementation for a profile: `LocalDatabaseRestore` (a
private MariaDB server, restored in the task) or `loadstack.restore.aurora.AuroraRestore` (an Aurora
cluster, which takes a wait for the cluster to become available).
"""

from __future__ import annotations

from loadstack.kinds.aurora_restore import AuroraSize
from loadstack.kinds.placement import AuroraPlacement
from loadstack.restore.local_database import LocalDatabase
from loadstack.restore.step import StepRestore
from loadstack.snapshots.catalog import CatalogEntry
from loadstack.waits import Progress, Ready


class DatabaseRestore(StepRestore):
    """One step's database. Outputs: engine, host, port, database, username, secret_id, snapshot, snapshot_kind.
    Restores take a `AuroraSize` and an `AuroraPlacement`."""

    resource = "database"


class LocalDatabaseRestore(DatabaseRestore):
    """A private MariaDB server on 127.0.0.1; sizes and placement are the aws profile's business.
    Only the worker that restored it (its server record's owner) reuses or removes it: on any other worker
    restore and teardown raise `loadstack.server_record.ForeignServerError` and change nothing."""

    def restore(self, entry: CatalogEntry, size: AuroraSize, placement: AuroraPlacement) -> Progress:
        return Ready(self._database().restore(entry))

    def teardown(self) -> str:
        return "server stopped and datadir removed" if self._database().teardown() else "nothing to remove"

    def _database(self) -> LocalDatabase:
        return LocalDatabase(self.profile, self.stack, self.step)


__all__ = ["DatabaseRestore", "LocalDatabaseRestore"]
