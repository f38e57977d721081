"""`python -m shopapp`: arguments, and a configuration error stops it before it binds (exit code 2)."""

from __future__ import annotations

import pytest
from shopapp import __main__ as entry


def test_a_configuration_error_exits_2_naming_the_variable(monkeypatch, capsys):
    for name in ("SHOPAPP_DB_SECRET_ID", "SHOPAPP_DB_NAME", "SHOPAPP_CACHE_SECRET_ID"):
        monkeypatch.delenv(name, raising=False)
    assert entry.main(["--port", "8000", "--name", "shop-app-1"]) == entry.EXIT_CONFIG
    assert capsys.readouterr().err.startswith(
        "shopapp shop-app-1: configuration error: SHOPAPP_DB_SECRET_ID is not set"
    )


def test_port_and_name_are_required(capsys):
    with pytest.raises(SystemExit):
        entry.parse_args(["--port", "8000"])
    assert "--name" in capsys.readouterr().err
    args = entry.parse_args(["--port", "8001", "--name", "n"])
    assert (args.host, args.port, args.name) == ("127.0.0.1", 8001, "n")
