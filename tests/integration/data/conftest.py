"""A real private mariadbd for the data-tier integration tests, on a free loopback port.

One server per session (mariadb-install-db costs about a second), one fresh database per test
that needs an empty one. Servers are stopped by PID and their directories removed at the end.
"""

from __future__ import annotations

import itertools
import secrets
from pathlib import Path

import pytest

from loadstack.data.mariadb import ConnectionParams, MariaDBServer, system_binary
from loadstack.data.migrate import migrate
from loadstack.data.params import SeedParams
from loadstack.data.seed import SeedProgress, seed_all
from loadstack.supervisor import free_port

REQUIRED_BINARIES = ("mariadbd", "mariadb-install-db", "mariadb-backup", "zstd", "tar")


@pytest.fixture(scope="session")
def require_mariadb() -> None:
    missing = [name for name in REQUIRED_BINARIES if not system_binary(name)]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: install mariadb-server, mariadb-backup and zstd (scripts/bootstrap.sh)")


@pytest.fixture(scope="session")
def mariadb_server(require_mariadb, tmp_path_factory):
    """A running, initialised server with a root password; removed (stopped by PID) afterwards."""
    server = MariaDBServer(
        base_dir=tmp_path_factory.mktemp("mariadb"), port=free_port(), root_password=secrets.token_urlsafe(16)
    )
    try:
        server.initialize()
        server.start()
        server.wait_ready(60)
        server.set_root_password()
        yield server
    finally:
        server.remove()


_database_numbers = itertools.count()


@pytest.fixture
def new_database(mariadb_server):
    """A factory of fresh databases on the session server (migrated unless asked otherwise)."""
    created: list[str] = []

    def make(*, migrated: bool = True) -> ConnectionParams:
        name = f"t{next(_database_numbers)}_{secrets.token_hex(3)}"
        mariadb_server.create_database(name)
        created.append(name)
        params = mariadb_server.connection_params(name)
        if migrated:
            with params.connect() as conn:
                migrate(conn)
        return params

    yield make
    with mariadb_server.connect() as conn:
        for name in created:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")


def count_rows(params: ConnectionParams, tables) -> dict[str, int]:
    from loadstack.data.seed import count_rows as count

    with params.connect() as conn:
        return count(conn, tables)


@pytest.fixture
def row_counts():
    """count_rows(params, tables) -> {table: COUNT(*)}."""
    return count_rows


@pytest.fixture
def server_dir(tmp_path) -> Path:
    """A base_dir for an extra server, short enough for its unix socket path (108 bytes)."""
    return tmp_path / "srv"


SEEDED_PARAMS = SeedParams(seed=3, accounts=10, products_per_account=20, profiles=2_000, events=50_000, orders=1_000)


@pytest.fixture(scope="session")
def seeded_database(mariadb_server):
    """(connection params, SeedParams, progress lines) of a database fully seeded with 50 k events."""
    name = f"seeded_{secrets.token_hex(3)}"
    mariadb_server.create_database(name)
    params = mariadb_server.connection_params(name)
    with params.connect() as conn:
        migrate(conn)
    lines: list[SeedProgress] = []
    seed_all(params, SEEDED_PARAMS, progress=lines.append)
    return params, SEEDED_PARAMS, lines
