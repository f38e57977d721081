"""A private redis-server: its own directory, config, port on 127.0.0.1 and PID file.

The server is started detached (its own session) by `loadstack.supervisor`, so it outlives the
Airflow task that started it; any later process stops it by the PID in its PID file, never by name,
and needs only its directory for that: ``RedisServer(base_dir).stop()``. Persistence is off
(`save ""`, `appendonly no`): the only data a server starts with is the RDB file found at
``base_dir/<dbfilename>`` when it starts, which is how a snapshot is restored (`restore_rdb`).
With `appendonly yes` Redis would ignore the RDB, hence the explicit `appendonly no`.

A server that is loading an RDB answers ``-LOADING`` to every command (about 1 s per 1 M keys;
redis-py raises `BusyLoadingError`): `wait_ready` waits until PING answers and checks that the
answer comes from this server's own process, not from some other Redis on the same port.
Clients are redis-py's (`connect`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from loadstack.supervisor import NotReady, SupervisedProcess, SupervisorError

HOST = "127.0.0.1"
DEFAULT_DBFILENAME = "dump.rdb"
RDB_MAGIC = b"REDIS"
REDIS_SERVER = "redis-server"


class RedisServerError(SupervisorError):
    """A server could not be started, reached or stopped; the message says why."""


# --- config -------------------------------------------------------------------------------------
def _quote(value: str) -> str:
    """A redis.conf argument in double quotes (paths and passwords may contain spaces)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class RedisServer:
    """One redis-server bound to 127.0.0.1:`port` whose files all live in `base_dir`.

    base_dir/redis.conf   written by `start()` (edits are overwritten)
    base_dir/redis.pid    the PID file `stop()` reads
    base_dir/redis.log    the server log; base_dir/redis.stderr.log: what it printed before that
    base_dir/<dbfilename> the RDB loaded at start (see `restore_rdb`), written only by SAVE

    `port` (and `password`, if it has one) are needed to start and to reach the server; finding and
    stopping it need only `base_dir`.
    """

    def __init__(
        self,
        base_dir: Path | str,
        port: int | None = None,
        password: str | None = None,
        *,
        dbfilename: str = DEFAULT_DBFILENAME,
        settings: Mapping[str, str] | None = None,
        redis_server_bin: str = REDIS_SERVER,
    ):
        if port is not None and not 0 < int(port) < 65536:
            raise ValueError(f"port {port} is not a TCP port")
        if "/" in dbfilename or dbfilename in ("", ".", ".."):
            raise ValueError(f"dbfilename {dbfilename!r} must be a plain file name (it lives in base_dir)")
        self.base_dir = Path(base_dir).resolve()
        self.port = None if port is None else int(port)
        self.password = password
        self.dbfilename = dbfilename
        self.settings = dict(settings or {})
        self.redis_server_bin = redis_server_bin
        # redis-server rewrites its command line in place: it is known by its working directory,
        # where it is started and where `dir` keeps it, whatever port it was started with.
        self.process = SupervisedProcess(
            name=f"redis-server for {self.base_dir}",
            pid_path=self.pid_path,
            executable=redis_server_bin,
            cwd=self.base_dir,
            output_path=self.stderr_path,
            logs=(self.log_path,),
            error=RedisServerError,
        )

    def __repr__(self) -> str:
        return f"RedisServer({str(self.base_dir)!r}, port={self.port})"

    # paths
    @property
    def conf_path(self) -> Path:
        return self.base_dir / "redis.conf"

    @property
    def pid_path(self) -> Path:
        return self.base_dir / "redis.pid"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "redis.log"

    @property
    def stderr_path(self) -> Path:
        return self.base_dir / "redis.stderr.log"

    @property
    def rdb_path(self) -> Path:
        return self.base_dir / self.dbfilename

    def _port(self) -> int:
        if self.port is None:
            raise RedisServerError(f"{self!r} was given no port: starting or reaching it needs one")
        return self.port

    # config
    def config_text(self) -> str:
        lines = [
            "# Written by loadstack (loadstack.cache.redis_server); rewritten at every start.",
            f"bind {HOST}",
            f"port {self._port()}",
            "protected-mode yes",
            "daemonize no",
            f"dir {_quote(str(self.base_dir))}",
            f"dbfilename {_quote(self.dbfilename)}",
            f"pidfile {_quote(str(self.pid_path))}",
            f"logfile {_quote(str(self.log_path))}",
            # No persistence: the RDB present at start is the data; stopping never rewrites it.
            'save ""',
            # With an append-only file Redis would load it and ignore the RDB.
            "appendonly no",
        ]
        if self.password is not None:
            lines.append(f"requirepass {_quote(self.password)}")
        for key, value in self.settings.items():
            lines.append(f"{key} {value}")
        return "\n".join(lines) + "\n"

    def write_config(self) -> Path:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.conf_path.with_name(f".redis.conf.{os.getpid()}")
        tmp.write_text(self.config_text())
        os.chmod(tmp, 0o600)  # it may hold the password
        tmp.replace(self.conf_path)
        return self.conf_path

    # process
    def pid(self) -> int | None:
        """The PID of this server if it is running, from its PID file; None otherwise."""
        return self.process.pid()

    def is_running(self) -> bool:
        return self.process.is_running()

    def start(self) -> int:
        """Start the server detached and return its PID; a server already running is left as is."""
        pid = self.pid()
        if pid is not None:
            return pid
        binary = shutil.which(self.redis_server_bin)
        if binary is None:
            raise RedisServerError(
                f"{self.redis_server_bin} not found on PATH: install Debian's redis-server package"
            )
        self.write_config()
        return self.process.start([binary, str(self.conf_path)])

    def log_tail(self, lines: int = 25) -> str:
        return self.process.log_tail(lines)

    def connect(self, timeout: float = 5.0) -> redis.Redis:
        """A redis-py client (bytes replies; use it as a context manager to close it).

        No retries: this is a server on loopback, and a failure should show at once.
        """
        return redis.Redis(
            host=HOST, port=self._port(), password=self.password, socket_timeout=timeout,
            socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0),
        )

    def execute(self, *args: Any) -> Any:
        """Run one command on a fresh connection (for occasional commands, not bulk work)."""
        with self.connect() as client:
            return client.execute_command(*args)

    def _probe(self, client: redis.Redis) -> None:
        try:
            client.ping()
            server_pid = client.info("server").get("process_id")
        except redis.AuthenticationError as error:
            raise RedisServerError(f"Redis on port {self.port} refused our password: {error}") from error
        except redis.BusyLoadingError as error:
            raise NotReady(f"LOADING: {error}") from error
        except redis.ResponseError as error:
            if not str(error).startswith("BUSY"):
                raise RedisServerError(f"Redis on port {self.port} refused PING: {error}") from error
            raise NotReady(str(error)) from error
        except (redis.ConnectionError, redis.TimeoutError) as error:  # refused while binding, reset, loading
            raise NotReady(f"{type(error).__name__}: {error}") from error
        pid = self.pid()
        if server_pid != pid:
            raise RedisServerError(
                f"port {self.port} is answered by another Redis (pid {server_pid}), "
                f"not by the one started from {self.base_dir} (pid {pid})"
            )

    def wait_ready(self, timeout: float = 60.0, interval: float = 0.02) -> float:
        """Wait until this server answers PING (not -LOADING); returns the seconds waited."""
        with self.connect(timeout=max(1.0, interval)) as client:
            return self.process.wait_ready(lambda: self._probe(client), timeout, interval=interval)

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM the server by its PID, SIGKILL after `timeout`; False if it was not running."""
        return self.process.stop(timeout)

    def remove(self, timeout: float = 10.0) -> None:
        """Stop the server and delete base_dir with everything in it."""
        self.stop(timeout)
        shutil.rmtree(self.base_dir, ignore_errors=True)

    # data
    def dbsize(self) -> int:
        with self.connect() as client:
            return client.dbsize()

    def save(self) -> None:
        """Write the dataset to base_dir/<dbfilename> now (blocking SAVE)."""
        with self.connect() as client:
            client.save()

    def connection_params(self) -> dict[str, Any]:
        """Where clients connect: host, port, password, db and the equivalent redis:// URL."""
        auth = f":{quote(self.password, safe='')}@" if self.password is not None else ""
        port = self._port()
        return {
            "host": HOST,
            "port": port,
            "password": self.password,
            "db": 0,
            "url": f"redis://{auth}{HOST}:{port}/0",
        }


def check_rdb_file(path: Path) -> None:
    """Refuse a file that is not an RDB before a server silently starts empty without it."""
    try:
        with Path(path).open("rb") as f:
            magic = f.read(len(RDB_MAGIC))
    except FileNotFoundError:
        raise RedisServerError(f"RDB file {path} does not exist") from None
    if magic != RDB_MAGIC:
        raise RedisServerError(f"{path} is not an RDB file (it does not start with {RDB_MAGIC!r})")


def restore_rdb(
    rdb_path: Path | str,
    base_dir: Path | str,
    port: int,
    password: str | None = None,
    *,
    dbfilename: str = DEFAULT_DBFILENAME,
    timeout: float = 120.0,
    settings: Mapping[str, str] | None = None,
) -> RedisServer:
    """Start a server in `base_dir` whose data is a copy of `rdb_path`; returns it once it answers PONG.

    A server already running from `base_dir` is an error: its data would not be replaced.
    If the server does not get ready, it is stopped before the error is raised.
    """
    rdb_path = Path(rdb_path)
    check_rdb_file(rdb_path)
    server = RedisServer(base_dir, port, password, dbfilename=dbfilename, settings=settings)
    running = server.pid()
    if running is not None:
        raise RedisServerError(
            f"a Redis is already running from {server.base_dir} (pid {running}): stop it before restoring into it"
        )
    server.base_dir.mkdir(parents=True, exist_ok=True)
    tmp = server.base_dir / f".{dbfilename}.restoring"
    shutil.copyfile(rdb_path, tmp)
    tmp.replace(server.rdb_path)
    server.start()
    try:
        server.wait_ready(timeout)
    except BaseException:
        server.stop()
        raise
    return server

