"""The aws path of the restore operators, against moto: restore, defer to the trigger, complete, tear down."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadstack.profiles import Profile

REGION = "us-east-1"

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"


@pytest.fixture
def aws_profile(tmp_path, mocked_aws, monkeypatch) -> Profile:
    # The aws profile takes credentials from the Airflow connection; moto needs only static ones.
    monkeypatch.setattr(Profile, "aws_credentials", lambda self: {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    profile = Profile(name="aws", region=REGION, state_bucket="state", home=tmp_path, terraform_bin="terraform",
                      plugin_mirror=tmp_path, snapshot_bucket="snapshots", aws_conn_id="aws_default")
    profile.client("s3").create_bucket(Bucket="snapshots")
    profile.client("s3").create_bucket(Bucket="state")
    return profile


def catalogue(profile, location: str) -> None:
    from loadstack.data.migrate import schema_hash
    from loadstack.snapshots.catalog import Catalog, CatalogEntry, load_definitions

    definition = load_definitions(FIXTURES / "snapshots")["fx-seeded"]
    Catalog(profile).put(CatalogEntry(name="fx-seeded", engine="mariadb", kind="seeded", profile="aws",
                                      location=location, schema_hash=schema_hash(), params_hash=definition.params_hash()))


def restore_operator(profile):
    from loadstack.airflow.operators.aurora import AuroraRestoreOperator

    op = AuroraRestoreOperator(
        task_id="restore", stack="shop", step="events_db", variant="production", snapshot="fx-seeded",
        snapshots_dir=str(FIXTURES / "snapshots"),
        sizes={"minimal": {"instances": 1, "instance_class": "db.t4g.medium"},
               "production": {"instances": 2, "instance_class": "db.r6g.large"}},
        placement={}, output_sources={},
    )
    op.__dict__["profile"] = profile
    return op


def test_restore_defers_to_the_cluster_trigger_then_completes(aws_profile, source_snapshot):
    from airflow.sdk.exceptions import TaskDeferred

    from loadstack.airflow.operators.snapshot_restore import RESTORE_TIMEOUT
    from loadstack.airflow.triggers.aws import RdsClusterAvailableTrigger

    rds = aws_profile.client("rds")
    catalogue(aws_profile, source_snapshot(rds))
    op = restore_operator(aws_profile)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context={})
    trigger = deferred.value.trigger
    assert isinstance(trigger, RdsClusterAvailableTrigger)
    assert deferred.value.method_name == "execute_complete" and deferred.value.timeout == RESTORE_TIMEOUT
    classpath, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs and kwargs["cluster_id"] == "shop-events-db"
    assert kwargs["resume_at"] == "cluster_available"
    members = rds.describe_db_clusters(DBClusterIdentifier="shop-events-db")["DBClusters"][0]["DBClusterMembers"]
    assert len(members) == 2  # production: two instances

    outputs = op.execute_complete(context={}, event={"status": "success", "cluster_id": "shop-events-db",
                                                            "resume_at": "cluster_available"})
    assert outputs["snapshot_kind"] == "seeded"
    assert outputs["port"] and outputs["host"] and outputs["database"] == "commerce"
    assert outputs["secret_id"].startswith("arn:aws:secretsmanager:")
    assert "password" not in json.dumps(outputs)

    # A rerun finds the cluster restored from the same snapshot and reuses it.
    with pytest.raises(TaskDeferred):
        restore_operator(aws_profile).execute(context={})


def test_failed_wait_fails_the_task(aws_profile):
    op = restore_operator(aws_profile)
    with pytest.raises(RuntimeError, match="restoring shop-events-db: stuck"):
        op.execute_complete(context={}, event={"status": "error", "message": "stuck", "resume_at": "cluster_available"})


def test_restore_refuses_a_snapshot_that_is_not_catalogued(aws_profile):
    from loadstack.snapshots.current import SnapshotNotReady

    with pytest.raises(SnapshotNotReady, match="'fx-seeded' is not built for the aws profile: trigger the loadstack_snapshots DAG"):
        restore_operator(aws_profile).execute(context={})


def test_teardown_deletes_the_cluster(aws_profile, source_snapshot):
    from airflow.sdk.exceptions import TaskDeferred

    from loadstack.airflow.operators.aurora import AuroraTeardownOperator
    from loadstack.aws.rds import describe_cluster

    rds = aws_profile.client("rds")
    catalogue(aws_profile, source_snapshot(rds))
    with pytest.raises(TaskDeferred):
        restore_operator(aws_profile).execute(context={})
    teardown = AuroraTeardownOperator(task_id="destroy", stack="shop", step="events_db", variant="minimal")
    teardown.__dict__["profile"] = aws_profile
    teardown.execute(context={})
    cluster = describe_cluster(rds, "shop-events-db")
    assert cluster is None or cluster["Status"] == "deleting"
