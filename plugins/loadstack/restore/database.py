"""Restoring a stack step's database from a catalogued snapshot: the interface, and the local profile's.

`loadstack.backends.backends_for` picks the implementation for a profile: `LocalDatabaseRestore` (a
private MariaDB server, restored in the task) or `loadstack.restore.aurora.AuroraRestore` (an Aurora
cluster, which takes a wait for the cluster to become available).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from loadstack.kinds.aurora_restore import AuroraSize
from loadstack.kinds.placement import AuroraPlacement
from loadstack.profiles import Profile
from loadstack.restore.local_database import LocalDatabase
from loadstack.snapshots.catalog import CatalogEntry
from loadstack.waits import Progress, Ready, UnexpectedPhase, WaitEvent


class DatabaseRestore(ABC):
    """One step's database. Outputs: engine, host, port, database, username, secret_id, snapshot, snapshot_kind."""

    def __init__(self, profile: Profile, stack: str, step: str) -> None:
        self.profile = profile
        self.stack = stack
        self.step = step

    @abstractmethod
    def restore(self, entry: CatalogEntry, size: AuroraSize, placement: AuroraPlacement) -> Progress:
        """Restore from `entry` (or reuse a restore of it): the outputs, or a wait to resume after."""

    def resume(self, snapshot: str, event: WaitEvent) -> Progress:
        """Carry on after a wait `restore` asked for; `snapshot` is the name `restore` was given."""
        raise UnexpectedPhase(f"{self.stack}/{self.step} database", event.phase, ())

    @abstractmethod
    def teardown(self) -> str:
        """Remove the database; says what was removed (for the log)."""


class LocalDatabaseRestore(DatabaseRestore):
    """A private MariaDB server on 127.0.0.1; sizes and placement are the aws profile's business."""

    def restore(self, entry: CatalogEntry, size: AuroraSize, placement: AuroraPlacement) -> Progress:
        return Ready(self._database().restore(entry))

    def teardown(self) -> str:
        return "server stopped and datadir removed" if self._database().teardown() else "nothing to remove"

    def _database(self) -> LocalDatabase:
        return LocalDatabase(self.profile, self.stack, self.step)


__all__ = ["DatabaseRestore", "LocalDatabaseRestore"]
