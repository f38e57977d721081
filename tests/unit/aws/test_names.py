"""RDS and ElastiCache identifiers stay within AWS's rules for every name a spec allows."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from loadstack.aws import resource_identifier
from loadstack.aws.names import aurora_cluster_id, cache_group_id
from loadstack.snapshots.build_aws import build_cluster_id, cluster_snapshot_id

# RDS (cluster, instance, cluster snapshot) and ElastiCache (replication group) identifier rules.
AWS_ID = re.compile(r"^[a-z](?!.*--)[a-z0-9-]*(?<!-)$")
LONGEST_SNAPSHOT_NAME = "s" + "-x" * 31  # 63 characters, the longest SNAPSHOT_NAME_PATTERN allows


def valid(identifier: str, limit: int) -> bool:
    return bool(AWS_ID.match(identifier)) and len(identifier) <= limit


@pytest.mark.parametrize("text", ["shop-events-db", "a-b", "q"])
def test_a_valid_identifier_is_kept_as_it_is(text):
    assert resource_identifier(text, 60) == text


@pytest.mark.parametrize("text", ["a--b", "a-b-", "Shop-DB", "9lives", "x" * 80, "a_b", "-a"])
def test_anything_else_is_cleaned_cut_and_hashed(text):
    identifier = resource_identifier(text, 40)
    assert valid(identifier, 40) and identifier != text


def test_texts_that_clean_to_the_same_identifier_stay_apart():
    assert resource_identifier("a--b", 60) != resource_identifier("a-b", 60)
    assert resource_identifier("p" * 70 + "1", 60) != resource_identifier("p" * 70 + "2", 60)


def test_build_cluster_and_its_instance_fit_for_the_longest_snapshot_name():
    cluster_id = build_cluster_id(LONGEST_SNAPSHOT_NAME)
    assert valid(cluster_id, 60) and valid(f"{cluster_id}-1", 63)
    assert build_cluster_id("shop-seeded") == "loadstack-build-shop-seeded"


@pytest.mark.parametrize("name", ["shop-seeded", LONGEST_SNAPSHOT_NAME, "shop--seeded", "shop-seeded-large-x"])
def test_cluster_snapshot_ids_fit(name):
    cluster = {"ClusterCreateTime": datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc),
               "TagList": [{"Key": "loadstack:build", "Value": "0123456789ab-fedcba9876543210"}]}
    snapshot_id = cluster_snapshot_id(name, cluster)
    assert valid(snapshot_id, 63) and snapshot_id.endswith("-20261122120000")
    assert cluster_snapshot_id(name, cluster) == snapshot_id  # a retry finds the same snapshot


def test_restore_ids_fit_long_stack_and_step_names():
    stack, step = "a_very_long_stack_name_for_testing_limits", "events_database_primary"
    assert valid(aurora_cluster_id(stack, step), 60) and valid(f"{aurora_cluster_id(stack, step)}-3", 63)
    assert valid(cache_group_id(stack, step), 40)
    assert aurora_cluster_id("shop", "events_db") == "shop-events-db" and cache_group_id("shop", "cache") == "shop-cache"
