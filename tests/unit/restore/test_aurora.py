"""AuroraRestore against moto: restore asks for the cluster wait, resume reads the endpoint, teardown deletes."""

from __future__ import annotations

import pytest

from loadstack.aws.rds import describe_cluster
from loadstack.kinds.aurora_restore import AuroraSize
from loadstack.kinds.placement import AuroraPlacement
from loadstack.restore.aurora import CLUSTER_AVAILABLE, AuroraRestore
from loadstack.snapshots.catalog import Catalog, CatalogEntry
from loadstack.waits import RDS_CLUSTER_AVAILABLE, Ready, UnexpectedPhase, Wait, WaitEvent, WaitFailed

SIZE = AuroraSize(instances=2, instance_class="db.r6g.large")


@pytest.fixture
def entry(aws_profile) -> CatalogEntry:
    rds = aws_profile.client("rds")
    rds.create_db_cluster(DBClusterIdentifier="src", Engine="aurora-mysql", MasterUsername="loadstack",
                          MasterUserPassword="p" * 16)
    rds.create_db_cluster_snapshot(DBClusterIdentifier="src", DBClusterSnapshotIdentifier="shop-seeded-1")
    entry = CatalogEntry(name="shop-seeded", engine="mariadb", kind="seeded", profile="aws", location="shop-seeded-1")
    Catalog(aws_profile).put(entry)
    return entry


def test_restore_creates_cluster_and_instances_then_asks_to_wait(aws_profile, entry):
    rds = aws_profile.client("rds")
    ec2 = aws_profile.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    rds.create_db_subnet_group(DBSubnetGroupName="db-subnets", DBSubnetGroupDescription="d", SubnetIds=[subnet])
    placement = AuroraPlacement(subnet_group="db-subnets", security_group_ids=["sg-1"])
    progress = AuroraRestore(aws_profile, "shop", "events_db").restore(entry, SIZE, placement)
    assert progress == Wait(kind=RDS_CLUSTER_AVAILABLE, args={"cluster_id": "shop-events-db"}, phase=CLUSTER_AVAILABLE)
    cluster = describe_cluster(rds, "shop-events-db")
    assert len(cluster["DBClusterMembers"]) == 2 and cluster["DBSubnetGroup"] == "db-subnets"
    assert [g["VpcSecurityGroupId"] for g in cluster["VpcSecurityGroups"]] == ["sg-1"]
    assert {t["Key"]: t["Value"] for t in cluster["TagList"]}["loadstack:step"] == "events_db"


def test_resume_after_the_wait_gives_the_outputs(aws_profile, entry):
    restore = AuroraRestore(aws_profile, "shop", "events_db")
    restore.restore(entry, SIZE, AuroraPlacement())
    progress = restore.resume("shop-seeded", WaitEvent(phase=CLUSTER_AVAILABLE, succeeded=True))
    assert isinstance(progress, Ready)
    outputs = progress.result
    assert outputs["database"] == "commerce" and outputs["snapshot_kind"] == "seeded" and outputs["port"]
    assert outputs["host"] == describe_cluster(aws_profile.client("rds"), "shop-events-db")["Endpoint"]
    assert outputs["secret_id"].startswith("arn:aws:secretsmanager:") and outputs["username"] == "loadstack"


def test_a_failed_wait_and_a_foreign_phase_are_errors(aws_profile):
    restore = AuroraRestore(aws_profile, "shop", "events_db")
    with pytest.raises(WaitFailed, match="^restoring shop-events-db: stuck$"):
        restore.resume("shop-seeded", WaitEvent(phase=CLUSTER_AVAILABLE, succeeded=False, message="stuck"))
    with pytest.raises(UnexpectedPhase, match="restoring shop-events-db: resumed at unknown phase 'build_cluster"):
        restore.resume("shop-seeded", WaitEvent(phase="build_cluster_ready", succeeded=True))


def test_teardown_deletes_the_cluster_and_says_so(aws_profile, entry):
    restore = AuroraRestore(aws_profile, "shop", "events_db")
    assert restore.teardown() == "nothing to remove"
    restore.restore(entry, SIZE, AuroraPlacement())
    assert restore.teardown() == "deleting DB cluster shop-events-db and its instances"
    gone = describe_cluster(aws_profile.client("rds"), "shop-events-db")
    assert gone is None or gone["Status"] == "deleting"
