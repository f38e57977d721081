"""zookeeper_node against a real ZooKeeper server (Debian's `zookeeper` package), started on loopback."""

from __future__ import annotations

import json

import pytest

from loadstack.handlers import HandlerContext, PublishResult, ZooKeeperConnectionError, ZooKeeperNodeHandler

pytestmark = pytest.mark.integration


@pytest.fixture
def zk(zookeeper):
    from kazoo.client import KazooClient

    client = KazooClient(hosts=zookeeper, timeout=5)
    client.start(timeout=5)
    yield client
    client.stop()
    client.close()


@pytest.fixture
def profile(tmp_path, zookeeper):
    from loadstack.profiles import load_profile

    return load_profile({"LOADSTACK_HOME": str(tmp_path), "LOADSTACK_ZOOKEEPER_HOSTS": zookeeper})


def make(profile, **raw):
    config = ZooKeeperNodeHandler.validate_config(raw)
    return ZooKeeperNodeHandler(config, HandlerContext(stack="shop", step="network", profile=profile))


def test_created_unchanged_updated(profile, zk):
    path = "/loadstack/shop/network/vpc_id"

    assert make(profile, path=path, value="vpc-1").publish() is PublishResult.CREATED
    data, stat = zk.get(path)
    assert data == b"vpc-1"
    assert zk.exists("/loadstack/shop/network") is not None

    assert make(profile, path=path, value="vpc-1").publish() is PublishResult.UNCHANGED
    data, again = zk.get(path)
    assert data == b"vpc-1"
    assert again.version == stat.version and again.mzxid == stat.mzxid

    assert make(profile, path=path, value="vpc-2").publish() is PublishResult.UPDATED
    data, updated = zk.get(path)
    assert data == b"vpc-2"
    assert updated.version == stat.version + 1


def test_json_values_and_explicit_hosts(zookeeper, zk, tmp_path):
    from loadstack.profiles import load_profile

    # The profile points nowhere useful; the handler's own `hosts` wins.
    elsewhere = load_profile({"LOADSTACK_HOME": str(tmp_path), "LOADSTACK_ZOOKEEPER_HOSTS": "127.0.0.1:1"})
    path = "/loadstack/shop/subnets"
    value = {"private": ["subnet-a", "subnet-b"], "az_count": 2}

    handler = make(elsewhere, path=path, value=value, hosts=zookeeper)
    assert handler.describe() == f"zookeeper_node {path} @ {zookeeper}"
    assert handler.publish() is PublishResult.CREATED
    assert json.loads(zk.get(path)[0]) == value
    reordered = {"az_count": 2, "private": ["subnet-a", "subnet-b"]}
    assert make(elsewhere, path=path, value=reordered, hosts=zookeeper).publish() is PublishResult.UNCHANGED
    assert zk.get(path)[1].version == 0


def test_node_written_by_someone_else_is_updated(profile, zk):
    path = "/loadstack/shop/preexisting"
    zk.create(path, b"old", makepath=True)
    assert make(profile, path=path, value="new").publish() is PublishResult.UPDATED
    assert zk.get(path)[0] == b"new"


def test_unreachable_server_is_a_clear_error(profile, unused_port):
    port = unused_port
    handler = make(profile, path="/loadstack/x", value="v", hosts=f"127.0.0.1:{port}", timeout=0.5)
    with pytest.raises(ZooKeeperConnectionError, match=f"no ZooKeeper server at 127.0.0.1:{port} answered"):
        handler.publish()


@pytest.mark.parametrize("hosts", [None, "127.0.0.1:1"])  # success, and a failed connection
def test_client_is_always_stopped_and_closed(profile, monkeypatch, hosts):
    from kazoo import client as kazoo_client

    calls = []

    class Recording(kazoo_client.KazooClient):
        def stop(self):
            calls.append("stop")
            return super().stop()

        def close(self):
            calls.append("close")
            return super().close()

    monkeypatch.setattr(kazoo_client, "KazooClient", Recording)
    handler = make(profile, path="/loadstack/closed", value="v", hosts=hosts, timeout=0.5)
    if hosts is None:
        handler.publish()
    else:
        with pytest.raises(ZooKeeperConnectionError):
            handler.publish()
    assert calls[-2:] == ["stop", "close"]
