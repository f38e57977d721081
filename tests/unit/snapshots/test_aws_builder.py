"""AwsSnapshotBuilder against moto: the database build's waits and phases, its leftover and clean-up.

The phases that need the build cluster's SQL endpoint (migrate, seed, verify) run in
tests/integration/snapshots/test_aws_path_on_moto_server.py, where a MariaDB stands in for it.
"""

from __future__ import annotations

from unittest import mock

import pytest

from loadstack.aws.rds import describe_cluster
from loadstack.profiles import Profile
from loadstack.snapshots import aws_builder
from loadstack.snapshots.aws_builder import BUILD_CLUSTER_READY, CLUSTER_SNAPSHOT_READY, AwsSnapshotBuilder
from loadstack.snapshots.build_aws import build_cluster_id
from loadstack.snapshots.catalog import CatalogEntry, SnapshotDefinition
from loadstack.waits import (
    RDS_CLUSTER_AVAILABLE,
    RDS_CLUSTER_SNAPSHOT_AVAILABLE,
    Ready,
    UnexpectedPhase,
    Wait,
    WaitEvent,
    WaitFailed,
)

MIGRATED = SnapshotDefinition(engine="mariadb", kind="migrated")
CACHE = SnapshotDefinition(engine="redis", kind="rdb", seed={"seed": 1, "sessions": 4, "carts": 2})


@pytest.fixture
def aws_profile(tmp_path, monkeypatch) -> Profile:
    from moto import mock_aws  # moto is a test-only dependency

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        profile = Profile(name="aws", region="us-east-1", state_bucket="state", home=tmp_path,
                          terraform_bin="terraform", plugin_mirror=tmp_path, snapshot_bucket="snapshots")
        profile.client("s3").create_bucket(Bucket="snapshots")
        yield profile


def test_a_database_build_starts_the_build_cluster_and_asks_to_wait_for_it(aws_profile):
    progress = AwsSnapshotBuilder(aws_profile).build("shop-migrated", MIGRATED)
    cluster_id = build_cluster_id("shop-migrated")
    assert progress == Wait(kind=RDS_CLUSTER_AVAILABLE, args={"cluster_id": cluster_id}, phase=BUILD_CLUSTER_READY)
    assert describe_cluster(aws_profile.client("rds"), cluster_id)["Status"] == "available"


def test_after_the_cluster_it_waits_for_the_snapshot_then_catalogues(aws_profile, monkeypatch):
    monkeypatch.setattr(aws_builder, "load_and_snapshot", mock.Mock(return_value="snap-1"))
    entry = CatalogEntry(name="shop-migrated", engine="mariadb", kind="migrated", profile="aws", location="snap-1")
    finish = mock.Mock(return_value=entry)
    monkeypatch.setattr(aws_builder, "finish_aurora_build", finish)
    builder = AwsSnapshotBuilder(aws_profile)
    progress = builder.resume("shop-migrated", MIGRATED, WaitEvent(phase=BUILD_CLUSTER_READY, succeeded=True))
    assert progress == Wait(kind=RDS_CLUSTER_SNAPSHOT_AVAILABLE, args={"snapshot_id": "snap-1"},
                            phase=CLUSTER_SNAPSHOT_READY)
    done = builder.resume("shop-migrated", MIGRATED, WaitEvent(phase=CLUSTER_SNAPSHOT_READY, succeeded=True,
                                                               values={"snapshot_id": "snap-1"}))
    assert done == Ready({"snapshot": "shop-migrated", "location": "snap-1", "built": True})
    assert finish.call_args.args[1:4] == ("shop-migrated", MIGRATED, "snap-1")


@pytest.mark.parametrize(("phase", "message"), [
    (BUILD_CLUSTER_READY, "building shop-migrated in loadstack-build-shop-migrated: stuck"),
    (CLUSTER_SNAPSHOT_READY, "snapshotting shop-migrated: stuck"),
])
def test_a_failed_wait_names_what_was_waited_for(aws_profile, phase, message):
    with pytest.raises(WaitFailed, match=f"^{message}$"):
        AwsSnapshotBuilder(aws_profile).resume("shop-migrated", MIGRATED,
                                               WaitEvent(phase=phase, succeeded=False, message="stuck"))


def test_an_unknown_phase_is_refused(aws_profile):
    with pytest.raises(UnexpectedPhase, match="expected one of: build_cluster_ready, cluster_snapshot_ready"):
        AwsSnapshotBuilder(aws_profile).resume("shop-migrated", MIGRATED, WaitEvent(phase="", succeeded=True))


def test_the_build_cluster_is_the_leftover_and_clean_up_deletes_it(aws_profile):
    builder = AwsSnapshotBuilder(aws_profile)
    cluster_id = build_cluster_id("shop-migrated")
    assert builder.leftover("shop-migrated", MIGRATED) == f"build cluster {cluster_id}"
    assert builder.clean_up("shop-migrated", MIGRATED) is None  # nothing built yet
    builder.build("shop-migrated", MIGRATED)
    assert builder.clean_up("shop-migrated", MIGRATED) == f"build cluster {cluster_id}"
    gone = describe_cluster(aws_profile.client("rds"), cluster_id)
    assert gone is None or gone["Status"] == "deleting"


def test_a_cache_builds_its_rdb_in_the_task_and_leaves_nothing(aws_profile, monkeypatch):
    entry = CatalogEntry(name="shop-cache", engine="redis", kind="rdb", profile="aws",
                         location="redis/shop-cache/a.rdb")
    build = mock.Mock(return_value=entry)
    monkeypatch.setattr(aws_builder, "build_redis_snapshot", build)
    builder = AwsSnapshotBuilder(aws_profile)
    assert builder.build("shop-cache", CACHE) == Ready({"snapshot": "shop-cache", "location": entry.location,
                                                        "built": True})
    assert builder.leftover("shop-cache", CACHE) is None and builder.clean_up("shop-cache", CACHE) is None
