"""A private MariaDB server: its own datadir, port, socket and PID file, all under one base directory.

The server is started detached (a session of its own), so it outlives the Airflow task that
started it; every later task finds it again through the PID file and stops it by PID. It listens on
127.0.0.1 only. Nothing here logs or raises with the root password.

Layout of `base_dir`:
    my.cnf          generated server configuration (`--defaults-file`, always the first argument)
    datadir/        the InnoDB datadir
    mariadbd.sock   unix socket        mariadbd.pid   PID file       mariadbd.err   error log
    mariadbd.out    the process's own stdout/stderr (crashes before the error log is open)
    tmp/            server tmpdir (sorts, LOAD DATA scratch)
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    import hashlib

    return f"{parts[0]}.{hashlib.sha256(name.encode()).hexdigest()[:40]}"


class MariaDBError(RuntimeError):
    """A private MariaDB server could not be initialised, started, reached or stopped."""


@dataclass(frozen=True, kw_only=True)
class ConnectionParams:
    """Everything a client needs to reach one server; picklable, and its repr hides the password."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str | None = None

    def with_database(self, database: str | None) -> "ConnectionParams":
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
        import mysql.connector

        return mysql.connector.connect(**{**self.connector_kwargs(), **overrides})


class MariaDBServer:
    """One private mariadbd under `base_dir`, reachable on 127.0.0.1:`port`."""

    def __init__(
        self,
        *,
        base_dir: Path,
        port: int,
        root_password: str,
        buffer_pool_size: str = "256M",
        extra_settings: dict[str, str] | None = None,
    ) -> None:
        self.base_dir = Path(base_dir).absolute()
        self.port = int(port)
        self._root_password = root_password
        self.buffer_pool_size = buffer_pool_size
        self.extra_settings = dict(extra_settings or {})
        self._process: subprocess.Popen | None = None
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

    def _read_pid(self) -> int | None:
        try:
            return int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _is_our_process(self, pid: int) -> bool:
        """Alive, not a zombie, and really our mariadbd: a stale PID file may name a reused PID."""
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            return False
        command, _, rest = stat.partition(" (")[2].rpartition(") ")
        if rest.split()[0] == "Z":
            self._reap(pid)
            return False
        if not cmdline:
            # A process in its final exit has already dropped its memory and its command line; until
            # it is gone it may still hold our datadir, so a mariadbd in that state counts as ours.
            return command == MARIADBD
        expected = f"--defaults-file={self.config_path}".encode()
        args = cmdline.split(b"\0")
        return args[0].endswith(MARIADBD.encode()) and expected in args

    def _reap(self, pid: int) -> None:
        if self._process is not None and self._process.pid == pid:
            self._process.poll()
            return
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass

    @property
    def pid(self) -> int | None:
        """The PID of our running mariadbd, or None."""
        pid = self._read_pid()
        if pid is None and self._process is not None and self._process.poll() is None:
            pid = self._process.pid
        return pid if pid is not None and self._is_our_process(pid) else None

    def is_running(self) -> bool:
        return self.pid is not None

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
        self.pid_path.unlink(missing_ok=True)  # stale: its process is gone or is not ours
        with self.output_path.open("ab") as output:
            self._process = subprocess.Popen(
                [mariadbd_binary(), f"--defaults-file={self.config_path}"],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                # A session of its own: a signal to the task's process group must not reach it.
                start_new_session=True,
                close_fds=True,
            )
        # mariadbd writes the same PID itself once it is up; writing it now lets a concurrent
        # start() or stop() find the process during the startup window.
        self.pid_path.write_text(f"{self._process.pid}\n")
        log.info("started mariadbd pid %d on 127.0.0.1:%d (%s)", self._process.pid, self.port, self.base_dir)
        return self._process.pid

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

    def wait_ready(self, timeout: float = 60) -> float:
        """Block until the server accepts connections; returns the seconds waited."""
        started = time.monotonic()
        deadline = started + timeout
        while True:
            if not self.is_running():
                raise MariaDBError(f"mariadbd for {self.base_dir} is not running:\n{self.log_tail()}")
            if self._handshake():
                return time.monotonic() - started
            if time.monotonic() > deadline:
                raise MariaDBError(
                    f"mariadbd for {self.base_dir} did not accept connections on 127.0.0.1:{self.port} "
                    f"within {timeout:.0f} s:\n{self.log_tail()}"
                )
            time.sleep(0.02)

    def stop(self, timeout: float = 60) -> bool:
        """SIGTERM by PID, wait for a clean shutdown, SIGKILL after `timeout`; False if not running."""
        pid = self.pid
        if pid is None:
            return False
        deadline = time.monotonic() + timeout
        # A SIGTERM that reaches mariadbd 10.11 while it is still starting up can leave it hung for
        # good (seen here: stuck after loading grants). Let it finish starting, then stop it.
        while not self._handshake() and self._is_our_process(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if self._is_our_process(pid) and time.monotonic() < deadline:
            os.kill(pid, signal.SIGTERM)
            self._wait_gone(pid, deadline - time.monotonic())
        if self._is_our_process(pid):
            log.warning("mariadbd pid %d did not stop within %.0f s; sending SIGKILL", pid, timeout)
            os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, 10)
        self.pid_path.unlink(missing_ok=True)
        self._process = None
        return True

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._is_our_process(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def remove(self) -> None:
        """Stop the server and delete its base directory (datadir included)."""
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def log_tail(self, lines: int = 25) -> str:
        chunks = []
        for path in (self.error_log_path, self.output_path):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                chunks.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(chunks) or "(no server log yet)"

    # --- clients ----------------------------------------------------------------------------
    def connection_params(self, database: str | None = None) -> ConnectionParams:
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
        import mysql.connector

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
