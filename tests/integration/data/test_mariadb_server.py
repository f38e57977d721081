from __future__ import annotations

import os
import secrets
from pathlib import Path

import mysql.connector
import pytest

from loadstack.data.mariadb import MariaDBError, MariaDBServer

pytestmark = pytest.mark.integration


def test_server_lifecycle(require_mariadb, server_dir, unused_port):
    password = secrets.token_urlsafe(12)
    server = MariaDBServer(base_dir=server_dir, port=unused_port, root_password=password)
    try:
        server.initialize()
        server.initialize()  # already initialised: a no-op
        pid = server.start()
        server.wait_ready(60)
        assert server.start() == pid  # idempotent: no second server on the same datadir
        assert server.is_running() and server.pid == pid
        assert int(server.pid_path.read_text()) == pid and server.pid_path.parent == server_dir
        assert os.getsid(pid) == pid  # detached: outlives the task that started it
        assert MariaDBServer(base_dir=server_dir).pid == pid  # found by its directory alone

        server.set_root_password()
        server.set_root_password()  # idempotent too
        with server.connect() as conn:
            cursor = conn.cursor()
            cursor.execute("SELECT @@bind_address, @@port, @@local_infile, @@innodb_flush_log_at_trx_commit, @@skip_name_resolve")
            assert cursor.fetchone() == ("127.0.0.1", unused_port, 1, 2, 1)
            cursor.execute("SELECT COUNT(*) FROM mysql.global_priv WHERE User = 'root' AND Host NOT IN ('localhost', '127.0.0.1', '::1')")
            assert cursor.fetchone() == (0,)
        with pytest.raises(mysql.connector.Error, match="Access denied"):
            server.connection_params().connect(password="wrong")
        impostor = MariaDBServer(base_dir=server_dir, port=unused_port, root_password="not-it")
        with pytest.raises(MariaDBError, match="not the one") as excinfo:
            impostor.set_root_password()
        assert password not in str(excinfo.value)

        server.create_database("kept")
        assert server.stop() is True
        assert not server.is_running() and not os.path.exists(f"/proc/{pid}")
        assert server.stop() is False

        server.start()  # a restart keeps the data
        server.wait_ready(60)
        with server.connect("kept") as conn:
            assert conn.database == "kept"
    finally:
        server.remove()
    assert not server_dir.exists() and not server.is_running()


def test_a_stop_right_after_the_start_lets_startup_finish_first(require_mariadb, server_dir, unused_port):
    server = MariaDBServer(base_dir=server_dir, port=unused_port, root_password="p")
    try:
        server.initialize()
        pid = server.start()
        assert MariaDBServer(base_dir=server_dir).stop() is True  # by directory, no port, no password
        assert not os.path.exists(f"/proc/{pid}") and not server.is_running()
        # A clean shutdown (SIGTERM after start-up), not a kill: the server logged both.
        log = server.error_log_path.read_text()
        assert "ready for connections" in log and "Shutdown complete" in log
    finally:
        server.remove()


def test_a_failed_start_is_reported_with_the_log(require_mariadb, server_dir, mariadb_server):
    # The session server holds its port; a second server on it cannot bind and exits.
    server = MariaDBServer(base_dir=server_dir, port=mariadb_server.port, root_password="p")
    try:
        server.initialize()
        server.start()
        with pytest.raises(MariaDBError, match="is not running") as excinfo:
            server.wait_ready(30)
        assert "mariadbd.err" in str(excinfo.value)
    finally:
        server.remove()
    assert mariadb_server.is_running()


def test_the_server_binary_is_found_without_sbin_on_path(require_mariadb, monkeypatch):
    from loadstack.data.mariadb import SYSTEM_SBIN, mariadbd_binary

    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # as under `env -i` or a non-root user's login
    found = mariadbd_binary()
    assert Path(found).name == "mariadbd" and str(Path(found).parent) in SYSTEM_SBIN.split(":") + ["/usr/bin", "/bin"]
