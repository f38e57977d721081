"""Local profile: a stack step's own redis-server, loading a catalogued RDB snapshot.

Idempotent like the database restore: the same RDB on a running server is reused; another one
replaces it. The server's password is the step's own and lives in Secrets Manager.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadstack.cache.rdb import download_rdb
from loadstack.cache.redis_server import RedisServer, free_port, restore_rdb
from loadstack.credentials import delete_secret, get_json_secret, put_json_secret

if TYPE_CHECKING:
    from loadstack.profiles import Profile
    from loadstack.snapshots.catalog import CatalogEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalCache:
    profile: "Profile"
    stack: str
    step: str

    @property
    def base_dir(self) -> Path:
        return self.profile.data_dir / "redis" / f"{self.stack}-{self.step}"[:60]

    @property
    def state_path(self) -> Path:
        return self.base_dir.with_name(self.base_dir.name + ".json")

    @property
    def secret_name(self) -> str:
        return f"loadstack/{self.stack}/{self.step}/redis"

    def _state(self) -> dict[str, Any] | None:
        return json.loads(self.state_path.read_text()) if self.state_path.exists() else None

    def outputs(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"engine": "redis", "host": "127.0.0.1", "port": state["port"], "secret_id": self.secret_name,
                "snapshot": state["snapshot"], "keys": state["keys"]}

    def restore(self, entry: "CatalogEntry") -> dict[str, Any]:
        state = self._state()
        password = self._password() if state and state.get("location") == entry.location else None
        if state and password is not None:
            server = RedisServer(self.base_dir, state["port"], password)
            if not server.is_running():
                server.start()
                server.wait_ready(120)
            log.info("reusing %s's redis on 127.0.0.1:%s (%s, %s keys)", self.step, state["port"], entry.name, server.dbsize())
            return self.outputs(state)
        self.teardown(keep_secret=True)
        rdb = self.profile.data_dir / "snapshots" / entry.location.replace("/", "_")
        if not rdb.exists():
            download_rdb(self.profile.client("s3"), self.profile.snapshot_bucket, entry.location, rdb)
        password = secrets.token_urlsafe(24)
        port = free_port()
        server = restore_rdb(rdb, self.base_dir, port, password)
        keys = server.dbsize()
        put_json_secret(self.profile, self.secret_name,
                        {"engine": "redis", "host": "127.0.0.1", "port": port, "password": password},
                        description=f"loadstack {self.stack}/{self.step} cache")
        state = {"snapshot": entry.name, "location": entry.location, "port": port, "keys": keys}
        self.state_path.write_text(json.dumps(state, indent=2))
        log.info("restored %s from %s: %d keys on 127.0.0.1:%d", self.step, entry.name, keys, port)
        return self.outputs(state)

    def _password(self) -> str | None:
        """The step's password, or None if its secret is gone (e.g. moto restarted): restore afresh."""
        client = self.profile.client("secretsmanager")
        try:
            return get_json_secret(self.profile, self.secret_name)["password"]
        except client.exceptions.ResourceNotFoundException:
            return None

    def teardown(self, *, keep_secret: bool = False) -> bool:
        state = self._state()
        existed = self.base_dir.exists() or state is not None
        if self.base_dir.exists():
            RedisServer(self.base_dir, (state or {}).get("port", 0) or 1).remove()
        self.state_path.unlink(missing_ok=True)
        if not keep_secret:
            delete_secret(self.profile, self.secret_name)
        return existed
