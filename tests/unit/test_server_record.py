"""Server records on moto's in-process S3: the owner identity, create/update/delete, and the ownership claim."""

from __future__ import annotations

import json
import socket

import pytest

from loadstack.profiles import Profile
from loadstack.server_record import ForeignServerError, Owner, ServerRecords, owner_of, record_key


def make_profile(home) -> Profile:
    return Profile(name="local", region="us-east-1", state_bucket="state", home=home, terraform_bin="terraform",
                   plugin_mirror=home)


@pytest.fixture
def homes(tmp_path, mocked_aws):
    """Two workers' profiles on one host: homes A and B, one state bucket."""
    a, b = make_profile(tmp_path / "a"), make_profile(tmp_path / "b")
    a.client("s3").create_bucket(Bucket="state")
    return a, b


def test_the_owner_is_the_host_and_the_workers_home(tmp_path):
    assert owner_of(make_profile(tmp_path)) == Owner(host=socket.gethostname(), home=str(tmp_path.resolve()))
    assert owner_of(make_profile(tmp_path / "x")) != owner_of(make_profile(tmp_path))
    assert str(Owner("h1", "/w/a")) == "LOADSTACK_HOME=/w/a on host h1"


def test_a_record_is_one_json_object_per_server_in_the_state_bucket(homes):
    a, _ = homes
    base = a.data_dir / "mariadb" / "shop-db"
    records = ServerRecords(a, "shop", "db", "mariadb")
    assert records.key == record_key("shop", "db", "mariadb") == "loadstack/servers/shop/db/mariadb.json"
    assert records.load() is None
    made = records.create(base, {"port": 4000, "location": "mariadb/a.tar.zst"}, host="127.0.0.1")
    stored = json.loads(a.client("s3").get_object(Bucket="state", Key=records.key)["Body"].read())
    assert stored == {
        "stack": "shop", "step": "db", "engine": "mariadb", "host": "127.0.0.1", "base_dir": str(base.resolve()),
        "owner": {"host": socket.gethostname(), "home": str(a.home.resolve())},
        "state": {"port": 4000, "location": "mariadb/a.tar.zst"},
    }
    assert records.load() == made
    assert records.update(base, {"port": 4000, "keys": 15}, host="127.0.0.1").state == {"port": 4000, "keys": 15}
    assert records.load().state == {"port": 4000, "keys": 15}
    records.delete()
    assert records.load() is None


def test_the_owner_claims_its_record_while_the_server_dir_is_there(homes):
    a, _ = homes
    base = a.data_dir / "redis" / "shop-cache"
    base.mkdir(parents=True)
    records = ServerRecords(a, "shop", "cache", "redis")
    assert records.claim("restore") is None
    records.create(base, {"port": 4001}, host="127.0.0.1")
    assert records.claim("restore").state == {"port": 4001}


def test_a_record_of_this_worker_whose_dir_is_gone_is_stale_and_removed(homes):
    a, _ = homes
    records = ServerRecords(a, "shop", "cache", "redis")
    records.create(a.data_dir / "redis" / "shop-cache", {"port": 4001}, host="127.0.0.1")
    assert records.claim("destroy") is None
    assert records.load() is None


@pytest.mark.parametrize(("action", "kept"), [
    ("destroy", "The step's secret and its server record are kept."),
    ("restore", "No second server was started and the step's secret is unchanged."),
    ("deploy", "No second deployment was started."),
])
def test_another_worker_is_refused_naming_the_step_the_owner_and_the_fix(homes, action, kept):
    a, b = homes
    base = a.data_dir / "mariadb" / "shop-db"
    base.mkdir(parents=True)
    ServerRecords(a, "shop", "db", "mariadb").create(base, {"port": 4000}, host="127.0.0.1")
    with pytest.raises(ForeignServerError) as refused:
        ServerRecords(b, "shop", "db", "mariadb").claim(action)
    message = str(refused.value)
    assert message.startswith(f"shop/db: the mariadb server is owned by LOADSTACK_HOME={a.home.resolve()} on host ")
    assert f"not by this worker (LOADSTACK_HOME={b.home.resolve()} on host" in message
    assert f"refusing to {action} it here. {kept}" in message
    assert f"run the {action} on the owner's worker" in message and "s3://state/loadstack/servers/shop/db/mariadb.json" in message
    assert ServerRecords(a, "shop", "db", "mariadb").load() is not None  # untouched


def test_a_second_worker_never_records_a_server_over_the_first(homes):
    a, b = homes
    ServerRecords(a, "shop", "db", "mariadb").create(a.data_dir / "x", {"port": 4000}, host="127.0.0.1")
    with pytest.raises(ForeignServerError, match=f"owned by LOADSTACK_HOME={a.home.resolve()}"):
        ServerRecords(b, "shop", "db", "mariadb").create(b.data_dir / "x", {"port": 5000}, host="127.0.0.1")
    assert ServerRecords(a, "shop", "db", "mariadb").load().state == {"port": 4000}
