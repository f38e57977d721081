"""A PostgreSQL server for test Airflows whose metadata database must take concurrent writers.

Airflow refuses some writes on SQLite while another component writes (a backfill's creation answers 503
"Database is locked ... use PostgreSQL or MySQL"), so a test of such a path runs its Airflow on this server.
`import metadata_postgres` (tests/helpers is on pytest's pythonpath).

One server per test process, started on first use, on 127.0.0.1 only and without a unix socket; the first
database is migrated once and every Airflow gets a copy of it (`CREATE DATABASE ... TEMPLATE`, well under a
second, where a migration takes several). The data directory lives outside pytest's temporary tree, which
is private to root: PostgreSQL refuses to run as root and its user must reach the directory.
"""

from __future__ import annotations

import itertools
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg2

from loadstack.supervisor import NotReady, free_port

POSTGRES = shutil.which("postgres") or "/usr/local/bin/postgres"
INITDB = shutil.which("initdb") or "/usr/local/bin/initdb"
USER = "airflow"
TEMPLATE = "airflow_migrated"


class MetadataPostgres:
    def __init__(self, migrate: Callable[[str], None]) -> None:
        """`migrate(url)` runs `airflow db migrate` against the database at `url`."""
        self._migrate = migrate
        self._dir: Path | None = None
        self._process: subprocess.Popen | None = None
        self._port = 0
        self._names = itertools.count(1)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://{USER}@127.0.0.1:{self._port}/{database}"

    def new_database(self) -> str:
        """The SQLAlchemy URL of a fresh, migrated metadata database (the server starts on the first call)."""
        if self._process is None:
            self._start()
        name = f"airflow_{next(self._names)}"
        self._execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def _start(self) -> None:
        for program in (POSTGRES, INITDB):
            if not Path(program).exists():
                raise RuntimeError(f"{program} is missing: PostgreSQL 15's binaries are expected in /usr/local/bin "
                                   "(shared/notes/airflow.md)")
        self._dir = Path(tempfile.mkdtemp(prefix="lst-postgres-"))
        data = self._dir / "data"
        data.mkdir()
        shutil.chown(self._dir, "postgres", "postgres")
        shutil.chown(data, "postgres", "postgres")
        self._dir.chmod(0o755)
        data.chmod(0o700)
        done = subprocess.run(["runuser", "-u", "postgres", "--", INITDB, "-D", str(data), "-U", USER,
                               "--auth=trust", "--encoding=UTF8"], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"initdb {data} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        self._port = free_port()
        with (self._dir / "postgres.log").open("ab") as log:
            self._process = subprocess.Popen(
                [POSTGRES, "-D", str(data), "-c", "listen_addresses=127.0.0.1", "-p", str(self._port),
                 "-c", "unix_socket_directories=", "-c", "fsync=off"],
                user="postgres", group="postgres", stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                self._probe()
                break
            except NotReady:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postgres not accepting connections after 60 s:\n{self._log_tail()}") from None
                time.sleep(0.2)
        self._execute(f"CREATE DATABASE {TEMPLATE}")
        self._migrate(self.url(TEMPLATE))

    def _log_tail(self) -> str:
        assert self._dir is not None
        return "\n".join((self._dir / "postgres.log").read_text(errors="replace").splitlines()[-20:])

    def _probe(self) -> None:
        assert self._process is not None
        if self._process.poll() is not None:
            raise RuntimeError(f"postgres exited during start-up:\n{self._log_tail()}")
        try:
            psycopg2.connect(host="127.0.0.1", port=self._port, user=USER, dbname="postgres").close()
        except psycopg2.OperationalError as exc:
            raise NotReady(f"postgres: {exc}") from None

    def _execute(self, statement: str) -> None:
        connection = psycopg2.connect(host="127.0.0.1", port=self._port, user=USER, dbname="postgres")
        try:
            connection.autocommit = True  # CREATE DATABASE runs outside a transaction
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

    def stop(self) -> None:
        if self._process is not None:
            # SIGINT: a "fast" shutdown that disconnects clients (SIGTERM, "smart", waits for every one to leave).
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            self._process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
