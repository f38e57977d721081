"""Real services for the application under test: the session's seeded MariaDB database, a redis-server
restored from an RDB of the shop's cache (loadstack.cache), the database and cache secrets in the
moto server, and app processes (`python -m shopapp`) started and stopped by PID through
loadstack.supervisor.SupervisedProcess on 127.0.0.1.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadstack.cache import build_rdb, commerce_cache_records, restore_rdb
from loadstack.credentials import delete_secret, put_json_secret
from loadstack.data.plan import plan_for
from loadstack.profiles import load_profile
from loadstack.supervisor import NotReady, SupervisedProcess, free_port

ROOT = Path(__file__).resolve().parents[3]
APP_DIR = ROOT / "app"
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

CACHE_SEED, CACHE_SESSIONS, CACHE_CARTS = 11, 300, 200


@pytest.fixture(scope="module")
def shop_cache(writable_seeded_database, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """A password-protected redis-server holding the shop's sessions and carts, agreeing with the seeded
    database (same plan); yields {"server", "sessions": {sid: hash}, "carts": {key: json}}."""
    plan = plan_for(writable_seeded_database[1])
    records = list(commerce_cache_records(CACHE_SEED, CACHE_SESSIONS, CACHE_CARTS, plan=plan))
    root = tmp_path_factory.mktemp("shop-cache")
    build_rdb(records, root / "shop.rdb")
    server = restore_rdb(root / "shop.rdb", root / "redis", free_port(), secrets.token_urlsafe(12))
    try:
        yield {
            "server": server,
            "sessions": {k.removeprefix("session:"): v for k, v, _ in records if k.startswith("session:")},
            "carts": {k: v for k, v, _ in records if k.startswith("cart:")},
        }
    finally:
        server.remove()


@pytest.fixture(scope="module")
def app_env(local_env, writable_seeded_database, shop_cache, tmp_path_factory) -> Iterator[dict[str, str]]:
    """The environment of an app process: secrets in moto named by SHOPAPP_* variables, boto3 on moto."""
    profile = load_profile(local_env)
    db, cache = writable_seeded_database[0], shop_cache["server"]
    names = [f"shopapp-test/{secrets.token_hex(4)}/db", f"shopapp-test/{secrets.token_hex(4)}/cache"]
    put_json_secret(profile, names[0], {"host": db.host, "port": db.port, "username": db.user, "password": db.password})
    put_json_secret(profile, names[1], {"host": "127.0.0.1", "port": cache.port, "password": cache.password})
    no_file = str(tmp_path_factory.mktemp("no-aws-config") / "absent")
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(APP_DIR),
        "AWS_ENDPOINT_URL": local_env["LOADSTACK_AWS_ENDPOINT_URL"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": no_file,
        "AWS_SHARED_CREDENTIALS_FILE": no_file,
        "SHOPAPP_DB_SECRET_ID": names[0],
        "SHOPAPP_DB_NAME": db.database,
        "SHOPAPP_CACHE_SECRET_ID": names[1],
    }
    try:
        yield env
    finally:
        for name in names:
            delete_secret(profile, name)


class AppProcess:
    """One `python -m shopapp` on 127.0.0.1, known by its PID file and its --name marker."""

    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = SupervisedProcess(
            name=f"shopapp {name}",
            pid_path=root / f"{name}.pid",
            executable=sys.executable,
            marker_arg=name,
            output_path=root / f"{name}.log",
        )
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def start(self, env: dict[str, str], timeout: float = 60) -> AppProcess:
        argv = [sys.executable, "-m", "shopapp", "--host", "127.0.0.1", "--port", str(self.port), "--name", self.name]
        self.process.start(argv, env=env)
        self.process.wait_ready(self._probe, timeout, interval=0.1)
        return self

    def _probe(self) -> None:
        try:
            response = httpx.get(f"{self.url}/health", timeout=2)
        except httpx.HTTPError as exc:
            raise NotReady(f"{type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise NotReady(f"/health answered {response.status_code}: {response.text}")

    def stop(self) -> None:
        self.client.close()
        self.process.stop(timeout=20)

    def log(self) -> str:
        return self.process.log_tail(200)


@pytest.fixture(scope="module")
def app_processes(tmp_path_factory) -> Iterator[list[AppProcess]]:
    """Processes the module's tests start; every one is stopped by PID at the end, even on failure."""
    started: list[AppProcess] = []
    yield started
    for app in started:
        app.stop()


@pytest.fixture(scope="module")
def start_app(app_env, app_processes, tmp_path_factory):
    root = tmp_path_factory.mktemp("shopapp")

    def start(name: str | None = None, **extra_env: str) -> AppProcess:
        app = AppProcess(root, name or f"shopapp-test-{secrets.token_hex(3)}")
        app_processes.append(app)
        return app.start({**app_env, **extra_env})

    return start
