"""Real services for integration tests, on 127.0.0.1: a local profile on the moto server, ZooKeeper,
a private mariadbd (one per session, one fresh database per test that needs one). Servers are stopped
by PID and their directories removed at the end.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from loadstack.cache.redis_server import RedisServer
from loadstack.data.mariadb import ConnectionParams, MariaDBServer, system_binary
from loadstack.data.migrate import migrate
from loadstack.data.params import SeedParams
from loadstack.data.seed import SeedProgress, seed_all
from loadstack.profiles import Profile, load_profile
from loadstack.supervisor import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def moto_server(moto_server):
    """The session's moto server (tests/conftest.py); integration tests also need Terraform."""
    if not shutil.which("terraform") and not os.environ.get("LOADSTACK_TERRAFORM_BIN"):
        pytest.fail("terraform is not on PATH: integration tests need Terraform 1.11 (see README)")
    return moto_server


@pytest.fixture(scope="session")
def local_env(moto_server, tmp_path_factory) -> dict[str, str]:
    """LOADSTACK_* variables of a local profile bound to the test moto server, with its state bucket."""
    env = {
        "LOADSTACK_PROFILE": "local",
        "LOADSTACK_AWS_ENDPOINT_URL": moto_server,
        "LOADSTACK_STATE_BUCKET": "loadstack-test-state",
        "LOADSTACK_HOME": str(tmp_path_factory.mktemp("loadstack-home")),
    }
    profile = load_profile(env)
    s3 = profile.client("s3")
    s3.create_bucket(Bucket=profile.state_bucket)
    s3.put_bucket_versioning(Bucket=profile.state_bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.create_bucket(Bucket=profile.snapshot_bucket)
    yield env
    # A test that failed before its teardown must not leave database or cache servers running.
    for base in [*profile.data_dir.glob("mariadb/*/"), *profile.data_dir.glob("build/*/db/")]:
        MariaDBServer(base_dir=base).stop()
    for base in profile.data_dir.glob("redis/*/"):
        RedisServer(base).stop()
    # Nor apps under test, their HAProxy and Prometheus, nor a load generator a failed ramp left.
    from loadstack.appservice.local import stop_deployment
    from loadstack.locust.cluster import LocustCluster

    for base in profile.data_dir.glob("app/*/"):
        stop_deployment(base)
    for run_dir in profile.work_dir.glob("ramps/*/"):
        LocustCluster(run_dir=run_dir, target_url="http://127.0.0.1").stop()


@pytest.fixture
def local_profile(local_env) -> Profile:
    return load_profile(local_env)


@pytest.fixture
def loadstack_env(local_env, monkeypatch):
    """Put the local profile into os.environ, for operators that call load_profile() themselves."""
    for key, value in local_env.items():
        monkeypatch.setenv(key, value)
    return local_env


ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")  # its manifest Class-Path lists the other jars
SLF4J_SIMPLE_JAR = Path("/usr/share/java/slf4j-simple.jar")  # optional: server log instead of NOP logger


def _ruok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"ruok")
            return s.recv(4) == b"imok"
    except OSError:
        return False


@pytest.fixture(scope="session")
def zookeeper(tmp_path_factory):
    """A standalone ZooKeeper on 127.0.0.1:<free port>; yields "127.0.0.1:<port>"."""
    java = shutil.which("java")
    if not java or not ZOOKEEPER_JAR.is_file():
        pytest.fail(f"needs java and Debian's zookeeper package ({ZOOKEEPER_JAR}): run scripts/bootstrap.sh")
    root = tmp_path_factory.mktemp("zookeeper")
    port = free_port()
    (root / "data").mkdir()
    (root / "zoo.cfg").write_text(
        f"tickTime=2000\n"
        f"dataDir={root / 'data'}\n"
        f"clientPort={port}\n"
        f"clientPortAddress=127.0.0.1\n"
        f"admin.enableServer=false\n"
        f"4lw.commands.whitelist=ruok,srvr\n"
    )
    classpath = [str(ZOOKEEPER_JAR)] + ([str(SLF4J_SIMPLE_JAR)] if SLF4J_SIMPLE_JAR.is_file() else [])
    log_path = root / "zookeeper.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                java,
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Dzookeeper.jmx.log4j.disable=true",
                "-cp",
                ":".join(classpath),
                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                str(root / "zoo.cfg"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 20
        while not _ruok(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ZooKeeper did not start (exit code {proc.poll()}):\n{log_path.read_text()[-3000:]}")
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (at the time of asking)."""
    return free_port()


# --- MariaDB ---------------------------------------------------------------------------------
REQUIRED_BINARIES = ("mariadbd", "mariadb-install-db", "mariadb-backup", "zstd", "tar")


@pytest.fixture(scope="session")
def require_mariadb() -> None:
    missing = [name for name in REQUIRED_BINARIES if not system_binary(name)]
    if missing:
        pytest.fail(
            f"missing {', '.join(missing)}: install mariadb-server, mariadb-backup and zstd (scripts/bootstrap.sh)"
        )


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


@pytest.fixture(scope="session")
def writable_seeded_database(mariadb_server, seeded_database):
    """A copy of `seeded_database` for tests whose app writes into it (load, POST /events).

    `seeded_database` stays exactly as seeded: the data tests count its rows.
    """
    source, seed_params, lines = seeded_database
    name = f"writable_{secrets.token_hex(3)}"
    mariadb_server.create_database(name)
    params = mariadb_server.connection_params(name)
    with params.connect() as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (source.database,))
        for (table,) in cursor.fetchall():
            cursor.execute(f"CREATE TABLE `{table}` LIKE `{source.database}`.`{table}`")
            cursor.execute(f"INSERT INTO `{table}` SELECT * FROM `{source.database}`.`{table}`")
        conn.commit()
    return params, seed_params, lines


@pytest.fixture
def run_xcoms():
    """run_xcoms(dag_run, key="return_value") -> {task_id: value} of a finished dag.test() run."""

    def read(run, key: str = "return_value") -> dict:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = session.query(XComModel).filter_by(run_id=run.run_id, key=key).all()
            return {row.task_id: row.value for row in rows}

    return read
