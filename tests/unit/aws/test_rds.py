"""loadstack.aws.rds against moto (in memory): restore from a snapshot, instances, credentials."""

from __future__ import annotations

import json

import boto3
import pytest

from loadstack.aws import SNAPSHOT_TAG
from loadstack.aws.rds import (
    RdsError,
    cluster_endpoint,
    cluster_instances,
    create_build_cluster,
    create_cluster_snapshot,
    ensure_instances,
    restore_cluster_from_snapshot,
)

REGION = "us-east-1"
ENGINE = "aurora-mysql"


def _cluster_count(rds) -> int:
    return len(rds.describe_db_clusters()["DBClusters"])


def test_restore_is_idempotent_and_tagged(rds, source_snapshot):
    snap = source_snapshot(rds)
    first = restore_cluster_from_snapshot(rds, "shop-db", snap, ENGINE, tags={"loadstack:stack": "shop"})
    assert first["DBClusterIdentifier"] == "shop-db"
    tags = {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=first["DBClusterArn"])["TagList"]}
    assert tags == {SNAPSHOT_TAG: snap, "loadstack:stack": "shop"}
    clusters = _cluster_count(rds)

    again = restore_cluster_from_snapshot(rds, "shop-db", snap, ENGINE)
    assert again["DBClusterArn"] == first["DBClusterArn"]
    assert _cluster_count(rds) == clusters


def test_restore_over_a_cluster_from_another_snapshot_names_both(rds, source_snapshot):
    source_snapshot(rds, "snap-a", "src-a")
    source_snapshot(rds, "snap-b", "src-b")
    restore_cluster_from_snapshot(rds, "shop-db", "snap-a", ENGINE)
    with pytest.raises(RdsError, match=r"shop-db already exists, restored from snapshot snap-a, not from the requested snapshot snap-b"):
        restore_cluster_from_snapshot(rds, "shop-db", "snap-b", ENGINE)


def test_restore_refuses_a_cluster_not_made_by_loadstack(rds, source_snapshot):
    snap = source_snapshot(rds)
    with pytest.raises(RdsError, match=rf"shop-src already exists but was not restored by loadstack .*{snap}"):
        restore_cluster_from_snapshot(rds, "shop-src", snap, ENGINE)


def test_restore_from_a_missing_snapshot(rds):
    with pytest.raises(RdsError, match="cluster snapshot nope not found"):
        restore_cluster_from_snapshot(rds, "shop-db", "nope", ENGINE)


def test_restore_passes_network_settings(rds, source_snapshot):
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{n}.0/24", AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
        for n, az in ((1, "a"), (2, "b"))
    ]
    sg = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    rds.create_db_subnet_group(DBSubnetGroupName="shop-db", DBSubnetGroupDescription="db", SubnetIds=subnets)
    snap = source_snapshot(rds)
    cluster = restore_cluster_from_snapshot(rds, "shop-db", snap, ENGINE, "shop-db", [sg], port=3307)
    assert cluster["DBSubnetGroup"] == "shop-db"
    assert [g["VpcSecurityGroupId"] for g in cluster["VpcSecurityGroups"]] == [sg]
    assert cluster["Port"] == 3307


def test_ensure_instances_minimal_then_production_shape(rds, source_snapshot):
    snap = source_snapshot(rds)
    restore_cluster_from_snapshot(rds, "shop-db", snap, ENGINE)

    assert ensure_instances(rds, "shop-db", 1, "db.t4g.medium") == ["shop-db-1"]
    assert ensure_instances(rds, "shop-db", 1, "db.t4g.medium") == ["shop-db-1"]  # rerun: nothing new
    assert len(cluster_instances(rds, "shop-db")) == 1

    with pytest.raises(RdsError, match="shop-db-1 of cluster shop-db is db.t4g.medium, not db.r6g.2xlarge"):
        ensure_instances(rds, "shop-db", 3, "db.r6g.2xlarge")

    restore_cluster_from_snapshot(rds, "big-db", snap, ENGINE)
    assert ensure_instances(rds, "big-db", 3, "db.r6g.2xlarge") == ["big-db-1", "big-db-2", "big-db-3"]
    members = rds.describe_db_clusters(DBClusterIdentifier="big-db")["DBClusters"][0]["DBClusterMembers"]
    assert sorted(m["DBInstanceIdentifier"] for m in members) == ["big-db-1", "big-db-2", "big-db-3"]
    assert {i["DBInstanceClass"] for i in cluster_instances(rds, "big-db")} == {"db.r6g.2xlarge"}


def test_ensure_instances_needs_the_cluster(rds):
    with pytest.raises(RdsError, match="DB cluster ghost does not exist"):
        ensure_instances(rds, "ghost", 1, "db.t4g.medium")


def test_cluster_endpoint_turns_on_the_managed_master_secret_once(rds, source_snapshot):
    snap = source_snapshot(rds)
    restore_cluster_from_snapshot(rds, "shop-db", snap, ENGINE)
    ensure_instances(rds, "shop-db", 1, "db.t4g.medium")
    rds.get_waiter("db_cluster_available").wait(DBClusterIdentifier="shop-db")

    endpoint = cluster_endpoint(rds, "shop-db")
    assert endpoint["host"].startswith("shop-db.cluster-") and endpoint["port"] == 3306
    assert endpoint["reader_host"].startswith("shop-db.cluster-ro-")
    assert endpoint["username"] == "admin" and endpoint["engine"] == ENGINE
    assert endpoint["secret_arn"].startswith("arn:aws:secretsmanager:")
    secret = json.loads(
        boto3.client("secretsmanager", region_name=REGION).get_secret_value(SecretId=endpoint["secret_arn"])["SecretString"]
    )
    assert set(secret) == {"username", "password"} and secret["username"] == "admin"

    # A second call must not ask RDS again (ModifyDBCluster would make a new secret on moto).
    assert cluster_endpoint(rds, "shop-db")["secret_arn"] == endpoint["secret_arn"]
    assert cluster_endpoint(rds, "shop-db", manage_secret=False)["secret_arn"] == endpoint["secret_arn"]


def test_cluster_endpoint_without_managed_secret(rds, source_snapshot):
    snap = source_snapshot(rds)
    restore_cluster_from_snapshot(rds, "shop-db", snap, ENGINE)
    assert cluster_endpoint(rds, "shop-db", manage_secret=False)["secret_arn"] is None


def test_create_cluster_snapshot_is_idempotent(rds, source_snapshot):
    snap = source_snapshot(rds, "unused", "shop-src")
    assert snap == "unused"
    first = create_cluster_snapshot(rds, "shop-src", "shop-2026-01")
    again = create_cluster_snapshot(rds, "shop-src", "shop-2026-01")
    assert first["DBClusterSnapshotArn"] == again["DBClusterSnapshotArn"]
    rds.create_db_cluster(DBClusterIdentifier="other", Engine=ENGINE, MasterUsername="admin", MasterUserPassword="password123")
    with pytest.raises(RdsError, match="shop-2026-01 already exists, taken of DB cluster shop-src, not of other"):
        create_cluster_snapshot(rds, "other", "shop-2026-01")
    restored = restore_cluster_from_snapshot(rds, "shop-db", "shop-2026-01", ENGINE)
    assert restored["Engine"] == ENGINE


def _build_cluster(rds, key="abc-123", **kwargs):
    return create_build_cluster(rds, "loadstack-build-x", key, engine=ENGINE, master_username="loadstack",
                                master_password="p" * 16, database="commerce", **kwargs)


def test_build_cluster_is_created_once_then_resumed(rds):
    from loadstack.aws.rds import BUILD_TAG

    cluster, created = _build_cluster(rds, subnet_group=None, cluster_parameter_group=None)
    assert created and cluster["DatabaseName"] == "commerce" and cluster["MasterUsername"] == "loadstack"
    again, created = _build_cluster(rds)
    assert not created and again["DBClusterIdentifier"] == "loadstack-build-x"
    assert {t["Key"]: t["Value"] for t in again["TagList"]}[BUILD_TAG] == "abc-123"
    assert _cluster_count(rds) == 1


def test_build_cluster_of_other_parameters_is_an_error_with_the_fix(rds):
    _build_cluster(rds)
    with pytest.raises(RdsError, match="already exists and is a build of abc-123, not of def-456: delete it "
                                       r"\(aws rds delete-db-cluster --db-cluster-identifier loadstack-build-x"):
        _build_cluster(rds, key="def-456")


def test_a_cluster_not_built_by_loadstack_is_not_taken_over(rds):
    rds.create_db_cluster(DBClusterIdentifier="loadstack-build-x", Engine=ENGINE, MasterUsername="admin",
                          MasterUserPassword="p" * 16)
    with pytest.raises(RdsError, match="is not a loadstack build cluster, not of abc-123"):
        _build_cluster(rds)
