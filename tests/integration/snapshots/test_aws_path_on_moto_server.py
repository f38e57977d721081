"""The aws profile's data tier over HTTP against a moto server: build snapshots, restore from them.

Every RDS, ElastiCache, S3 and Secrets Manager call goes to the moto server, and every wait runs
through the real trigger polling it. moto's Aurora has no database engine behind its endpoint, so
one thing stands in: the build cluster's SQL endpoint is a private MariaDB on 127.0.0.1
(`build_connection` is the seam), which receives the real migrations and seeding.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from loadstack.profiles import AuroraBuildSettings, Profile

pytestmark = pytest.mark.integration

SEEDED = {"seed": 3, "accounts": 3, "products_per_account": 3, "profiles": 60, "orders": 20, "events": 900,
          "start": "2026-01-01", "days": 5, "shards": 2}


@pytest.fixture
def aws_profile(moto_server, tmp_path, monkeypatch) -> Profile:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)  # the triggers' hooks (aws_conn_id=None) use boto3's default chain
    monkeypatch.setattr(Profile, "aws_credentials", lambda self: {"AWS_ACCESS_KEY_ID": "testing",
                                                                 "AWS_SECRET_ACCESS_KEY": "testing"})
    profile = Profile(name="aws", region="us-east-1", state_bucket=f"state-{secrets.token_hex(4)}", home=tmp_path,
                      terraform_bin="terraform", plugin_mirror=tmp_path,
                      snapshot_bucket=f"snapshots-{secrets.token_hex(4)}", endpoint_url=moto_server, aws_conn_id=None,
                      aurora_build=AuroraBuildSettings(instance_class="db.t4g.medium"))
    profile.client("s3").create_bucket(Bucket=profile.snapshot_bucket)
    profile.client("s3").create_bucket(Bucket=profile.state_bucket)
    return profile


@pytest.fixture
def names() -> SimpleNamespace:
    """Names unique to the test: the moto server (and its clusters) live for the whole session."""
    token = secrets.token_hex(3)
    return SimpleNamespace(seeded=f"aws-seeded-{token}", cache=f"aws-cache-{token}", stack=f"st{token}")


@pytest.fixture
def snapshots_dir(tmp_path, names) -> Path:
    directory = tmp_path / "snapshots"
    directory.mkdir()
    (directory / "aws.yaml").write_text(yaml.safe_dump({"snapshots": {
        names.seeded: {"engine": "mariadb", "kind": "seeded", "seed": SEEDED},
        names.cache: {"engine": "redis", "kind": "rdb", "seed": {"seed": 1, "sessions": 40, "carts": 10}},
    }}))
    return directory


@pytest.fixture
def sql_endpoint(tmp_path, monkeypatch):
    """The build cluster's data plane: a private MariaDB with the `commerce` database RDS would create."""
    from loadstack.data.mariadb import MariaDBServer
    from loadstack.snapshots import build_aws
    from loadstack.snapshots.names import SNAPSHOT_DATABASE
    from loadstack.supervisor import free_port

    server = MariaDBServer(base_dir=tmp_path / "db", port=free_port(), root_password=secrets.token_urlsafe(16))
    try:
        server.initialize()
        server.start()
        server.wait_ready(60)
        server.set_root_password()
        server.create_database(SNAPSHOT_DATABASE)
        reached = []

        def connection(endpoint, password):
            reached.append((endpoint["host"], endpoint["port"], endpoint["username"], bool(password)))
            return server.connection_params(SNAPSHOT_DATABASE)

        monkeypatch.setattr(build_aws, "build_connection", connection)
        yield SimpleNamespace(params=server.connection_params(SNAPSHOT_DATABASE), reached=reached)
    finally:
        server.remove()


def context(try_number: int = 1, max_tries: int = 1) -> dict:
    # outlet_events: where a build says what its snapshot's Asset event carries (Airflow's accessor, by Asset).
    return {"ti": SimpleNamespace(try_number=try_number, max_tries=max_tries),
            "outlet_events": defaultdict(lambda: SimpleNamespace(extra={}))}


def run_trigger(trigger) -> dict:
    """Round-trip the trigger through its serialized form (as the triggerer does), run it, first event."""
    import importlib

    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    revived = getattr(importlib.import_module(module), name)(**{**kwargs, "waiter_delay": 1})

    async def first():
        async for event in revived.run():
            return event.payload

    return asyncio.run(first())


def with_profile(operator, profile):
    operator.__dict__["profile"] = profile
    return operator


def build_operator(profile, name, snapshots_dir):
    from loadstack.airflow.operators.snapshots import SnapshotBuildOperator
    from loadstack.snapshots.catalog import load_definitions

    definition = load_definitions(snapshots_dir)[name]
    return with_profile(SnapshotBuildOperator(task_id=f"build_{name}", snapshot=name,
                                              definition=definition.model_dump()), profile)


def test_aurora_snapshot_build_then_restore(aws_profile, names, snapshots_dir, sql_endpoint):
    from airflow.sdk.exceptions import TaskDeferred

    from loadstack.airflow.operators.aurora import AuroraRestoreOperator, AuroraTeardownOperator
    from loadstack.airflow.operators.snapshots import BUILD_WAIT_TIMEOUT
    from loadstack.airflow.triggers.aws import RdsClusterAvailableTrigger, RdsClusterSnapshotAvailableTrigger
    from loadstack.aws.rds import BUILD_TAG, describe_cluster
    from loadstack.credentials import get_json_secret
    from loadstack.data.migrate import schema_hash
    from loadstack.data.params import SeedParams
    from loadstack.data.seed import expected_counts
    from loadstack.snapshots.build_aws import build_cluster_id
    from loadstack.snapshots.catalog import Catalog, load_definitions
    from loadstack.snapshots.names import snapshot_credentials_secret

    rds = aws_profile.client("rds")
    op = build_operator(aws_profile, names.seeded, snapshots_dir)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context())
    assert isinstance(deferred.value.trigger, RdsClusterAvailableTrigger)
    assert deferred.value.method_name == "execute_complete" and deferred.value.timeout == BUILD_WAIT_TIMEOUT
    assert deferred.value.trigger.resume_at == "build_cluster_ready"
    cluster_id = build_cluster_id(names.seeded)
    cluster = describe_cluster(rds, cluster_id)
    assert {t["Key"] for t in cluster["TagList"]} >= {BUILD_TAG, "loadstack:snapshot-name"}
    assert [m["DBInstanceIdentifier"] for m in cluster["DBClusterMembers"]] == [f"{cluster_id}-1"]
    password = get_json_secret(aws_profile, snapshot_credentials_secret(names.seeded))["password"]

    # A retry of the first step resumes in the same cluster, with the same stored password.
    with pytest.raises(TaskDeferred):
        build_operator(aws_profile, names.seeded, snapshots_dir).execute(context(try_number=2))
    assert get_json_secret(aws_profile, snapshot_credentials_secret(names.seeded))["password"] == password
    assert [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]].count(cluster_id) == 1
    assert [m["DBInstanceIdentifier"] for m in describe_cluster(rds, cluster_id)["DBClusterMembers"]] == [f"{cluster_id}-1"]

    event = run_trigger(deferred.value.trigger)
    assert event == {"status": "success", "cluster_id": cluster_id, "resume_at": "build_cluster_ready"}
    with pytest.raises(TaskDeferred) as snapshotting:
        op.resume_execution("execute_complete", {"event": event}, context())
    assert isinstance(snapshotting.value.trigger, RdsClusterSnapshotAvailableTrigger)
    assert not snapshotting.value.kwargs  # nothing rides on the deferral (dag.test would drop it)
    snapshot_id = snapshotting.value.trigger.snapshot_id
    expected = expected_counts(SeedParams.from_dict(SEEDED))
    assert sql_endpoint.reached == [(cluster["Endpoint"], cluster["Port"], "loadstack", True)]
    assert len(snapshot_id) <= 63 and "--" not in snapshot_id
    with sql_endpoint.params.connect() as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT COUNT(*) FROM profiles")
        assert cursor.fetchone()[0] == SEEDED["profiles"]

    event = run_trigger(snapshotting.value.trigger)
    assert event == {"status": "success", "snapshot_id": snapshot_id, "resume_at": "cluster_snapshot_ready"}
    result = op.resume_execution("execute_complete", {"event": event}, context())
    assert len(sql_endpoint.reached) == 2  # the catalogued counts were read back from the cluster
    assert result == {"snapshot": names.seeded, "location": snapshot_id, "built": True}
    entry = Catalog(aws_profile).get(names.seeded)
    assert entry.location == snapshot_id and entry.row_counts == expected and entry.profile == "aws"
    assert entry.is_current(load_definitions(snapshots_dir)[names.seeded], schema_hash())
    snapshot = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=snapshot_id)["DBClusterSnapshots"][0]
    assert snapshot["Status"] == "available" and snapshot["DBClusterIdentifier"] == cluster_id
    gone = describe_cluster(rds, cluster_id)
    assert gone is None or gone["Status"] == "deleting"

    # Current now: the next run of the snapshots DAG does nothing.
    assert build_operator(aws_profile, names.seeded, snapshots_dir).execute(context())["built"] is False

    # A stack restores from it: the operator restores, defers, the trigger polls, outputs.
    def restore():
        return with_profile(AuroraRestoreOperator(
            task_id="events_db.restore", stack=names.stack, step="events_db", variant="minimal", snapshot=names.seeded,
            snapshots_dir=str(snapshots_dir), sizes={"minimal": {"instances": 1, "instance_class": "db.t4g.medium"}},
            placement={}, output_sources={},
        ), aws_profile)

    with pytest.raises(TaskDeferred) as restoring:
        restore().execute(context())
    restored_id = f"{names.stack}-events-db"
    event = run_trigger(restoring.value.trigger)
    assert event == {"status": "success", "cluster_id": restored_id, "resume_at": "cluster_available"}
    assert not restoring.value.kwargs
    outputs = restore().execute_complete(context(), event)
    restored = describe_cluster(rds, restored_id)
    assert outputs["host"] == restored["Endpoint"] and outputs["snapshot"] == names.seeded
    assert outputs["snapshot_kind"] == "seeded" and outputs["secret_id"].startswith("arn:aws:secretsmanager:")
    assert {t["Key"]: t["Value"] for t in restored["TagList"]}["loadstack:snapshot"] == snapshot_id
    with pytest.raises(TaskDeferred):
        restore().execute(context())  # a rerun reuses the restored cluster
    assert len([c for c in rds.describe_db_clusters()["DBClusters"] if c["DBClusterIdentifier"] == restored_id]) == 1

    with_profile(AuroraTeardownOperator(task_id="events_db.destroy", stack=names.stack, step="events_db",
                                        variant="minimal"), aws_profile).execute(context())
    gone = describe_cluster(rds, restored_id)
    assert gone is None or gone["Status"] == "deleting"


def test_failed_build_keeps_the_cluster_for_the_retry_and_the_last_try_deletes_it(aws_profile, names, snapshots_dir):
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
    from airflow.sdk.exceptions import TaskDeferralTimeout, TaskDeferred

    from loadstack.aws.rds import describe_cluster
    from loadstack.snapshots.build_aws import build_cluster_id

    rds = aws_profile.client("rds")
    op = build_operator(aws_profile, names.seeded, snapshots_dir)
    with pytest.raises(TaskDeferred):
        op.execute(context())
    cluster_id = build_cluster_id(names.seeded)
    failed = {"status": "error", "message": "cluster stuck", "cluster_id": cluster_id, "resume_at": "build_cluster_ready"}
    with pytest.raises(RuntimeError, match=f"building {names.seeded} in {cluster_id}: cluster stuck"):
        op.resume_execution("execute_complete", {"event": failed}, context(try_number=1, max_tries=1))
    assert describe_cluster(rds, cluster_id)["Status"] == "available"
    # The trigger timed out: Airflow resumes with __fail__ and never calls our method; still cleaned up.
    with pytest.raises(TaskDeferralTimeout):
        op.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT},
                            context(try_number=2, max_tries=1))
    gone = describe_cluster(rds, cluster_id)
    assert gone is None or gone["Status"] == "deleting"


def _build_up_to_the_snapshot(profile, name, snapshots_dir):
    """Run a build until its cluster snapshot exists; returns (operator, snapshot id, cluster id)."""
    from airflow.sdk.exceptions import TaskDeferred

    op = build_operator(profile, name, snapshots_dir)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context())
    with pytest.raises(TaskDeferred) as snapshotting:
        op.resume_execution("execute_complete", {"event": run_trigger(deferred.value.trigger)}, context())
    return op, snapshotting.value.trigger.snapshot_id, deferred.value.trigger.cluster_id


def _snapshot_exists(rds, snapshot_id) -> bool:
    from botocore.exceptions import ClientError

    try:
        found = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=snapshot_id)["DBClusterSnapshots"]
    except ClientError:
        return False
    return bool(found) and found[0]["Status"] != "deleting"


def test_the_last_failed_try_deletes_the_uncatalogued_snapshot_too(aws_profile, names, snapshots_dir, sql_endpoint):
    from loadstack.aws.rds import describe_cluster

    rds = aws_profile.client("rds")
    op, snapshot_id, cluster_id = _build_up_to_the_snapshot(aws_profile, names.seeded, snapshots_dir)
    assert _snapshot_exists(rds, snapshot_id)
    failed = {"status": "error", "message": "snapshot failed", "snapshot_id": snapshot_id,
              "resume_at": "cluster_snapshot_ready"}
    with pytest.raises(RuntimeError, match=f"snapshotting {names.seeded}: snapshot failed"):
        op.resume_execution("execute_complete", {"event": failed}, context(try_number=2, max_tries=1))
    assert not _snapshot_exists(rds, snapshot_id)
    gone = describe_cluster(rds, cluster_id)
    assert gone is None or gone["Status"] == "deleting"


def test_a_definition_changed_during_the_snapshot_wait_is_not_catalogued(aws_profile, names, snapshots_dir,
                                                                         sql_endpoint):
    from loadstack.snapshots.build_aws import SnapshotBuildError
    from loadstack.snapshots.catalog import Catalog

    rds = aws_profile.client("rds")
    op, snapshot_id, cluster_id = _build_up_to_the_snapshot(aws_profile, names.seeded, snapshots_dir)
    # The DAG is parsed again when the task resumes: an edited seed arrives with it.
    op.definition = {**op.definition, "seed": {**op.definition["seed"], "events": 901}}
    with pytest.raises(SnapshotBuildError, match=f"{names.seeded}: the schema or seed parameters changed while "
                                                 f"{cluster_id} was building"):
        op.resume_execution("execute_complete", {"event": {"status": "success", "snapshot_id": snapshot_id,
                                                           "resume_at": "cluster_snapshot_ready"}}, context())
    assert Catalog(aws_profile).get(names.seeded) is None
    assert not _snapshot_exists(rds, snapshot_id)


def test_a_run_that_finds_the_snapshot_current_deletes_a_leftover_build_cluster(aws_profile, names, snapshots_dir,
                                                                               sql_endpoint):
    from loadstack.aws.rds import describe_cluster
    from loadstack.data.migrate import schema_hash
    from loadstack.snapshots.catalog import Catalog, CatalogEntry, load_definitions

    rds = aws_profile.client("rds")
    op, snapshot_id, cluster_id = _build_up_to_the_snapshot(aws_profile, names.seeded, snapshots_dir)
    # As if the last step catalogued the snapshot and then failed to delete the cluster.
    Catalog(aws_profile).put(CatalogEntry(
        name=names.seeded, engine="mariadb", kind="seeded", profile="aws", location=snapshot_id,
        schema_hash=schema_hash(), params_hash=load_definitions(snapshots_dir)[names.seeded].params_hash()))
    assert build_operator(aws_profile, names.seeded, snapshots_dir).execute(context())["built"] is False
    gone = describe_cluster(rds, cluster_id)
    assert gone is None or gone["Status"] == "deleting"
    assert _snapshot_exists(rds, snapshot_id)  # catalogued: kept


def test_a_build_cluster_of_other_parameters_is_refused_by_name(aws_profile, names, snapshots_dir):
    from loadstack.aws.rds import RdsError
    from loadstack.snapshots.build_aws import build_cluster_id

    cluster_id = build_cluster_id(names.seeded)
    aws_profile.client("rds").create_db_cluster(
        DBClusterIdentifier=cluster_id, Engine="aurora-mysql", MasterUsername="someone", MasterUserPassword="x" * 12,
        Tags=[{"Key": "loadstack:build", "Value": "0123456789ab-other"}],
    )
    with pytest.raises(RdsError, match=f"DB cluster {cluster_id} already exists and is a build of 0123456789ab-other"):
        build_operator(aws_profile, names.seeded, snapshots_dir).execute(context())


def test_cache_snapshot_is_an_rdb_in_s3_that_elasticache_seeds_from(aws_profile, names, snapshots_dir):
    from airflow.sdk.exceptions import TaskDeferred

    from loadstack.airflow.operators.redis import RedisRestoreOperator
    from loadstack.snapshots.catalog import Catalog

    result = build_operator(aws_profile, names.cache, snapshots_dir).execute(context())
    entry = Catalog(aws_profile).get(names.cache)
    assert result["built"] is True and entry.location.startswith("redis/") and entry.row_counts == {"keys": 50}
    head = aws_profile.client("s3").head_object(Bucket=aws_profile.snapshot_bucket, Key=entry.location)
    assert head["ContentLength"] == entry.size_bytes

    def restore():
        return with_profile(RedisRestoreOperator(
            task_id="cache.restore", stack=names.stack, step="cache", variant="minimal", snapshot=names.cache,
            snapshots_dir=str(snapshots_dir), sizes={"minimal": {"node_type": "cache.t4g.small", "replicas": 0}},
            placement={}, output_sources={},
        ), aws_profile)

    with pytest.raises(TaskDeferred) as deferred:
        restore().execute(context())
    elasticache = aws_profile.client("elasticache")
    group = elasticache.describe_replication_groups(ReplicationGroupId=f"{names.stack}-cache")["ReplicationGroups"][0]
    tags = {t["Key"]: t["Value"] for t in elasticache.list_tags_for_resource(ResourceName=group["ARN"])["TagList"]}
    assert tags["loadstack:snapshot"] == f"arn:aws:s3:::{aws_profile.snapshot_bucket}/{entry.location}"
    with pytest.raises(RuntimeError, match=r"restoring .*-cache: create-failed \(seeding from s3://snapshots-\w+/redis/"
                                           r".* needs that bucket, in the cache's region, to grant ElastiCache read"):
        restore().execute_complete(context(), {"status": "error", "message": "create-failed",
                                               "resume_at": "group_available"})
    event = run_trigger(deferred.value.trigger)
    assert event["status"] == "success"
    outputs = restore().execute_complete(context(), event)
    assert outputs["engine"] == "redis" and outputs["host"] and outputs["port"] and outputs["snapshot"] == names.cache


def test_snapshots_dag_on_the_aws_profile_chains_its_deferrals(run_dag, aws_profile, names, snapshots_dir,
                                                               sql_endpoint, monkeypatch):
    """Through Airflow: the build task defers twice (cluster, then snapshot) and resumes each time."""
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    from loadstack.airflow.operators.snapshots import SnapshotBuildOperator
    from loadstack.airflow.render.snapshots import build_snapshots_dag
    from loadstack.aws.rds import describe_cluster
    from loadstack.snapshots.build_aws import build_cluster_id
    from loadstack.snapshots.catalog import Catalog

    monkeypatch.setattr(SnapshotBuildOperator, "profile", property(lambda self: aws_profile))
    resumed = []
    original = SnapshotBuildOperator.resume_execution

    def counting(self, next_method, next_kwargs, context):
        resumed.append((next_method, (next_kwargs or {}).get("event", {}).get("resume_at")))
        return original(self, next_method, next_kwargs, context)

    monkeypatch.setattr(SnapshotBuildOperator, "resume_execution", counting)
    run = run_dag(build_snapshots_dag(snapshots_dir))
    assert resumed == [("execute_complete", "build_cluster_ready"), ("execute_complete", "cluster_snapshot_ready")]
    assert run.state == DagRunState.SUCCESS
    with create_session() as session:
        tries = {ti.task_id: ti.try_number for ti in run.get_task_instances(session=session)}
    assert set(tries.values()) == {1}, f"a build needed a retry: {tries}"
    seeded, cache = Catalog(aws_profile).get(names.seeded), Catalog(aws_profile).get(names.cache)
    snapshot = aws_profile.client("rds").describe_db_cluster_snapshots(
        DBClusterSnapshotIdentifier=seeded.location)["DBClusterSnapshots"][0]
    assert snapshot["Status"] == "available" and seeded.row_counts["profiles"] == SEEDED["profiles"]
    assert cache.location.startswith("redis/") and cache.row_counts == {"keys": 50}
    gone = describe_cluster(aws_profile.client("rds"), build_cluster_id(names.seeded))
    assert gone is None or gone["Status"] == "deleting"


def test_stack_and_teardown_dags_restore_and_remove_aws_data_resources(run_dag, aws_profile, names, snapshots_dir,
                                                                        monkeypatch):
    """A stack of an aurora_restore and a redis_restore step, through Airflow, on the aws profile."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    from loadstack.airflow.operators.base import TaskProfile
    from loadstack.airflow.render import build_dag, build_teardown_dag
    from loadstack.aws.elasticache import describe_replication_group
    from loadstack.aws.rds import describe_cluster
    from loadstack.data.migrate import schema_hash
    from loadstack.snapshots.build_local import build_redis_snapshot
    from loadstack.snapshots.catalog import Catalog, CatalogEntry, load_definitions
    from loadstack.spec import load_stack

    definitions = load_definitions(snapshots_dir)
    rds = aws_profile.client("rds")
    # A cluster snapshot as the snapshots DAG leaves it (its build is tested above).
    rds.create_db_cluster(DBClusterIdentifier=f"src-{names.stack}", Engine="aurora-mysql", MasterUsername="loadstack",
                          MasterUserPassword="p" * 16)
    rds.create_db_cluster_snapshot(DBClusterIdentifier=f"src-{names.stack}", DBClusterSnapshotIdentifier=f"snap-{names.stack}")
    Catalog(aws_profile).put(CatalogEntry(
        name=names.seeded, engine="mariadb", kind="seeded", profile="aws", location=f"snap-{names.stack}",
        schema_hash=schema_hash(), params_hash=definitions[names.seeded].params_hash()))
    build_redis_snapshot(aws_profile, names.cache, definitions[names.cache])

    stacks = snapshots_dir.parent / "stacks"
    stacks.mkdir()
    (stacks / f"{names.stack}.yaml").write_text(yaml.safe_dump({
        "name": names.stack, "description": "aws restores on moto", "owner": "sre-test", "retries": 0,
        "steps": {"db": {"kind": "aurora_restore", "snapshot": names.seeded},
                  "cache": {"kind": "redis_restore", "snapshot": names.cache}},
    }))
    stack = load_stack(stacks / f"{names.stack}.yaml")
    monkeypatch.setattr(TaskProfile, "profile", property(lambda self: aws_profile))  # every task's profile

    run = run_dag(build_dag(stack))
    assert run.state == DagRunState.SUCCESS
    with create_session() as session:
        rows = session.query(XComModel).filter_by(run_id=run.run_id, key="return_value").all()
        out = {row.task_id: row.value for row in rows}
    cluster = describe_cluster(rds, f"{names.stack}-db")
    assert out["db.restore"]["host"] == cluster["Endpoint"] and out["db.restore"]["snapshot_kind"] == "seeded"
    assert out["cache.restore"]["port"] and out["cache.restore"]["snapshot"] == names.cache

    teardown = run_dag(build_teardown_dag(stack))
    assert teardown.state == DagRunState.SUCCESS
    gone = describe_cluster(rds, f"{names.stack}-db")
    assert gone is None or gone["Status"] == "deleting"
    group = describe_replication_group(aws_profile.client("elasticache"), f"{names.stack}-cache")
    assert group is None or group["Status"] == "deleting"
