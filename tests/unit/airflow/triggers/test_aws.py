"""loadstack.airflow.triggers.aws: serialization, and run() to completion against moto."""

from __future__ import annotations

import asyncio
import importlib
import json

import boto3
import pytest

from loadstack.airflow.triggers import aws as triggers_aws
from loadstack.airflow.triggers.aws import (
    ElastiCacheReplicationGroupAvailableTrigger,
    RdsClusterAvailableTrigger,
    RdsClusterSnapshotAvailableTrigger,
)
from loadstack.aws.elasticache import create_replication_group_from_snapshot
from loadstack.aws.rds import ensure_instances, restore_cluster_from_snapshot

REGION = "us-east-1"
ENGINE = "aurora-mysql"


def _round_trip(trigger):
    classpath, kwargs = trigger.serialize()
    json.dumps(kwargs)  # JSON primitives only: the triggerer stores them in the metadata DB
    module, name = classpath.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    assert cls is type(trigger)
    again = cls(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    return kwargs


def test_rds_trigger_serializes():
    trigger = RdsClusterAvailableTrigger(
        "shop-db", region_name="eu-west-1", aws_conn_id=None, endpoint_url="http://127.0.0.1:5055", waiter_delay=5, waiter_max_attempts=7
    )
    assert trigger.serialize()[0] == "loadstack.airflow.triggers.aws.RdsClusterAvailableTrigger"
    assert _round_trip(trigger) == {
        "cluster_id": "shop-db",
        "endpoint_url": "http://127.0.0.1:5055",
        "resume_at": None,
        "region_name": "eu-west-1",
        "aws_conn_id": None,
        "waiter_delay": 5,
        "waiter_max_attempts": 7,
    }
    assert [p.waiter_name for p in trigger.phases()] == ["db_cluster_available", "db_instance_available"]


def test_elasticache_trigger_serializes():
    trigger = ElastiCacheReplicationGroupAvailableTrigger("shop-cache", aws_conn_id="aws_default", botocore_config={"retries": {"max_attempts": 2}})
    kwargs = _round_trip(trigger)
    assert kwargs["group_id"] == "shop-cache" and kwargs["endpoint_url"] is None
    assert kwargs["botocore_config"] == {"retries": {"max_attempts": 2}} and "region_name" not in kwargs


def test_cluster_snapshot_trigger_serializes():
    trigger = RdsClusterSnapshotAvailableTrigger("shop-seeded-abc", region_name=REGION, aws_conn_id=None, waiter_delay=5)
    kwargs = _round_trip(trigger)
    assert kwargs["snapshot_id"] == "shop-seeded-abc" and kwargs["waiter_delay"] == 5
    assert [p.waiter_name for p in trigger.phases()] == ["db_cluster_snapshot_available"]


def test_endpoint_url_reaches_the_hook(aws_env):
    trigger = RdsClusterAvailableTrigger("shop-db", region_name=REGION, aws_conn_id=None, endpoint_url="http://127.0.0.1:1")
    assert trigger.hook().conn.meta.endpoint_url == "http://127.0.0.1:1"
    assert RdsClusterAvailableTrigger("x", region_name=REGION, aws_conn_id=None).hook().conn.meta.endpoint_url.startswith("https://rds.")


def _events(trigger) -> list[dict]:
    async def collect():
        return [event.payload async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), 60))


def _restored_cluster(rds, cluster_id="shop-db", instances=1) -> str:
    rds.create_db_cluster(DBClusterIdentifier="src", Engine=ENGINE, MasterUsername="admin", MasterUserPassword="password123")
    rds.create_db_cluster_snapshot(DBClusterIdentifier="src", DBClusterSnapshotIdentifier="snap")
    restore_cluster_from_snapshot(rds, cluster_id, "snap", ENGINE)
    if instances:
        ensure_instances(rds, cluster_id, instances, "db.t4g.medium")
    return cluster_id


@pytest.fixture
def threaded(monkeypatch):
    """moto's in-memory mock patches botocore's sync HTTP path only: run waiters in threads."""
    monkeypatch.setattr(triggers_aws, "aiobotocore_available", lambda: False)


def test_rds_trigger_run_succeeds_in_memory(rds, threaded):
    _restored_cluster(rds, instances=2)
    trigger = RdsClusterAvailableTrigger("shop-db", region_name=REGION, aws_conn_id=None, waiter_delay=0, waiter_max_attempts=5)
    assert _events(trigger) == [{"status": "success", "cluster_id": "shop-db"}]


def test_rds_trigger_reports_an_unknown_cluster(rds, threaded):
    trigger = RdsClusterAvailableTrigger("ghost", region_name=REGION, aws_conn_id=None, waiter_delay=0, waiter_max_attempts=3)
    [event] = _events(trigger)
    assert event["status"] == "error" and event["cluster_id"] == "ghost"
    assert "DBClusterNotFoundFault" in event["message"]


def test_rds_trigger_waits_for_instances_within_its_budget(rds, threaded):
    _restored_cluster(rds, instances=0)
    trigger = RdsClusterAvailableTrigger("shop-db", region_name=REGION, aws_conn_id=None, waiter_delay=0, waiter_max_attempts=3)
    [event] = _events(trigger)
    assert event["status"] == "error" and "max attempts" in event["message"]


def test_elasticache_trigger_run_succeeds_in_memory(elasticache, threaded):
    elasticache.create_cache_cluster(CacheClusterId="seed", Engine="redis", CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    elasticache.create_snapshot(CacheClusterId="seed", SnapshotName="snap")
    create_replication_group_from_snapshot(elasticache, "shop-cache", "snap", "cache.t4g.small", 1)
    trigger = ElastiCacheReplicationGroupAvailableTrigger("shop-cache", region_name=REGION, aws_conn_id=None, waiter_delay=0, waiter_max_attempts=3)
    assert _events(trigger) == [{"status": "success", "group_id": "shop-cache"}]


@pytest.mark.integration
def test_rds_trigger_runs_to_completion_against_a_moto_server(moto_server, aws_env):
    """The whole path a deferred task takes: restore over HTTP, then the trigger polls the server.

    Uses aiobotocore's async client when it is installed, worker threads otherwise.
    """
    rds = boto3.client("rds", region_name=REGION, endpoint_url=moto_server)
    cluster_id = _restored_cluster(rds, cluster_id="trigger-db", instances=1)
    trigger = RdsClusterAvailableTrigger(
        cluster_id, region_name=REGION, aws_conn_id=None, endpoint_url=moto_server, waiter_delay=1, waiter_max_attempts=10
    )
    _, kwargs = trigger.serialize()
    assert _events(RdsClusterAvailableTrigger(**kwargs)) == [{"status": "success", "cluster_id": cluster_id}]


def test_resume_at_is_serialized_and_echoed_in_success_and_error_events(rds, threaded):
    """The phase to resume at rides in the trigger's own kwargs: dag.test() drops the ones given to defer()."""
    _restored_cluster(rds, instances=1)
    trigger = RdsClusterAvailableTrigger("shop-db", region_name=REGION, aws_conn_id=None, resume_at="cluster_available",
                                         waiter_delay=0, waiter_max_attempts=5)
    kwargs = _round_trip(trigger)
    assert kwargs["resume_at"] == "cluster_available"
    assert _events(RdsClusterAvailableTrigger(**kwargs)) == [
        {"status": "success", "cluster_id": "shop-db", "resume_at": "cluster_available"}
    ]
    ghost = RdsClusterSnapshotAvailableTrigger("ghost-snap", region_name=REGION, aws_conn_id=None,
                                               resume_at="cluster_snapshot_ready", waiter_delay=0, waiter_max_attempts=2)
    [event] = _events(ghost)
    assert event["status"] == "error" and event["resume_at"] == "cluster_snapshot_ready"
    assert event["snapshot_id"] == "ghost-snap"


def test_every_trigger_round_trips_resume_at():
    for trigger in (
        ElastiCacheReplicationGroupAvailableTrigger("shop-cache", aws_conn_id=None, resume_at="group_available"),
        RdsClusterSnapshotAvailableTrigger("snap", aws_conn_id=None, resume_at="cluster_snapshot_ready"),
    ):
        assert _round_trip(trigger)["resume_at"] == trigger.resume_at
