from __future__ import annotations

from importlib.metadata import version

import pytest

from loadstack.data.mariadb import ConnectionParams, MariaDBError, MariaDBServer


def test_config_binds_loopback_and_keeps_files_in_base_dir(tmp_path):
    server = MariaDBServer(base_dir=tmp_path / "db", port=34567, root_password="s3cret-value")
    text = server.config_text()
    for line in ("bind-address=127.0.0.1", "port=34567", "skip-name-resolve", "local_infile=1",
                 "innodb_flush_log_at_trx_commit=2", "user=root", f"socket={tmp_path / 'db' / 'mariadbd.sock'}",
                 f"pid-file={tmp_path / 'db' / 'mariadbd.pid'}", f"datadir={tmp_path / 'db' / 'datadir'}"):
        assert line in text.splitlines()
    assert "s3cret-value" not in text and "s3cret-value" not in repr(server)


def test_connection_params_never_show_the_password():
    params = ConnectionParams(host="127.0.0.1", port=1, user="root", password="s3cret-value", database="shop")
    assert "s3cret-value" not in repr(params) and "s3cret-value" not in str(params)
    assert params.connector_kwargs()["allow_local_infile"] is True
    assert params.with_database(None).database is None


def test_socket_path_length_is_checked_early(tmp_path):
    with pytest.raises(MariaDBError, match="too deep"):
        MariaDBServer(base_dir=tmp_path / ("x" * 120), port=1, root_password="p")


def test_stopping_a_server_that_never_started(tmp_path):
    server = MariaDBServer(base_dir=tmp_path / "db")  # stopping needs only the directory
    assert not server.is_running() and server.stop() is False
    with pytest.raises(MariaDBError, match="initialize"):
        server.start()
    server.datadir.joinpath("mysql").mkdir(parents=True)
    with pytest.raises(MariaDBError, match="no port"):
        server.start()
    with pytest.raises(MariaDBError, match="no port or no root_password"):
        server.connection_params()


def test_stale_pid_file_is_not_trusted(tmp_path):
    server = MariaDBServer(base_dir=tmp_path / "db")
    server.base_dir.mkdir()
    server.pid_path.write_text("1\n")  # PID 1 is alive but is not our mariadbd
    assert server.pid is None and not server.is_running() and server.stop() is False


def test_lock_names_fit_the_server_limit():
    from loadstack.data.mariadb import lock_name

    assert lock_name("loadstack.seed", "shop", "events_01") == "loadstack.seed.shop.events_01"
    long = lock_name("loadstack.seed", "d" * 64, "events_01")
    assert len(long) <= 64 and long.startswith("loadstack.seed.") and long != lock_name("loadstack.seed", "e" * 64, "events_01")


def test_pinned_driver_has_its_c_extension():
    import mysql.connector

    assert version("mysql-connector-python") == "9.7.0"
    assert mysql.connector.HAVE_CEXT, "mysql-connector-python lost its C extension (pure Python is ~40 % slower)"


def test_connections_do_not_ask_for_the_pure_python_driver():
    from loadstack.data.mariadb import ConnectionParams

    kwargs = ConnectionParams(host="127.0.0.1", port=1, user="u", password="p").connector_kwargs()
    assert kwargs.get("use_pure", False) is False
    assert "s3cr3t-pw" not in repr(ConnectionParams(host="127.0.0.1", port=1, user="u", password="s3cr3t-pw"))
