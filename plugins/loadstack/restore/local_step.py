"""What a stack step's private server on the local profile keeps: its directory, state file and secret.

Shared by the database (`loadstack.restore.local_database.LocalDatabase`) and the cache
(`loadstack.restore.local_cache.LocalCache`); each says how to start and stop its own server.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from loadstack.artifacts import ArtifactStore
from loadstack.credentials import delete_secret, get_json_secret
from loadstack.profiles import Profile
from loadstack.snapshots.catalog import CatalogEntry


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
    def state_path(self) -> Path:
        return self.base_dir.with_name(self.base_dir.name + ".json")

    @property
    def secret_name(self) -> str:
        return f"loadstack/{self.stack}/{self.step}/{self.engine}"

    def _state(self) -> dict[str, Any] | None:
        return json.loads(self.state_path.read_text()) if self.state_path.exists() else None

    def _save_state(self, state: dict[str, Any]) -> None:
        self.state_path.write_text(json.dumps(state, indent=2))

    def _artifact_path(self, entry: CatalogEntry) -> Path:
        """Artifacts are immutable per location, so one cached copy serves every restore."""
        return self.profile.data_dir / "snapshots" / entry.location.replace("/", "_")

    def _fetch_artifact(self, entry: CatalogEntry) -> Path:
        """The entry's artifact on local disk: the cached copy while its SHA-256 matches, else downloaded."""
        return ArtifactStore.of_profile(self.profile).fetch(entry.location, self._artifact_path(entry))

    def _reusable(self, entry: CatalogEntry) -> tuple[dict[str, Any], str] | None:
        """(state, password) of a server restored from this very artifact, if there is one to reuse."""
        state = self._state()
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

    def teardown(self, *, keep_secret: bool = False) -> bool:
        """Stop the server and delete its directory; False if there was nothing to remove."""
        state = self._state()
        existed = self.base_dir.exists() or state is not None
        if self.base_dir.exists():
            self._remove_server()
        self.state_path.unlink(missing_ok=True)
        if not keep_secret:
            delete_secret(self.profile, self.secret_name)
        return existed
