"""Local profile: a stack step's own MariaDB server, restored from a catalogued snapshot.

Idempotent: a step whose server already runs from the same snapshot artifact is reused as is (its
data, seeded or not, stays). A different snapshot replaces the server. Each step gets a root
password of its own, kept in Secrets Manager, never in XCom or logs.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadstack.cache.redis_server import free_port
from loadstack.credentials import delete_secret, get_json_secret, put_json_secret
from loadstack.data.mariadb import MariaDBServer
from loadstack.data.snapshot import download_snapshot, restore_snapshot

if TYPE_CHECKING:
    from loadstack.profiles import Profile
    from loadstack.snapshots.catalog import CatalogEntry

log = logging.getLogger(__name__)
SNAPSHOT_DATABASE = "commerce"


def snapshot_credentials_secret(snapshot: str) -> str:
    """Where the root password a snapshot was built with is kept (it travels inside the datadir)."""
    return f"loadstack/snapshots/{snapshot}/root"


@dataclass(frozen=True)
class LocalDatabase:
    profile: "Profile"
    stack: str
    step: str

    @property
    def base_dir(self) -> Path:
        # Short on purpose: the server's unix socket path must stay under ~100 characters.
        return self.profile.data_dir / "mariadb" / f"{self.stack}-{self.step}"[:60]

    @property
    def state_path(self) -> Path:
        return self.base_dir.with_name(self.base_dir.name + ".json")

    @property
    def secret_name(self) -> str:
        return f"loadstack/{self.stack}/{self.step}/mariadb"

    def _state(self) -> dict[str, Any] | None:
        return json.loads(self.state_path.read_text()) if self.state_path.exists() else None

    def _server(self, state: dict[str, Any], password: str) -> MariaDBServer:
        return MariaDBServer(base_dir=self.base_dir, port=state["port"], root_password=password)

    def outputs(self, state: dict[str, Any]) -> dict[str, Any]:
        return {
            "engine": "mariadb",
            "host": "127.0.0.1",
            "port": state["port"],
            "database": SNAPSHOT_DATABASE,
            "username": "root",
            "secret_id": self.secret_name,
            "snapshot": state["snapshot"],
            "snapshot_kind": state["snapshot_kind"],
        }

    def restore(self, entry: "CatalogEntry") -> dict[str, Any]:
        state = self._state()
        password = self._password() if state and state.get("location") == entry.location else None
        if state and password is not None:
            server = self._server(state, password)
            if server.is_running():
                log.info("reusing %s's server on 127.0.0.1:%s, restored from %s", self.step, state["port"], entry.name)
                return self.outputs(state)
            server.start()
            server.wait_ready(120)
            log.info("restarted %s's server on 127.0.0.1:%s (%s)", self.step, state["port"], entry.name)
            return self.outputs(state)
        self.teardown(keep_secret=True)
        archive = self._download(entry)
        builder_password = get_json_secret(self.profile, snapshot_credentials_secret(entry.name))["password"]
        port = free_port()
        server = restore_snapshot(archive, self.base_dir, port, root_password=builder_password)
        password = secrets.token_urlsafe(24)
        server.change_root_password(password)
        put_json_secret(
            self.profile,
            self.secret_name,
            {"engine": "mariadb", "host": "127.0.0.1", "port": port, "username": "root", "password": password,
             "dbname": SNAPSHOT_DATABASE},
            description=f"loadstack {self.stack}/{self.step} database",
        )
        state = {"snapshot": entry.name, "snapshot_kind": entry.kind, "location": entry.location, "port": port}
        self.state_path.write_text(json.dumps(state, indent=2))
        log.info("restored %s from %s (%s) on 127.0.0.1:%d", self.step, entry.name, entry.kind, port)
        return self.outputs(state)

    def _download(self, entry: "CatalogEntry") -> Path:
        """Artifacts are immutable per location, so one cached copy serves every restore."""
        path = self.profile.data_dir / "snapshots" / entry.location.replace("/", "_")
        if not path.exists() or (entry.size_bytes and path.stat().st_size != entry.size_bytes):
            path.parent.mkdir(parents=True, exist_ok=True)
            download_snapshot(self.profile, entry.location, path)
        return path

    def _password(self) -> str | None:
        """The step's password, or None if its secret is gone (e.g. moto restarted): restore afresh."""
        client = self.profile.client("secretsmanager")
        try:
            return get_json_secret(self.profile, self.secret_name)["password"]
        except client.exceptions.ResourceNotFoundException:
            return None

    def teardown(self, *, keep_secret: bool = False) -> bool:
        """Stop the server and delete its datadir; False if there was nothing to remove."""
        state = self._state()
        existed = self.base_dir.exists() or state is not None
        if self.base_dir.exists():
            # Stopping needs only the PID file; the password is not used.
            MariaDBServer(base_dir=self.base_dir, port=(state or {}).get("port", 0) or 1, root_password="").remove()
        self.state_path.unlink(missing_ok=True)
        if not keep_secret:
            delete_secret(self.profile, self.secret_name)
        return existed
