"""loadstack.cache.resp: the RESP stream `redis-cli --pipe` reads."""

from __future__ import annotations

import pytest

from loadstack.cache.resp import encode_command


def test_encode_command_is_resp():
    assert encode_command("SET", "k", b"v\r\n", 3) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n$1\r\n3\r\n"
    assert encode_command("PING") == b"*1\r\n$4\r\nPING\r\n"
    assert encode_command("SET", "price", 1.5) == b"*3\r\n$3\r\nSET\r\n$5\r\nprice\r\n$3\r\n1.5\r\n"
    with pytest.raises(TypeError):
        encode_command("SET", "k", None)
    with pytest.raises(TypeError):
        encode_command("SET", "k", True)
