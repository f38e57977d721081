"""/health names the database when MariaDB stops, and the app serves again once it is back (its
pooled connections to the old server fail once each and are replaced)."""

from __future__ import annotations

import secrets
import time

import pytest

from loadstack.credentials import delete_secret, put_json_secret
from loadstack.data.mariadb import MariaDBServer
from loadstack.data.migrate import migrate
from loadstack.profiles import load_profile
from loadstack.supervisor import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def own_database(require_mariadb, local_env, tmp_path):
    """A private, migrated (empty) MariaDB this test may stop, and its secret in moto."""
    server = MariaDBServer(base_dir=tmp_path / "db", port=free_port(), root_password=secrets.token_urlsafe(12))
    profile = load_profile(local_env)
    name = f"shopapp-test/{secrets.token_hex(4)}/own-db"
    try:
        server.initialize()
        server.start()
        server.wait_ready(60)
        server.set_root_password()
        server.create_database("shop")
        params = server.connection_params("shop")
        with params.connect() as conn:
            migrate(conn)
        put_json_secret(
            profile,
            name,
            {"host": params.host, "port": params.port, "username": params.user, "password": params.password},
        )
        yield server, name
    finally:
        delete_secret(profile, name)
        server.remove()


def test_health_names_the_database_when_it_stops_and_the_app_recovers(start_app, own_database):
    server, secret = own_database
    app = start_app("shopapp-it-own-db", SHOPAPP_DB_SECRET_ID=secret, SHOPAPP_DB_NAME="shop")
    assert app.client.get("/health").json()["shards"] == 16  # no seed markers: every events table
    assert app.client.get("/profiles/1/events").status_code == 404
    server.stop()
    try:
        health = app.client.get("/health")
        assert health.status_code == 503, health.text
        assert health.json()["down"] == ["database"] and health.json()["cache"] == "ok"
    finally:
        server.start()
        server.wait_ready(60)
    deadline = time.monotonic() + 20
    while app.client.get("/health").status_code != 200:
        assert time.monotonic() < deadline, app.client.get("/health").text
        time.sleep(0.1)
    statuses = [app.client.get("/profiles/1/events").status_code for _ in range(20)]
    assert statuses[-5:] == [404] * 5, statuses  # answered from the database again
