"""A private redis-server: its own directory, config, port on 127.0.0.1 and PID file.

The server is started detached (its own session), so it outlives the Airflow task that started it;
any later process stops it by the PID in its PID file, never by name. Persistence is off
(`save ""`, `appendonly no`): the only data a server starts with is the RDB file found at
``base_dir/<dbfilename>`` when it starts, which is how a snapshot is restored (`restore_rdb`).
With `appendonly yes` Redis would ignore the RDB, hence the explicit `appendonly no`.

A server that is loading an RDB answers ``-LOADING`` to every command (about 1 s per 1 M keys):
`wait_ready` waits until PING answers PONG and checks that the answer comes from this server's
own process, not from some other Redis on the same port.

Talking to Redis needs no client library: `RedisConnection` is a minimal RESP2 client that is
enough for PING, AUTH, DBSIZE, INFO, SAVE and reading a few keys.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from loadstack.supervisor import pid_alive

HOST = "127.0.0.1"
DEFAULT_DBFILENAME = "dump.rdb"
RDB_MAGIC = b"REDIS"


class RedisServerError(RuntimeError):
    """A server could not be started, reached or stopped; the message says why."""


class RedisReplyError(RuntimeError):
    """Redis answered a command with an error reply (``-ERR ...``, ``-LOADING ...``, ...)."""

    @property
    def code(self) -> str:
        return str(self).split(" ", 1)[0]


# --- RESP ---------------------------------------------------------------------------------------
def _to_bytes(arg: Any) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode()
    if isinstance(arg, (int, float)) and not isinstance(arg, bool):
        return str(arg).encode()
    raise TypeError(f"cannot send {type(arg).__name__} to Redis: use str, bytes, int or float")


def encode_command(*args: Any) -> bytes:
    """One command as a RESP array of bulk strings, the wire format `redis-cli --pipe` expects."""
    parts = [b"*%d\r\n" % len(args)]
    append = parts.append
    for arg in args:
        kind = type(arg)
        if kind is str:
            arg = arg.encode()
        elif kind is int:
            arg = b"%d" % arg
        elif kind is not bytes:
            arg = _to_bytes(arg)
        append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


class RedisConnection:
    """A minimal blocking RESP2 client: `execute("HGETALL", "k")`; error replies raise."""

    def __init__(self, host: str, port: int, password: str | None = None, timeout: float = 5.0):
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._file = self._sock.makefile("rb")
        if password is not None:
            try:
                self.execute("AUTH", password)
            except BaseException:
                self.close()
                raise

    def execute(self, *args: Any) -> Any:
        self._sock.sendall(encode_command(*args))
        return self._read_reply()

    def _read_reply(self) -> Any:
        line = self._file.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("Redis closed the connection")
        kind, body = line[:1], line[1:-2]
        if kind == b"+":
            return body.decode()
        if kind == b"-":
            raise RedisReplyError(body.decode(errors="replace"))
        if kind == b":":
            return int(body)
        if kind == b"$":
            size = int(body)
            if size < 0:
                return None
            data = self._file.read(size + 2)
            if len(data) != size + 2:
                raise ConnectionError("Redis closed the connection inside a reply")
            return data[:-2]
        if kind == b"*":
            size = int(body)
            return None if size < 0 else [self._read_reply() for _ in range(size)]
        raise ConnectionError(f"unexpected RESP reply {line[:40]!r}")

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            self._sock.close()

    def __enter__(self) -> RedisConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    """

    def __init__(
        self,
        base_dir: Path | str,
        port: int,
        password: str | None = None,
        *,
        dbfilename: str = DEFAULT_DBFILENAME,
        settings: Mapping[str, str] | None = None,
        redis_server_bin: str = "redis-server",
    ):
        if not 0 < int(port) < 65536:
            raise ValueError(f"port {port} is not a TCP port")
        if "/" in dbfilename or dbfilename in ("", ".", ".."):
            raise ValueError(f"dbfilename {dbfilename!r} must be a plain file name (it lives in base_dir)")
        self.base_dir = Path(base_dir).resolve()
        self.port = int(port)
        self.password = password
        self.dbfilename = dbfilename
        self.settings = dict(settings or {})
        self.redis_server_bin = redis_server_bin

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

    # config
    def config_text(self) -> str:
        lines = [
            "# Written by loadstack (loadstack.cache.redis_server); rewritten at every start.",
            f"bind {HOST}",
            f"port {self.port}",
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
        pid = self._read_pid_file()
        if pid is None:
            return None
        if not pid_alive(pid):
            return None
        # Guard against a recycled PID: it must be a redis-server (by its executable; its command
        # line is unreliable, redis rewrites it in place) working in this base_dir (it is started
        # there and `dir` keeps it there), whatever port it was started with.
        if not Path("/proc/self").exists():
            return pid  # no procfs (not Linux): trust the PID file
        proc = Path(f"/proc/{pid}")
        try:
            try:
                executable = os.readlink(proc / "exe")
            except PermissionError:  # another user's process: its name is still readable
                executable = (proc / "comm").read_text().strip()
        except OSError:
            return None
        if "redis" not in Path(executable.removesuffix(" (deleted)")).name:
            return None
        try:
            if Path(os.readlink(proc / "cwd")) != self.base_dir:
                return None
        except PermissionError:
            pass
        except OSError:
            return None
        return pid

    def _read_pid_file(self) -> int | None:
        # redis-server rewrites the file at startup (truncate, then write): an empty read may
        # just be that moment, so look again before concluding there is no server.
        for _ in range(50):
            try:
                text = self.pid_path.read_text().strip()
            except FileNotFoundError:
                return None
            if text:
                try:
                    return int(text)
                except ValueError:
                    return None
            time.sleep(0.01)
        return None

    def is_running(self) -> bool:
        return self.pid() is not None

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
        self.pid_path.unlink(missing_ok=True)
        with self.stderr_path.open("ab") as err:
            proc = subprocess.Popen(
                [binary, str(self.conf_path)],
                cwd=self.base_dir,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                start_new_session=True,  # outlives the task (and its process group) that started it
                close_fds=True,
            )
        # Redis writes the same PID itself once it is up; writing it now closes the gap in between.
        tmp = self.pid_path.with_name(f".redis.pid.{os.getpid()}")
        tmp.write_text(f"{proc.pid}\n")
        tmp.replace(self.pid_path)
        return proc.pid

    def log_tail(self, chars: int = 2000) -> str:
        text = ""
        for path in (self.stderr_path, self.log_path):
            try:
                text += path.read_text(errors="replace")[-chars:]
            except FileNotFoundError:
                pass
        return text[-chars:]

    def connect(self, timeout: float = 5.0) -> RedisConnection:
        return RedisConnection(HOST, self.port, self.password, timeout=timeout)

    def execute(self, *args: Any) -> Any:
        """Run one command on a fresh connection (for occasional commands, not bulk work)."""
        with self.connect() as conn:
            return conn.execute(*args)

    def wait_ready(self, timeout: float = 60.0, interval: float = 0.02) -> float:
        """Wait until this server answers PING with PONG (not -LOADING); returns the seconds waited."""
        started = time.monotonic()
        deadline = started + timeout
        last_problem = "no answer yet"
        while True:
            pid = self.pid()
            if pid is None:
                raise RedisServerError(
                    f"redis-server for {self.base_dir} (port {self.port}) is not running; "
                    f"log tail:\n{self.log_tail()}"
                )
            try:
                with self.connect(timeout=max(1.0, interval)) as conn:
                    if conn.execute("PING") == "PONG":
                        info = conn.execute("INFO", "server").decode()
                        server_pid = _info_field(info, "process_id")
                        if server_pid != str(pid):
                            raise RedisServerError(
                                f"port {self.port} is answered by another Redis (pid {server_pid}), "
                                f"not by the one started from {self.base_dir} (pid {pid})"
                            )
                        return time.monotonic() - started
            except RedisReplyError as error:
                if error.code not in ("LOADING", "BUSY"):
                    raise RedisServerError(f"Redis on port {self.port} refused PING: {error}") from error
                last_problem = str(error)
            except OSError as error:  # refused while binding, reset, timeout while loading
                last_problem = f"{type(error).__name__}: {error}"
            if time.monotonic() > deadline:
                raise RedisServerError(
                    f"Redis on port {self.port} not ready after {timeout:.0f} s ({last_problem}); "
                    f"log tail:\n{self.log_tail()}"
                )
            time.sleep(interval)

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM the server by its PID, SIGKILL after `timeout`; False if it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if not _wait_gone(pid, 10.0):
                raise RedisServerError(f"redis-server pid {pid} survived SIGKILL")
        self.pid_path.unlink(missing_ok=True)
        return True

    def remove(self, timeout: float = 10.0) -> None:
        """Stop the server and delete base_dir with everything in it."""
        self.stop(timeout)
        shutil.rmtree(self.base_dir, ignore_errors=True)

    # data
    def dbsize(self) -> int:
        return int(self.execute("DBSIZE"))

    def connection_params(self) -> dict[str, Any]:
        """Where clients connect: host, port, password, db and the equivalent redis:// URL."""
        auth = f":{quote(self.password, safe='')}@" if self.password is not None else ""
        return {
            "host": HOST,
            "port": self.port,
            "password": self.password,
            "db": 0,
            "url": f"redis://{auth}{HOST}:{self.port}/0",
        }


def _info_field(info: str, name: str) -> str | None:
    for line in info.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


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

