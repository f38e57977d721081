"""Local profile: a stack step's own redis-server, loading a catalogued RDB snapshot.

Idempotent like the database restore: the same RDB on a running server is reused; another one
replaces it. The server's password is the step's own and lives in Secrets Manager.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from loadstack.cache.redis_server import RedisServer, restore_rdb
from loadstack.credentials import put_json_secret
from loadstack.restore.local_step import LocalStepServer
from loadstack.snapshots.catalog import CatalogEntry
from loadstack.supervisor import free_port

log = logging.getLogger(__name__)


class LocalCache(LocalStepServer):
    engine = "redis"

    def outputs(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"engine": "redis", "host": "127.0.0.1", "port": state["port"], "secret_id": self.secret_name,
                "snapshot": state["snapshot"], "keys": state["keys"]}

    def restore(self, entry: CatalogEntry) -> dict[str, Any]:
        reusable = self._reusable(entry)
        if reusable:
            state, password = reusable
            server = RedisServer(self.base_dir, state["port"], password)
            if not server.is_running():
                server.start()
                server.wait_ready(120)
            log.info("reusing %s's redis on 127.0.0.1:%s (%s, %s keys)", self.step, state["port"], entry.name, server.dbsize())
            return self.outputs(state)
        return self._restore_afresh(entry)

    def _restore_new(self, entry: CatalogEntry) -> dict[str, Any]:
        rdb = self._fetch_artifact(entry)
        password = secrets.token_urlsafe(24)
        port = free_port()
        state: dict[str, Any] = {"snapshot": entry.name, "location": entry.location, "port": port, "keys": None}
        self._record_new(state)
        server = restore_rdb(rdb, self.base_dir, port, password)
        state["keys"] = server.dbsize()
        self._record_update(state)
        put_json_secret(self.profile, self.secret_name,
                        {"engine": "redis", "host": "127.0.0.1", "port": port, "password": password},
                        description=f"loadstack {self.stack}/{self.step} cache")
        log.info("restored %s from %s: %d keys on 127.0.0.1:%d", self.step, entry.name, state["keys"], port)
        return self.outputs(state)

    def _remove_server(self) -> None:
        RedisServer(self.base_dir).remove()
