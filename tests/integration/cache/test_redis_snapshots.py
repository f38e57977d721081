"""Real redis-server processes: start/stop by PID, RDB build, restore, loading, determinism.

Every server binds 127.0.0.1 on a free port, lives in tmp_path and is stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from loadstack.cache.rdb import RdbError, build_rdb, commerce_cache_records
from loadstack.cache.redis_server import RedisServer, RedisServerError, restore_rdb
from loadstack.supervisor import free_port

pytestmark = pytest.mark.integration

SESSIONS, CARTS = 40_000, 10_000  # 50 k keys, a 6 MB RDB


@pytest.fixture(scope="module", autouse=True)
def _needs_redis():
    missing = [b for b in ("redis-server", "redis-cli") if shutil.which(b) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: install Debian's redis-server package (scripts/bootstrap.sh)")


def _live_redis_under(root: Path) -> list[int]:
    """PIDs of live (not zombie) redis-server processes working in a directory under `root`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"redis" not in (proc / "cmdline").read_bytes() or _gone(int(proc.name)):
                continue
            cwd = Path(os.readlink(proc / "cwd").removesuffix(" (deleted)"))
        except OSError:
            continue
        if cwd.is_relative_to(root):
            found.append(int(proc.name))
    return found


@pytest.fixture
def servers(tmp_path):
    """Collects servers a test starts; stops each by PID afterwards and checks that none is left."""
    started: list[RedisServer] = []
    yield started
    for server in started:
        server.stop()
    assert _live_redis_under(tmp_path.resolve()) == []


@pytest.fixture(scope="module")
def commerce_rdb(tmp_path_factory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("rdb") / "commerce.rdb"
    build = build_rdb(commerce_cache_records(42, SESSIONS, CARTS), path)
    assert build.keys == build.replies == SESSIONS + CARTS
    return path, build.keys


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_start_is_idempotent_and_stop_by_pid_leaves_no_process(tmp_path, servers):
    server = RedisServer(tmp_path / "redis", free_port(), password="s3cret")
    servers.append(server)
    pid = server.start()
    assert server.start() == pid
    server.wait_ready(10)
    assert server.pid_path.read_text().strip() == str(pid)
    assert server.dbsize() == 0
    with server.connect() as client:
        assert client.config_get("appendonly") == {"appendonly": "no"}
        assert client.config_get("bind") == {"bind": "127.0.0.1"}
    with pytest.raises(redis.AuthenticationError, match="WRONGPASS|invalid"):
        redis.Redis(host="127.0.0.1", port=server.port, password="wrong").ping()

    by_directory = RedisServer(server.base_dir)  # what a teardown has: no port, no password
    assert by_directory.pid() == pid
    assert by_directory.stop() is True
    assert _gone(pid) and not server.pid_path.exists() and server.pid() is None
    assert server.stop() is False
    server.remove()
    assert not server.base_dir.exists()


def test_server_outlives_the_process_that_started_it(tmp_path, servers):
    server = RedisServer(tmp_path / "redis", free_port())
    servers.append(server)
    code = (
        "import sys; from loadstack.cache.redis_server import RedisServer;"
        f"s = RedisServer({str(server.base_dir)!r}, {server.port}); s.start(); s.wait_ready(10)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)  # the "task" exits here
    pid = server.pid()
    assert pid is not None and os.getsid(pid) == pid  # a session of its own
    assert server.execute("PING") is True
    assert server.stop() is True  # by PID, from a process that is not its parent
    deadline = time.monotonic() + 5
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _gone(pid)


def test_a_taken_port_is_reported_with_the_log(tmp_path, servers):
    port = free_port()
    first = RedisServer(tmp_path / "a", port)
    second = RedisServer(tmp_path / "b", port)
    servers.extend([first, second])
    first.start()
    first.wait_ready(10)
    second.start()
    with pytest.raises(RedisServerError, match="(?s)not running.*Address already in use|another Redis"):
        second.wait_ready(10)


def test_restore_an_rdb_waits_through_loading(commerce_rdb, tmp_path, servers):
    rdb, keys = commerce_rdb
    # Slow loading down (hidden test settings of Redis) so that -LOADING is certain to be seen.
    slow = {"key-load-delay": "-2", "loading-process-events-interval-bytes": "1024"}
    base = tmp_path / "redis"
    base.mkdir()
    shutil.copyfile(rdb, base / "dump.rdb")
    server = RedisServer(base, free_port(), "pw", settings=slow)
    servers.append(server)
    server.start()
    first_reply = None
    deadline = time.monotonic() + 10
    client = redis.Redis(host="127.0.0.1", port=server.port, password="pw", socket_timeout=2, retry=Retry(NoBackoff(), 0))
    with client:
        while first_reply is None and time.monotonic() < deadline:
            try:
                first_reply = client.ping()
            except redis.BusyLoadingError:
                first_reply = "LOADING"
            except redis.ConnectionError:  # not listening yet
                time.sleep(0.005)
    assert first_reply == "LOADING"
    server.wait_ready(60)
    assert server.execute("PING") is True
    assert server.dbsize() == keys


def test_restore_rdb_with_50k_keys(commerce_rdb, tmp_path, servers):
    rdb, keys = commerce_rdb
    started = time.monotonic()
    server = restore_rdb(rdb, tmp_path / "redis", free_port(), "pw")
    servers.append(server)
    elapsed = time.monotonic() - started
    assert server.dbsize() == keys == SESSIONS + CARTS
    with server.connect() as client:
        session_key = client.randomkey().decode()
        assert client.type("cart:1") == b"string"
        assert b'"cart_id":1' in client.get("cart:1")
    assert elapsed < 10, elapsed
    assert session_key.startswith(("session:", "cart:"))
    with pytest.raises(RedisServerError, match="already running"):
        restore_rdb(rdb, tmp_path / "redis", free_port(), "pw")


def _dataset(server: RedisServer) -> dict[str, object]:
    with server.connect() as client:
        keys = [k.decode() for k in client.scan_iter(count=5000)]
        sample = sorted(keys)[:: max(1, len(keys) // 50)]
        values = {k: client.hgetall(k) if k.startswith("session:") else client.get(k) for k in sample}
    return {"keys": set(keys), "values": values}


def test_same_seed_gives_the_same_dataset(tmp_path, servers):
    datasets = []
    for n, seed in enumerate((7, 7, 8)):
        build = build_rdb(commerce_cache_records(seed, 3000, 1000), tmp_path / f"s{n}.rdb")
        assert build.keys == 4000
        server = restore_rdb(build.path, tmp_path / f"srv{n}", free_port())
        servers.append(server)
        datasets.append(_dataset(server))
        server.stop()
    assert datasets[0] == datasets[1]
    assert datasets[0]["keys"] != datasets[2]["keys"]
    assert len(datasets[0]["keys"]) == 4000


def test_ttls_count_from_the_build(tmp_path, servers):
    build = build_rdb([("a", "1", 3600), ("h", {"f": "v"}, 600), ("p", "persistent", None)], tmp_path / "ttl.rdb")
    server = restore_rdb(build.path, tmp_path / "srv", free_port())
    servers.append(server)
    with server.connect() as client:
        assert 3590 <= client.ttl("a") <= 3600
        assert 590 <= client.ttl("h") <= 600
        assert client.ttl("p") == -1


def test_build_reports_redis_errors_and_cleans_up(tmp_path, servers):
    bad = [b"*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n", b"*3\r\n$4\r\nHSET\r\n$1\r\nk\r\n$1\r\nf\r\n"]
    with pytest.raises(RdbError, match="errors: 1"):
        build_rdb(bad, tmp_path / "bad.rdb")
    assert not (tmp_path / "bad.rdb").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # the scratch server's directory is gone
