"""zookeeper_node config checks (the server round trip is in tests/integration/test_zookeeper_handler.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from loadstack.handlers import HandlerContext, ZooKeeperNodeHandler, get_handler


def test_registered():
    assert get_handler("zookeeper_node") is ZooKeeperNodeHandler


def test_defaults_and_profile_hosts(tmp_path):
    from loadstack.profiles import load_profile

    config = ZooKeeperNodeHandler.validate_config({"path": "/loadstack/shop/vpc_id", "value": "v"})
    assert (config.hosts, config.timeout) == (None, 10)
    profile = load_profile({"LOADSTACK_HOME": str(tmp_path), "LOADSTACK_ZOOKEEPER_HOSTS": "127.0.0.1:2999"})
    handler = ZooKeeperNodeHandler(config, HandlerContext("shop", "network", profile))
    assert handler.describe() == "zookeeper_node /loadstack/shop/vpc_id @ 127.0.0.1:2999"


@pytest.mark.parametrize(
    "raw, field",
    [
        ({"path": "loadstack/x", "value": "v"}, "path"),
        ({"path": "/", "value": "v"}, "path"),
        ({"path": "/loadstack/", "value": "v"}, "path"),
        ({"path": "/loadstack//x", "value": "v"}, "path"),
        ({"path": "/loadstack/../x", "value": "v"}, "path"),
        ({"path": "/zookeeper/quota", "value": "v"}, "path"),
        ({"path": "/a", "value": {1, 2}}, "value"),
        ({"path": "/a", "value": "v", "timeout": 0}, "timeout"),
        ({"path": "/a", "value": "v", "acl": []}, "acl"),
    ],
)
def test_config_errors(raw, field):
    with pytest.raises(ValidationError) as info:
        ZooKeeperNodeHandler.validate_config(raw)
    assert field in {str(loc) for err in info.value.errors() for loc in err["loc"]}


def test_unresolved_references_pass_parse_time_checks():
    raw = {"path": "/loadstack/${stack.name}/${outputs.name}", "value": "${outputs.x}"}
    config = ZooKeeperNodeHandler.validate_config(raw)
    assert config.path == raw["path"]
