"""mysql-connector-python must keep its C extension: newer wheels silently fall back to pure Python here."""

from __future__ import annotations

from importlib.metadata import version


def test_pinned_driver_has_its_c_extension():
    import mysql.connector

    assert version("mysql-connector-python") == "9.7.0"
    assert mysql.connector.HAVE_CEXT, "mysql-connector-python lost its C extension (pure Python is ~40 % slower)"


def test_connections_do_not_ask_for_the_pure_python_driver():
    from loadstack.data.mariadb import ConnectionParams

    kwargs = ConnectionParams(host="127.0.0.1", port=1, user="u", password="p").connector_kwargs()
    assert kwargs.get("use_pure", False) is False
    assert "s3cr3t-pw" not in repr(ConnectionParams(host="127.0.0.1", port=1, user="u", password="s3cr3t-pw"))
