"""What the app needs to run for real: the session's seeded MariaDB database, a redis-server restored from
an RDB of the shop's cache, and both secrets in the moto server, as the events_db and cache steps leave
them. Servers are stopped by PID at the end."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from loadstack.appservice.base import AppConfig
from loadstack.cache import build_rdb, commerce_cache_records, restore_rdb
from loadstack.credentials import delete_secret, put_json_secret
from loadstack.data.plan import plan_for
from loadstack.supervisor import free_port


@pytest.fixture(scope="module")
def shop_redis(writable_seeded_database, tmp_path_factory):
    """A password-protected redis-server holding sessions and carts that agree with the seeded database."""
    records = list(commerce_cache_records(5, 200, 100, plan=plan_for(writable_seeded_database[1])))
    root = tmp_path_factory.mktemp("app-cache")
    build_rdb(records, root / "shop.rdb")
    server = restore_rdb(root / "shop.rdb", root / "redis", free_port(), secrets.token_urlsafe(12))
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def app_config(local_profile, writable_seeded_database, shop_redis) -> Iterator[AppConfig]:
    """An app step's config whose secrets exist in moto (deleted afterwards); the stack name is unique."""
    db = writable_seeded_database[0]
    stack = f"it_{secrets.token_hex(3)}"
    db_secret, cache_secret = f"loadstack/{stack}/events_db/mariadb", f"loadstack/{stack}/cache/redis"
    put_json_secret(
        local_profile, db_secret, {"host": db.host, "port": db.port, "username": db.user, "password": db.password}
    )
    put_json_secret(
        local_profile, cache_secret, {"host": "127.0.0.1", "port": shop_redis.port, "password": shop_redis.password}
    )
    try:
        yield AppConfig(
            stack=stack,
            step="app",
            instances=2,
            db_secret_id=db_secret,
            db_name=db.database,
            cache_secret_id=cache_secret,
        )
    finally:
        for name in (db_secret, cache_secret):
            delete_secret(local_profile, name)
