"""ElastiCacheRestore against moto: a group seeded from the RDB in S3, the wait, the endpoint, the S3 hint."""

from __future__ import annotations

import pytest

from loadstack.aws.elasticache import describe_replication_group
from loadstack.kinds.placement import CachePlacement
from loadstack.kinds.redis_restore import RedisSize
from loadstack.restore.elasticache import GROUP_AVAILABLE, ElastiCacheRestore
from loadstack.snapshots.catalog import Catalog, CatalogEntry
from loadstack.waits import ELASTICACHE_GROUP_AVAILABLE, Ready, Wait, WaitEvent, WaitFailed

SIZE = RedisSize(node_type="cache.t4g.small", replicas=1)


@pytest.fixture
def entry(aws_profile) -> CatalogEntry:
    entry = CatalogEntry(name="shop-cache", engine="redis", kind="rdb", profile="aws",
                         location="redis/shop-cache/a.rdb")
    Catalog(aws_profile).put(entry)
    return entry


def test_restore_seeds_the_group_from_the_rdb_in_s3_then_asks_to_wait(aws_profile, entry):
    progress = ElastiCacheRestore(aws_profile, "shop", "cache").restore(entry, SIZE, CachePlacement())
    assert progress == Wait(kind=ELASTICACHE_GROUP_AVAILABLE, args={"group_id": "shop-cache"}, phase=GROUP_AVAILABLE)
    client = aws_profile.client("elasticache")
    group = describe_replication_group(client, "shop-cache")
    tags = {t["Key"]: t["Value"] for t in client.list_tags_for_resource(ResourceName=group["ARN"])["TagList"]}
    assert tags["loadstack:snapshot"] == "arn:aws:s3:::snapshots/redis/shop-cache/a.rdb"


def test_resume_gives_the_endpoint(aws_profile, entry):
    restore = ElastiCacheRestore(aws_profile, "shop", "cache")
    restore.restore(entry, SIZE, CachePlacement())
    progress = restore.resume("shop-cache", WaitEvent(phase=GROUP_AVAILABLE, succeeded=True))
    assert isinstance(progress, Ready)
    assert progress.result["engine"] == "redis" and progress.result["host"] and progress.result["port"]
    assert progress.result["snapshot"] == "shop-cache" and progress.result["secret_id"] is None


def test_a_failure_seeded_from_s3_says_what_the_bucket_must_allow(aws_profile, entry):
    with pytest.raises(WaitFailed, match=r"^restoring shop-cache: create-failed \(seeding from "
                                         r"s3://snapshots/redis/shop-cache/a\.rdb needs that bucket"):
        ElastiCacheRestore(aws_profile, "shop", "cache").resume(
            "shop-cache", WaitEvent(phase=GROUP_AVAILABLE, succeeded=False, message="create-failed"))


def test_a_failure_from_an_elasticache_snapshot_has_no_s3_hint(aws_profile):
    Catalog(aws_profile).put(CatalogEntry(name="by-hand", engine="redis", kind="rdb", profile="aws",
                                          location="my-elasticache-snapshot"))
    with pytest.raises(WaitFailed, match="^restoring shop-cache: create-failed$"):
        ElastiCacheRestore(aws_profile, "shop", "cache").resume(
            "by-hand", WaitEvent(phase=GROUP_AVAILABLE, succeeded=False, message="create-failed"))


def test_teardown_deletes_the_group(aws_profile, entry):
    restore = ElastiCacheRestore(aws_profile, "shop", "cache")
    assert restore.teardown() == "nothing to remove"
    restore.restore(entry, SIZE, CachePlacement())
    assert restore.teardown() == "deleting replication group shop-cache"
