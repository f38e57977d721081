"""Shared unit-test fixtures for AWS: moto in memory (the moto server fixture is in tests/conftest.py)."""

from __future__ import annotations

import pytest

REGION = "us-east-1"
ENGINE = "aurora-mysql"


@pytest.fixture
def aws_env(monkeypatch):
    """Static moto credentials for boto3's default chain (hooks with aws_conn_id=None use it)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def mocked_aws(aws_env):
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def rds(mocked_aws):
    import boto3

    return boto3.client("rds", region_name=REGION)


@pytest.fixture
def elasticache(mocked_aws):
    import boto3

    return boto3.client("elasticache", region_name=REGION)


def make_source_snapshot(rds, snapshot_id: str = "shop-snap", source_cluster: str = "shop-src") -> str:
    """A source Aurora cluster and a manual cluster snapshot of it (what the snapshot DAG makes)."""
    rds.create_db_cluster(
        DBClusterIdentifier=source_cluster,
        Engine=ENGINE,
        MasterUsername="admin",
        MasterUserPassword="not-a-real-password",
    )
    rds.create_db_cluster_snapshot(DBClusterIdentifier=source_cluster, DBClusterSnapshotIdentifier=snapshot_id)
    return snapshot_id


@pytest.fixture
def source_snapshot():
    """`source_snapshot(rds, snapshot_id, source_cluster)` -> snapshot id (see make_source_snapshot)."""
    return make_source_snapshot
