"""Building a logical snapshot for a profile: the interface, and the local profile's.

`loadstack.backends.backends_for` picks the implementation for a profile: `LocalSnapshotBuilder`
(everything built in the task) or `loadstack.snapshots.aws_builder.AwsSnapshotBuilder` (database
snapshots in an Aurora build cluster, with waits for the cluster and for its snapshot).
A build's result is ``{"snapshot", "location", "built": True}``.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any, Callable

from loadstack.profiles import Profile
from loadstack.snapshots.build_local import build_mariadb_snapshot, build_redis_snapshot
from loadstack.snapshots.catalog import CatalogEntry, SnapshotDefinition
from loadstack.waits import Progress, Ready, UnexpectedPhase, WaitEvent

log = logging.getLogger(__name__)

Say = Callable[[str], None]


def built(entry: CatalogEntry) -> dict[str, Any]:
    """The result of a build that catalogued `entry`."""
    return {"snapshot": entry.name, "location": entry.location, "built": True}


class SnapshotBuilder(ABC):
    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    @abstractmethod
    def build(self, name: str, definition: SnapshotDefinition, *, say: Say = log.info) -> Progress:
        """Build and catalogue `name`: the result, or a wait to resume after."""

    def resume(self, name: str, definition: SnapshotDefinition, event: WaitEvent, *, say: Say = log.info) -> Progress:
        """Carry on after a wait `build` (or an earlier `resume`) asked for."""
        raise UnexpectedPhase(f"building {name}", event.phase, ())

    def leftover(self, name: str, definition: SnapshotDefinition) -> str | None:
        """What a failed try of this build keeps for the retry to resume in (None: nothing)."""
        return None

    def clean_up(self, name: str, definition: SnapshotDefinition) -> str | None:
        """Delete what `leftover` names, if it is there; says what was deleted (None: nothing was)."""
        return None


class LocalSnapshotBuilder(SnapshotBuilder):
    """Both engines build in the task: a private MariaDB server, or an RDB written on the worker."""

    def build(self, name: str, definition: SnapshotDefinition, *, say: Say = log.info) -> Progress:
        if definition.engine == "redis":
            return Ready(built(build_redis_snapshot(self.profile, name, definition, say=say)))
        return Ready(built(build_mariadb_snapshot(self.profile, name, definition, say=say)))
