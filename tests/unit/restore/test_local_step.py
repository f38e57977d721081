"""LocalStepServer's ownership rules, through LocalCache and LocalDatabase, with no server process: the server
record in moto's in-process S3 says which worker (host + LOADSTACK_HOME) owns a step's server; only it
reuses, replaces or removes the server, and a refused destroy keeps the record and the step's secret."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from loadstack.credentials import get_json_secret, put_json_secret
from loadstack.profiles import Profile
from loadstack.restore import local_cache
from loadstack.restore.local_cache import LocalCache
from loadstack.restore.local_database import LocalDatabase
from loadstack.server_record import ForeignServerError, ServerRecords
from loadstack.snapshots.catalog import CatalogEntry

ENTRY = CatalogEntry(name="shop-cache", engine="redis", kind="rdb", profile="local", location="redis/a.rdb")


@pytest.fixture
def homes(two_homes) -> tuple[Profile, Profile]:
    return two_homes


@pytest.fixture
def redis_started(homes, monkeypatch):
    """restore_rdb replaced by a server that is only a directory with 15 keys; the artifact is never fetched.
    Returns the record of shop/cache (home A's) each start found: it must be written before the server starts."""
    seen = []

    def restore_rdb(rdb, base_dir, port, password):
        seen.append(ServerRecords(homes[0], "shop", "cache", "redis").load())
        base_dir.mkdir(parents=True)
        return SimpleNamespace(dbsize=lambda: 15)

    monkeypatch.setattr(local_cache, "restore_rdb", restore_rdb)
    monkeypatch.setattr(LocalCache, "_fetch_artifact", lambda self, entry: self.profile.data_dir / "a.rdb")
    return seen


def owned_by(profile: Profile, server) -> None:
    """As if `profile`'s worker had restored `server`: its directory, its record and its secret."""
    server.base_dir.mkdir(parents=True)
    ServerRecords(profile, server.stack, server.step, server.engine).create(
        server.base_dir, {"snapshot": "shop-cache", "location": ENTRY.location, "port": 4001, "keys": 15},
        host="127.0.0.1")
    put_json_secret(profile, server.secret_name, {"port": 4001, "password": "owners"})


@pytest.mark.parametrize("kind", [LocalDatabase, LocalCache])
def test_a_destroy_on_another_home_raises_and_keeps_record_secret_and_server(homes, kind):
    home_a, home_b = homes
    owner = kind(home_a, "shop", "data")
    owned_by(home_a, owner)
    with pytest.raises(ForeignServerError,
                       match=rf"shop/data: the {owner.engine} server is owned by LOADSTACK_HOME={home_a.home}.*"
                             "refusing to destroy it here. The step's secret and its server record are kept"):
        kind(home_b, "shop", "data").teardown()
    assert get_json_secret(home_a, owner.secret_name)["password"] == "owners"
    assert owner.records.load().owner.home == str(home_a.home.resolve()) and owner.base_dir.is_dir()


def test_a_restore_on_another_home_is_refused_and_starts_nothing(homes, redis_started):
    home_a, home_b = homes
    owned_by(home_a, LocalCache(home_a, "shop", "cache"))
    other = LocalCache(home_b, "shop", "cache")
    with pytest.raises(ForeignServerError, match="refusing to restore it here. No second server was started"):
        other.restore(ENTRY)
    assert redis_started == [] and not other.base_dir.exists()
    assert get_json_secret(home_a, other.secret_name)["password"] == "owners"


def test_the_owner_reuses_its_server_from_the_record(homes, redis_started, monkeypatch):
    home_a, _ = homes
    cache = LocalCache(home_a, "shop", "cache")
    owned_by(home_a, cache)
    monkeypatch.setattr(local_cache, "RedisServer", lambda *args: SimpleNamespace(is_running=lambda: True,
                                                                                   dbsize=lambda: 15))
    assert cache.restore(ENTRY)["port"] == 4001 and redis_started == []


def test_a_fresh_restore_is_recorded_before_the_server_starts(homes, redis_started):
    home_a, _ = homes
    cache = LocalCache(home_a, "shop", "cache")
    outputs = cache.restore(ENTRY)
    [before_start] = redis_started
    assert before_start is not None and before_start.state["keys"] is None
    record = cache.records.load()
    assert record.state == {"snapshot": "shop-cache", "location": ENTRY.location, "port": outputs["port"], "keys": 15}
    assert get_json_secret(home_a, cache.secret_name)["port"] == outputs["port"]


def test_a_record_of_this_home_whose_server_is_gone_is_stale_and_restored_afresh(homes, redis_started):
    home_a, _ = homes
    cache = LocalCache(home_a, "shop", "cache")
    owned_by(home_a, cache)
    cache.base_dir.rmdir()  # the worker's var/ was wiped: nothing of the server is left
    outputs = cache.restore(ENTRY)
    assert len(redis_started) == 1 and outputs["port"] != 4001
    assert cache.records.load().state["port"] == outputs["port"]
    assert get_json_secret(home_a, cache.secret_name)["password"] != "owners"


def test_a_fresh_restore_that_fails_leaves_no_record_nor_directory(homes, monkeypatch):
    home_a, _ = homes

    def restore_rdb(rdb, base_dir, port, password):
        base_dir.mkdir(parents=True)
        raise RuntimeError("redis-server did not start")

    monkeypatch.setattr(local_cache, "restore_rdb", restore_rdb)
    monkeypatch.setattr(LocalCache, "_fetch_artifact", lambda self, entry: self.profile.data_dir / "a.rdb")
    cache = LocalCache(home_a, "shop", "cache")
    with pytest.raises(RuntimeError, match="did not start"):
        cache.restore(ENTRY)
    assert cache.records.load() is None and not cache.base_dir.exists()


@pytest.mark.parametrize("kind", [LocalDatabase, LocalCache])
def test_a_destroy_on_the_owner_removes_directory_record_then_secret(homes, kind):
    home_a, _ = homes
    server = kind(home_a, "shop", "data")
    owned_by(home_a, server)
    assert server.teardown() is True
    assert not server.base_dir.exists() and server.records.load() is None
    with pytest.raises(home_a.client("secretsmanager").exceptions.ResourceNotFoundException):
        get_json_secret(home_a, server.secret_name)
    assert server.teardown() is False  # nothing left: nothing to remove
