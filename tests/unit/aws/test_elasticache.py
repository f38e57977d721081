"""loadstack.aws.elasticache against moto (in memory), as far as moto 5.2.5 models ElastiCache.

moto creates a replication group `available` at once, keeps its tags and endpoints, and checks
nothing about the snapshot it is seeded from. It creates one member cluster whatever
NumCacheClusters says (xfail below), so the shape of a group cannot be tested here.
"""

from __future__ import annotations

import pytest

from loadstack.aws import SNAPSHOT_TAG
from loadstack.aws.elasticache import (
    ElastiCacheError,
    create_replication_group_from_snapshot,
    rdb_s3_arn,
    replication_group_endpoint,
)


@pytest.fixture
def cache_snapshot(elasticache):
    """An ElastiCache snapshot named `shop-cache-snap` (of a single-node cluster)."""
    elasticache.create_cache_cluster(CacheClusterId="seed", Engine="redis", CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    elasticache.create_snapshot(CacheClusterId="seed", SnapshotName="shop-cache-snap")
    return "shop-cache-snap"


def _tags(client, group) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in client.list_tags_for_resource(ResourceName=group["ARN"])["TagList"]}


def test_create_from_snapshot_is_idempotent(elasticache, cache_snapshot):
    group = create_replication_group_from_snapshot(
        elasticache, "shop-cache", cache_snapshot, "cache.t4g.small", 1, tags={"loadstack:stack": "shop"}
    )
    assert group["ReplicationGroupId"] == "shop-cache"
    assert _tags(elasticache, group) == {SNAPSHOT_TAG: cache_snapshot, "loadstack:stack": "shop"}
    again = create_replication_group_from_snapshot(elasticache, "shop-cache", cache_snapshot, "cache.t4g.small", 1)
    assert again["ARN"] == group["ARN"]
    assert len(elasticache.describe_replication_groups()["ReplicationGroups"]) == 1


def test_group_from_another_snapshot_names_both(elasticache, cache_snapshot):
    elasticache.create_snapshot(CacheClusterId="seed", SnapshotName="other-snap")
    create_replication_group_from_snapshot(elasticache, "shop-cache", cache_snapshot, "cache.t4g.small", 1)
    with pytest.raises(ElastiCacheError, match="shop-cache already exists, seeded from shop-cache-snap, not from the requested other-snap"):
        create_replication_group_from_snapshot(elasticache, "shop-cache", "other-snap", "cache.t4g.small", 1)


def test_group_not_made_by_loadstack_is_refused(elasticache, cache_snapshot):
    elasticache.create_replication_group(
        ReplicationGroupId="hand-made", ReplicationGroupDescription="x", Engine="redis", CacheNodeType="cache.t4g.micro", NumCacheClusters=1
    )
    with pytest.raises(ElastiCacheError, match="hand-made already exists but was not created by loadstack"):
        create_replication_group_from_snapshot(elasticache, "hand-made", cache_snapshot, "cache.t4g.small", 1)


def test_missing_snapshot_is_an_error_before_create(elasticache):
    # moto itself would accept an unknown SnapshotName: the check is ours.
    with pytest.raises(ElastiCacheError, match="ElastiCache snapshot nope not found"):
        create_replication_group_from_snapshot(elasticache, "shop-cache", "nope", "cache.t4g.small", 1)
    assert elasticache.describe_replication_groups()["ReplicationGroups"] == []


def test_seed_from_rdb_in_s3_is_tagged_with_the_arn(elasticache):
    arn = rdb_s3_arn("loadstack-snapshots", "redis/shop.rdb")
    assert arn == "arn:aws:s3:::loadstack-snapshots/redis/shop.rdb"
    group = create_replication_group_from_snapshot(
        elasticache, "shop-cache", None, "cache.t4g.small", 1, rdb_s3_arns=[arn], auth_token="a-long-enough-token-1234"
    )
    assert _tags(elasticache, group)[SNAPSHOT_TAG] == arn
    assert group["AuthTokenEnabled"] is True and group["TransitEncryptionEnabled"] is True
    with pytest.raises(ValueError, match="exactly one of snapshot_name and rdb_s3_arns"):
        create_replication_group_from_snapshot(elasticache, "x", "snap", "cache.t4g.small", 1, rdb_s3_arns=[arn])


def test_endpoint(elasticache, cache_snapshot):
    create_replication_group_from_snapshot(elasticache, "shop-cache", cache_snapshot, "cache.t4g.small", 1)
    endpoint = replication_group_endpoint(elasticache, "shop-cache")
    assert endpoint["host"].startswith("master.shop-cache.") and endpoint["port"] == 6379
    assert endpoint["cluster_mode"] is False and endpoint["tls"] is False
    with pytest.raises(ElastiCacheError, match="replication group ghost does not exist"):
        replication_group_endpoint(elasticache, "ghost")


@pytest.mark.xfail(strict=True, reason="moto 5.2.5 creates one member cluster whatever NumCacheClusters says")
def test_group_has_one_member_per_cache_cluster(elasticache, cache_snapshot):
    group = create_replication_group_from_snapshot(elasticache, "shop-cache", cache_snapshot, "cache.r7g.large", 3)
    assert len(group["MemberClusters"]) == 3


@pytest.mark.xfail(strict=True, reason="moto 5.2.5 does not register a group's member clusters for DescribeCacheClusters")
def test_member_clusters_are_described(elasticache, cache_snapshot):
    group = create_replication_group_from_snapshot(elasticache, "shop-cache", cache_snapshot, "cache.t4g.small", 1)
    elasticache.describe_cache_clusters(CacheClusterId=group["MemberClusters"][0])
