"""Local profile: a stack step's own MariaDB server, restored from a catalogued snapshot.

Idempotent: a step whose server already runs from the same snapshot artifact is reused as is (its
data, seeded or not, stays). A different snapshot replaces the server. Each step gets a root
password of its own, kept in Secrets Manager, never in XCom or logs.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from loadstack.credentials import get_json_secret, put_json_secret
from loadstack.data.mariadb import MariaDBServer
from loadstack.data.snapshot import restore_snapshot
from loadstack.restore.local_step import LocalStepServer
from loadstack.snapshots.catalog import CatalogEntry
from loadstack.snapshots.names import SNAPSHOT_DATABASE, snapshot_credentials_secret
from loadstack.supervisor import free_port

log = logging.getLogger(__name__)


class LocalDatabase(LocalStepServer):
    engine = "mariadb"

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

    def restore(self, entry: CatalogEntry) -> dict[str, Any]:
        reusable = self._reusable(entry)
        if reusable:
            state, password = reusable
            server = self._server(state, password)
            if server.is_running():
                log.info("reusing %s's server on 127.0.0.1:%s, restored from %s", self.step, state["port"], entry.name)
                return self.outputs(state)
            server.start()
            server.wait_ready(120)
            log.info("restarted %s's server on 127.0.0.1:%s (%s)", self.step, state["port"], entry.name)
            return self.outputs(state)
        return self._restore_afresh(entry)

    def _restore_new(self, entry: CatalogEntry) -> dict[str, Any]:
        archive = self._fetch_artifact(entry)
        builder_password = get_json_secret(self.profile, snapshot_credentials_secret(entry.name))["password"]
        port = free_port()
        state = {"snapshot": entry.name, "snapshot_kind": entry.kind, "location": entry.location, "port": port}
        self._record_new(state)
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
        log.info("restored %s from %s (%s) on 127.0.0.1:%d", self.step, entry.name, entry.kind, port)
        return self.outputs(state)

    def _remove_server(self) -> None:
        MariaDBServer(base_dir=self.base_dir).remove()
