"""A private MariaDB server: its own datadir, port, socket and PID file, all under one base directory.

The server is started detached (a session of its own) by `loadstack.supervisor`, so it outlives
the Airflow task that started it; every later task finds it again through the PID file and stops it
by PID. Stopping or removing needs only `base_dir`: ``MariaDBServer(base_dir=...).remove()``. It
listens on 127.0.0.1 only. Nothing here logs or raises with the root password.

Layout of `base_dir`:
    my.cnf          generated server configuration (`--defaults-file`, always the first argument)
    datadir/        the InnoDB datadir
    mariadbd.sock   unix socket        mariadbd.pid   PID file       mariadbd.err   error log
    mariadbd.out    the process's own stdout/stderr (crashes before the error log is open)
    tmp/            server tmpdir (sorts, LOAD DATA scratch)
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mysql.connector

from loadstack.supervisor import NotReady, SupervisedProcess, SupervisorError

log = logging.getLogger(__name__)

MARIADBD = "mariadbd"
MARIADB_INSTALL_DB = "mariadb-install-db"
# Debian installs the server in /usr/sbin, which a non-root user's PATH (or `env -i`) often lacks.
SYSTEM_SBIN = "/usr/local/sbin:/usr/sbin:/sbin"
# Linux limits a unix socket path to 108 bytes; mariadbd fails late and cryptically beyond it.
_MAX_SOCKET_PATH = 100
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def system_binary(name: str) -> str | None:
    """`name` on PATH, else in the sbin directories; None when it is not installed."""
    return shutil.which(name) or shutil.which(name, path=SYSTEM_SBIN)


def mariadbd_binary() -> str:
    found = system_binary(MARIADBD)
    if found is None:
        raise MariaDBError(f"{MARIADBD} not found on PATH or in {SYSTEM_SBIN}: install mariadb-server (scripts/bootstrap.sh)")
    return found


def lock_name(*parts: str) -> str:
    """A GET_LOCK name from parts; hashed when longer than the server's 64-character limit."""
    name = ".".join(parts)
    if len(name) <= 64:
        return name
    return f"{parts[0]}.{hashlib.sha256(name.encode()).hexdigest()[:40]}"


class MariaDBError(SupervisorError):
    """A private MariaDB server could not be initialised, started, reached or stopped."""


@dataclass(frozen=True, kw_only=True)
class ConnectionParams:
    """Everything a client needs to reach one server; picklable, and its repr hides the password."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str | None = None

    def with_database(self, database: str | None) -> ConnectionParams:
        return ConnectionParams(
            host=self.host, port=self.port, user=self.user, password=self.password, database=database
        )

    def connector_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            # Seeding streams TSV files with LOAD DATA LOCAL INFILE; the server has local_infile=1.
            "allow_local_infile": True,
            "charset": "utf8mb4",
            "collation": "utf8mb4_general_ci",
            "connection_timeout": 10,
        }
        if self.database:
            kwargs["database"] = self.database
        return kwargs

    def connect(self, **overrides: Any):
        """A new mysql.connector connection (the C extension when available; autocommit off)."""
        return mysql.connector.connect(**{**self.connector_kwargs(), **overrides})


class MariaDBServer:
    """One private mariadbd under `base_dir`, reachable on 127.0.0.1:`port`.

    `port` and `root_password` are needed to start and to reach the server; finding, stopping and
    removing it need only `base_dir`.
    """

    def __init__(
        self,
        *,
        base_dir: Path,
        port: int | None = None,
        root_password: str | None = None,
        buffer_pool_size: str = "256M",
        extra_settings: dict[str, str] | None = None,
    ) -> None:
        self.base_dir = Path(base_dir).absolute()
        self.port = None if port is None else int(port)
        self._root_password = root_password
        self.buffer_pool_size = buffer_pool_size
        self.extra_settings = dict(extra_settings or {})
        self.process = SupervisedProcess(
            name=f"mariadbd for {self.base_dir}",
            pid_path=self.pid_path,
            executable=MARIADBD,
            marker_arg=f"--defaults-file={self.config_path}",
            output_path=self.output_path,
            logs=(self.error_log_path,),
            error=MariaDBError,
        )
        if len(str(self.socket_path)) > _MAX_SOCKET_PATH:
            raise MariaDBError(
                f"base_dir {self.base_dir} is too deep: the socket path {self.socket_path} exceeds "
                f"{_MAX_SOCKET_PATH} characters (unix sockets allow 108); choose a shorter base_dir"
            )

    def __repr__(self) -> str:
        return f"MariaDBServer(base_dir={str(self.base_dir)!r}, port={self.port})"

    # --- paths ------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.base_dir / "my.cnf"

    @property
    def datadir(self) -> Path:
        return self.base_dir / "datadir"

    @property
    def socket_path(self) -> Path:
        return self.base_dir / "mariadbd.sock"

    @property
    def pid_path(self) -> Path:
        return self.base_dir / "mariadbd.pid"

    @property
    def error_log_path(self) -> Path:
        return self.base_dir / "mariadbd.err"

    @property
    def output_path(self) -> Path:
        return self.base_dir / "mariadbd.out"

    @property
    def tmp_dir(self) -> Path:
        return self.base_dir / "tmp"

    # --- configuration ----------------------------------------------------------------------
    def config_text(self) -> str:
        if self.port is None:
            raise MariaDBError(f"{self!r} was given no port: configuring or starting it needs one")
        settings: dict[str, str | None] = {
            # mariadbd refuses to run as root unless told to; these machines run everything as root.
            "user": "root",
            "datadir": str(self.datadir),
            "tmpdir": str(self.tmp_dir),
            "socket": str(self.socket_path),
            "pid-file": str(self.pid_path),
            "log-error": str(self.error_log_path),
            "port": str(self.port),
            "bind-address": "127.0.0.1",
            # Loopback only, and no DNS lookups per connection (grants use 127.0.0.1, not names).
            "skip-name-resolve": None,
            "character-set-server": "utf8mb4",
            "collation-server": "utf8mb4_general_ci",
            # A load-test database: flushing the redo log once a second is plenty, and it is what
            # makes bulk loads and write-heavy tests fast.
            "innodb_flush_log_at_trx_commit": "2",
            "innodb_buffer_pool_size": self.buffer_pool_size,
            "innodb_log_file_size": "256M",
            "local_infile": "1",
            "max_allowed_packet": "64M",
            "max_connections": "200",
            "skip-log-bin": None,
        }
        settings.update(self.extra_settings)
        lines = ["# Generated by loadstack.data.mariadb; rewritten on every initialize/start.", "[mysqld]"]
        lines += [key if value is None else f"{key}={value}" for key, value in settings.items()]
        # The bundled clients (mariadb, mariadb-backup) find the same socket and port.
        lines += ["", "[client]", f"socket={self.socket_path}", f"port={self.port}", "host=127.0.0.1", ""]
        return "\n".join(lines)

    def write_config(self) -> Path:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(exist_ok=True)
        text = self.config_text()
        if not self.config_path.exists() or self.config_path.read_text() != text:
            tmp = self.config_path.with_suffix(".cnf.tmp")
            tmp.write_text(text)
            tmp.replace(self.config_path)
        return self.config_path

    # --- lifecycle --------------------------------------------------------------------------
    def is_initialized(self) -> bool:
        return (self.datadir / "mysql").is_dir()

    def initialize(self) -> None:
        """Create the system tables in an empty datadir (about 1 s). A no-op when already done."""
        if self.is_initialized():
            return
        if self.datadir.exists() and any(self.datadir.iterdir()):
            raise MariaDBError(f"datadir {self.datadir} is not empty but has no system tables; refusing to initialise over it")
        self.write_config()
        self.datadir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [
                MARIADB_INSTALL_DB,
                f"--defaults-file={self.config_path}",  # must come first
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if result.returncode != 0:
            raise MariaDBError(
                f"mariadb-install-db failed for {self.base_dir} (exit code {result.returncode}):\n"
                f"{result.stdout[-3000:]}"
            )

    @property
    def pid(self) -> int | None:
        """The PID of our running mariadbd, or None."""
        return self.process.pid()

    def is_running(self) -> bool:
        return self.process.is_running()

    def start(self) -> int:
        """Start mariadbd detached and return its PID; if it already runs, return that PID.

        Does not wait for it to accept connections: call `wait_ready()`.
        """
        running = self.pid
        if running is not None:
            return running
        if not self.is_initialized():
            raise MariaDBError(f"{self.datadir} has no system tables: call initialize() (or restore a snapshot) first")
        self.write_config()
        pid = self.process.start([mariadbd_binary(), f"--defaults-file={self.config_path}"])
        log.info("started mariadbd pid %d on 127.0.0.1:%d (%s)", pid, self.port, self.base_dir)
        return pid

    def _handshake(self) -> bool:
        """True once the server sends a protocol-10 greeting (no login needed).

        Asked on the unix socket inside base_dir, not on the TCP port: another server holding the
        port would answer there, while our socket only exists once our mariadbd has bound both.
        """
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1)
                sock.connect(str(self.socket_path))
                header = sock.recv(5)
        except OSError:
            return False
        return len(header) == 5 and header[4] == 10

    def _probe(self) -> None:
        if not self._handshake():
            raise NotReady(f"no greeting on {self.socket_path.name} (port {self.port})")

    def wait_ready(self, timeout: float = 60) -> float:
        """Block until the server accepts connections; returns the seconds waited."""
        return self.process.wait_ready(self._probe, timeout)

    def _let_startup_finish(self, pid: int, deadline: float) -> None:
        # A SIGTERM that reaches mariadbd 10.11 while it is still starting up can leave it hung for
        # good (seen here: stuck after loading grants). Let it finish starting, then stop it.
        while not self._handshake() and self.process.is_ours(pid) and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self, timeout: float = 60) -> bool:
        """SIGTERM by PID, wait for a clean shutdown, SIGKILL after `timeout`; False if not running."""
        return self.process.stop(timeout, before_term=self._let_startup_finish)

    def remove(self) -> None:
        """Stop the server and delete its base directory (datadir included)."""
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def log_tail(self, lines: int = 25) -> str:
        return self.process.log_tail(lines)

    # --- clients ----------------------------------------------------------------------------
    def connection_params(self, database: str | None = None) -> ConnectionParams:
        if self.port is None or self._root_password is None:
            raise MariaDBError(f"{self!r} was given no port or no root_password: connecting needs both")
        return ConnectionParams(
            host="127.0.0.1", port=self.port, user="root", password=self._root_password, database=database
        )

    def connect(self, database: str | None = None, **overrides: Any):
        """A mysql.connector connection as root over TCP, with LOAD DATA LOCAL INFILE allowed."""
        return self.connection_params(database).connect(**overrides)

    def set_root_password(self) -> None:
        """Give every root account this server's root password (a fresh install has none).

        Idempotent: on a server whose root already has this password it changes nothing visible.
        """
        try:
            conn = self.connect()
        except mysql.connector.errors.ProgrammingError:
            try:
                conn = self.connection_params().connect(password="")
            except mysql.connector.errors.ProgrammingError:
                raise MariaDBError(
                    f"root on 127.0.0.1:{self.port} has a password, and it is not the one this "
                    "MariaDBServer was given"
                ) from None
        try:
            cursor = conn.cursor()
            # mariadb-install-db also creates root@<hostname>. With skip-name-resolve that account
            # can be neither reached nor altered, but it has no password: remove it outright.
            removed = 0
            for table in ("global_priv", "proxies_priv"):
                cursor.execute(
                    f"DELETE FROM mysql.{table} WHERE User = 'root' AND Host NOT IN (%s, %s, %s)", _LOOPBACK_HOSTS
                )
                removed += cursor.rowcount
            if removed:
                cursor.execute("FLUSH PRIVILEGES")
            cursor.execute("SELECT Host FROM mysql.global_priv WHERE User = 'root'")
            for (host,) in cursor.fetchall():
                cursor.execute("ALTER USER 'root'@%s IDENTIFIED BY %s", (host, self._root_password))
            conn.commit()
        finally:
            conn.close()

    def change_root_password(self, new_password: str) -> None:
        """Give every root account a new password (a restored snapshot carries its builder's)."""
        conn = self.connect()
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT Host FROM mysql.global_priv WHERE User = 'root'")
            for (host,) in cursor.fetchall():
                cursor.execute("ALTER USER 'root'@%s IDENTIFIED BY %s", (host, new_password))
            conn.commit()
        finally:
            conn.close()
        self._root_password = new_password

    def create_database(self, name: str) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_]{1,64}", name):
            raise ValueError(f"database name {name!r}: use letters, digits and underscores")
        conn = self.connect()
        try:
            conn.cursor().execute(
                f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
            )
        finally:
            conn.close()
