"""loadstack.cache without a Redis server: records as RESP, the commerce generator, config, object keys."""

from __future__ import annotations

import pytest

from loadstack.cache.redis_server import RedisServer, RedisServerError, restore_rdb


def test_config_text(tmp_path):
    server = RedisServer(tmp_path / "with space", 6390, 'pa"ss', settings={"maxmemory": "64mb"})
    text = server.config_text()
    for line in (
        "bind 127.0.0.1",
        "port 6390",
        "protected-mode yes",
        "daemonize no",
        f'dir "{tmp_path}/with space"',
        'dbfilename "dump.rdb"',
        f'pidfile "{tmp_path}/with space/redis.pid"',
        'save ""',
        "appendonly no",
        'requirepass "pa\\"ss"',
        "maxmemory 64mb",
    ):
        assert line in text.splitlines()
    assert "requirepass" not in RedisServer(tmp_path, 6390).config_text()
    assert server.connection_params()["url"] == "redis://:pa%22ss@127.0.0.1:6390/0"
    with pytest.raises(ValueError):
        RedisServer(tmp_path, 6390, dbfilename="../x.rdb")


def test_stopping_a_server_that_never_ran(tmp_path):
    server = RedisServer(tmp_path)  # stopping needs only the directory
    assert server.pid() is None and server.stop() is False
    (tmp_path / "redis.pid").write_text("1\n")  # PID 1 is not this server: never signalled
    assert server.pid() is None and server.stop() is False
    with pytest.raises(RedisServerError, match="no port"):
        server.start()


def test_restore_refuses_a_file_that_is_not_an_rdb(tmp_path):
    bogus = tmp_path / "x.rdb"
    bogus.write_bytes(b"hello")
    with pytest.raises(RedisServerError, match="not an RDB file"):
        restore_rdb(bogus, tmp_path / "srv", 6390)
    with pytest.raises(RedisServerError, match="does not exist"):
        restore_rdb(tmp_path / "missing.rdb", tmp_path / "srv", 6390)
