"""What a stack step's private server on the local profile keeps: its directory, its server record and its secret.

Shared by the database (`loadstack.restore.local_database.LocalDatabase`) and the cache
(`loadstack.restore.local_cache.LocalCache`); each says how to start and stop its own server.

The directory (datadir, socket, PID file) is on the disk of the worker that started the server, its
owner; the state (port, the snapshot it came from) is the server record in the state bucket
(`loadstack.server_record`), which every worker reads. Only the owner reuses, restarts or removes the
server; any other worker refuses with `ForeignServerError`, and its destroy keeps the secret.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from loadstack.artifacts import ArtifactStore
from loadstack.credentials import delete_secret, get_json_secret
from loadstack.profiles import Profile
from loadstack.server_record import ServerRecords
from loadstack.snapshots.catalog import CatalogEntry
from loadstack.supervisor import LOOPBACK


@dataclass(frozen=True)
class LocalStepServer(ABC):
    profile: Profile
    stack: str
    step: str

    engine: ClassVar[str]

    @property
    def base_dir(self) -> Path:
        # Short on purpose: a server's unix socket path must stay under ~100 characters.
        return self.profile.data_dir / self.engine / f"{self.stack}-{self.step}"[:60]

    @property
    def secret_name(self) -> str:
        return f"loadstack/{self.stack}/{self.step}/{self.engine}"

    @property
    def records(self) -> ServerRecords:
        return ServerRecords(self.profile, self.stack, self.step, self.engine)

    def _state(self, action: str) -> dict[str, Any] | None:
        """The server's state if this worker owns one; raises `ForeignServerError` if another worker does."""
        record = self.records.claim(action)
        return record.state if record else None

    def _record_new(self, state: dict[str, Any]) -> None:
        """Recorded before the server starts: a restore that fails half-way is still found and removed."""
        self.records.create(self.base_dir, state, host=LOOPBACK)

    def _record_update(self, state: dict[str, Any]) -> None:
        self.records.update(self.base_dir, state, host=LOOPBACK)

    def _artifact_path(self, entry: CatalogEntry) -> Path:
        """Artifacts are immutable per location, so one cached copy serves every restore."""
        return self.profile.data_dir / "snapshots" / entry.location.replace("/", "_")

    def _fetch_artifact(self, entry: CatalogEntry) -> Path:
        """The entry's artifact on local disk: the cached copy while its SHA-256 matches, else downloaded."""
        return ArtifactStore.of_profile(self.profile).fetch(entry.location, self._artifact_path(entry))

    def _reusable(self, entry: CatalogEntry) -> tuple[dict[str, Any], str] | None:
        """(state, password) of a server restored from this very artifact, if there is one to reuse."""
        state = self._state("restore")
        if not state or state.get("location") != entry.location:
            return None
        password = self._password()
        return (state, password) if password is not None else None

    def _password(self) -> str | None:
        """The step's password, or None if its secret is gone (e.g. moto restarted): restore afresh."""
        client = self.profile.client("secretsmanager")
        try:
            return get_json_secret(self.profile, self.secret_name)["password"]
        except client.exceptions.ResourceNotFoundException:
            return None

    @abstractmethod
    def _remove_server(self) -> None:
        """Stop the server by its PID file and delete its directory (needs neither port nor password)."""

    def _restore_afresh(self, entry: CatalogEntry) -> dict[str, Any]:
        """Replace whatever this worker runs for the step by a new server restored from `entry`; on failure
        nothing of the new server stays (the secret stays the old one until the new server has a password)."""
        self.teardown(keep_secret=True)
        try:
            return self._restore_new(entry)
        except BaseException:
            self.teardown(keep_secret=True)
            raise

    @abstractmethod
    def _restore_new(self, entry: CatalogEntry) -> dict[str, Any]:
        """Record, start and fill a new server from `entry`, write its secret; its outputs."""

    def teardown(self, *, keep_secret: bool = False) -> bool:
        """Stop the server, delete its directory and its record, then (unless kept) its secret; False if there
        was nothing to remove. Raises `ForeignServerError`, keeping record and secret, if another worker owns it."""
        record = self.records.claim("destroy")
        existed = self.base_dir.exists() or record is not None
        if self.base_dir.exists():
            self._remove_server()
        if record is not None:
            self.records.delete()
        if not keep_secret:
            delete_secret(self.profile, self.secret_name)
        return existed
