"""Aurora restore path: cluster from a cluster snapshot, its instances, endpoint and credentials.

All functions are idempotent and take a boto3 RDS client. A cluster restored here carries the tag
``loadstack:snapshot=<snapshot id>`` (AWS does not record which snapshot a cluster came from), so a
rerun reuses the cluster restored from the same snapshot, and a cluster of the same name from a
different snapshot, or not made by loadstack, is an error that names both.

Credentials: RestoreDBClusterFromSnapshot has no ManageMasterUserPassword parameter (the API itself,
not moto), so a restored cluster keeps the snapshot's master password. `ensure_master_user_secret`
turns on the RDS-managed master secret afterwards with ModifyDBCluster(ManageMasterUserPassword=True),
once the cluster is available; the secret (``{"username", "password"}`` JSON) is owned and rotated
by RDS, and its ARN is the credentials reference `cluster_endpoint` returns. moto 5.2.5 supports
this (it creates the secret in its Secrets Manager), so there is no fallback secret.

Waiting is left to the caller: `loadstack.airflow.triggers.aws.RdsClusterAvailableTrigger` (deferrable) or
the botocore waiters ``db_cluster_available`` / ``db_cluster_snapshot_available``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from loadstack.aws import SNAPSHOT_TAG

log = logging.getLogger(__name__)

# States from which a cluster or instance will not become available by waiting.
_GONE = frozenset({"deleting", "deleted", "failed", "incompatible-restore", "incompatible-parameters"})


class RdsError(RuntimeError):
    """An RDS resource is not in the shape the stack asks for; the message names what differs."""


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _tag_list(tags: Mapping[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": str(k), "Value": str(v)} for k, v in (tags or {}).items()]


def resource_tags(resource: Mapping[str, Any]) -> dict[str, str]:
    """The TagList of a DBCluster / DBClusterSnapshot description as a dict."""
    return {t["Key"]: t["Value"] for t in resource.get("TagList") or []}


def describe_cluster(client: Any, cluster_id: str) -> dict[str, Any] | None:
    """The DBCluster description, or None if there is no such cluster."""
    try:
        clusters = client.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"]
    except ClientError as error:
        if _code(error) == "DBClusterNotFoundFault":
            return None
        raise
    return clusters[0] if clusters else None


def _require_cluster(client: Any, cluster_id: str) -> dict[str, Any]:
    cluster = describe_cluster(client, cluster_id)
    if cluster is None:
        raise RdsError(f"DB cluster {cluster_id} does not exist")
    return cluster


def _check_restored_from(cluster: Mapping[str, Any], cluster_id: str, snapshot_id: str) -> None:
    status = cluster.get("Status", "")
    restored_from = resource_tags(cluster).get(SNAPSHOT_TAG)
    if restored_from is None:
        raise RdsError(
            f"DB cluster {cluster_id} already exists but was not restored by loadstack (it has no "
            f"{SNAPSHOT_TAG} tag); refusing to use it as the restore of snapshot {snapshot_id}"
        )
    if restored_from != snapshot_id:
        raise RdsError(
            f"DB cluster {cluster_id} already exists, restored from snapshot {restored_from}, "
            f"not from the requested snapshot {snapshot_id}: delete it or choose another cluster id"
        )
    if status in _GONE:
        raise RdsError(f"DB cluster {cluster_id} (from snapshot {snapshot_id}) is {status}; it will not become available")


def restore_cluster_from_snapshot(
    client: Any,
    cluster_id: str,
    snapshot_id: str,
    engine: str,
    subnet_group: str | None = None,
    security_group_ids: Sequence[str] = (),
    *,
    engine_version: str | None = None,
    port: int | None = None,
    tags: Mapping[str, str] | None = None,
    deletion_protection: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Restore `cluster_id` from the cluster snapshot `snapshot_id`, or reuse it if it is already that.

    Returns the DBCluster description (status ``creating`` right after a restore). `extra` is
    passed to RestoreDBClusterFromSnapshot as is (e.g. ``{"DBClusterParameterGroupName": ...}``).
    """
    existing = describe_cluster(client, cluster_id)
    if existing is not None:
        _check_restored_from(existing, cluster_id, snapshot_id)
        log.info("DB cluster %s already restored from %s (status %s): reusing it", cluster_id, snapshot_id, existing.get("Status"))
        return existing
    params: dict[str, Any] = {
        "DBClusterIdentifier": cluster_id,
        "SnapshotIdentifier": snapshot_id,
        "Engine": engine,
        "DeletionProtection": deletion_protection,
        "CopyTagsToSnapshot": True,
        "Tags": _tag_list({**(tags or {}), SNAPSHOT_TAG: snapshot_id}),
    }
    if engine_version:
        params["EngineVersion"] = engine_version
    if port:
        params["Port"] = int(port)
    if subnet_group:
        params["DBSubnetGroupName"] = subnet_group
    if security_group_ids:
        params["VpcSecurityGroupIds"] = list(security_group_ids)
    params.update(extra or {})
    try:
        cluster = client.restore_db_cluster_from_snapshot(**params)["DBCluster"]
    except ClientError as error:
        code = _code(error)
        if code == "DBClusterSnapshotNotFoundFault":
            raise RdsError(f"cluster snapshot {snapshot_id} not found (restoring DB cluster {cluster_id})") from error
        if code == "DBClusterAlreadyExistsFault":  # another run restored it in the meantime
            existing = _require_cluster(client, cluster_id)
            _check_restored_from(existing, cluster_id, snapshot_id)
            return existing
        raise
    log.info("restoring DB cluster %s from snapshot %s", cluster_id, snapshot_id)
    return cluster


BUILD_TAG = "loadstack:build"


def create_build_cluster(
    client: Any,
    cluster_id: str,
    build_key: str,
    *,
    engine: str,
    master_username: str,
    master_password: str,
    database: str,
    engine_version: str | None = None,
    subnet_group: str | None = None,
    security_group_ids: Sequence[str] = (),
    cluster_parameter_group: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Create the empty cluster a snapshot is built in, or reuse it if it is building the same thing.

    `build_key` (schema and seed-parameter hashes) is kept as the ``loadstack:build`` tag, so a
    retry resumes in the cluster it left (migrations and seeding are idempotent) while a cluster
    left by a build of other parameters is an error. Returns (description, created).
    """
    existing = describe_cluster(client, cluster_id)
    if existing is not None:
        found = resource_tags(existing).get(BUILD_TAG)
        if existing.get("Status") in ("deleting", "deleted"):
            raise RdsError(f"DB cluster {cluster_id} is being deleted: build again once it is gone")
        if found != build_key:
            what = f"a build of {found}" if found else "not a loadstack build cluster"
            raise RdsError(
                f"DB cluster {cluster_id} already exists and is {what}, not of {build_key}: delete it "
                f"(aws rds delete-db-cluster --db-cluster-identifier {cluster_id} --skip-final-snapshot, after "
                "its instances) and build again"
            )
        if existing.get("Status") in _GONE:
            raise RdsError(
                f"build cluster {cluster_id} is {existing['Status']} and will not recover: delete it (aws rds "
                f"delete-db-cluster --db-cluster-identifier {cluster_id} --skip-final-snapshot) and build again"
            )
        log.info("build cluster %s already exists (status %s): resuming in it", cluster_id, existing.get("Status"))
        return existing, False
    params: dict[str, Any] = {
        "DBClusterIdentifier": cluster_id,
        "Engine": engine,
        "MasterUsername": master_username,
        "MasterUserPassword": master_password,
        "DatabaseName": database,
        "DeletionProtection": False,
        "Tags": _tag_list({**(tags or {}), BUILD_TAG: build_key}),
    }
    if engine_version:
        params["EngineVersion"] = engine_version
    if subnet_group:
        params["DBSubnetGroupName"] = subnet_group
    if security_group_ids:
        params["VpcSecurityGroupIds"] = list(security_group_ids)
    if cluster_parameter_group:
        params["DBClusterParameterGroupName"] = cluster_parameter_group
    cluster = client.create_db_cluster(**params)["DBCluster"]
    log.info("creating build cluster %s (%s)", cluster_id, engine)
    return cluster, True


def cluster_instances(client: Any, cluster_id: str) -> list[dict[str, Any]]:
    """The DB instances of a cluster (any status), sorted by identifier."""
    paginator = client.get_paginator("describe_db_instances")
    found: list[dict[str, Any]] = []
    for page in paginator.paginate(Filters=[{"Name": "db-cluster-id", "Values": [cluster_id]}]):
        found += page["DBInstances"]
    return sorted(found, key=lambda i: i["DBInstanceIdentifier"])


def ensure_instances(
    client: Any,
    cluster_id: str,
    count: int,
    instance_class: str,
    *,
    engine: str | None = None,
    tags: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> list[str]:
    """Make sure instances ``<cluster_id>-1`` .. ``-<count>`` of `instance_class` exist in the cluster.

    The caller picks the shape (minimal: 1 x db.t4g.medium; production: e.g. 3 x db.r6g.2xlarge).
    Missing instances are created (the first one becomes the writer); existing ones of another
    class are an error (resize is not done here), and instances beyond `count` are left alone.
    Returns the identifiers of all the cluster's instances.
    """
    if count < 1:
        raise ValueError("an Aurora cluster needs at least one instance (count >= 1)")
    cluster = _require_cluster(client, cluster_id)
    engine = engine or cluster["Engine"]
    existing = {i["DBInstanceIdentifier"]: i for i in cluster_instances(client, cluster_id)}
    wanted = [f"{cluster_id}-{n}" for n in range(1, count + 1)]
    for instance_id in wanted:
        instance = existing.get(instance_id)
        if instance is not None:
            if instance["DBInstanceClass"] != instance_class:
                raise RdsError(
                    f"DB instance {instance_id} of cluster {cluster_id} is {instance['DBInstanceClass']}, "
                    f"not {instance_class}: resize or delete it first"
                )
            if instance.get("DBInstanceStatus") in _GONE:
                raise RdsError(f"DB instance {instance_id} is {instance['DBInstanceStatus']}")
            continue
        params: dict[str, Any] = {
            "DBInstanceIdentifier": instance_id,
            "DBClusterIdentifier": cluster_id,
            "Engine": engine,
            "DBInstanceClass": instance_class,
            "PubliclyAccessible": False,
            "Tags": _tag_list({**(tags or {}), "loadstack:cluster": cluster_id}),
        }
        params.update(extra or {})
        try:
            client.create_db_instance(**params)
            log.info("creating DB instance %s (%s) in cluster %s", instance_id, instance_class, cluster_id)
        except ClientError as error:
            if _code(error) not in ("DBInstanceAlreadyExists", "DBInstanceAlreadyExistsFault"):
                raise
        existing.setdefault(instance_id, {"DBInstanceIdentifier": instance_id})
    return sorted(existing)


def ensure_master_user_secret(client: Any, cluster_id: str) -> str:
    """The ARN of the cluster's RDS-managed master user secret, turning it on if needed.

    Needs the cluster available (AWS refuses to modify a cluster that is still being restored).
    """
    cluster = _require_cluster(client, cluster_id)
    secret = cluster.get("MasterUserSecret") or {}
    if secret.get("SecretArn"):
        return secret["SecretArn"]
    modified = client.modify_db_cluster(
        DBClusterIdentifier=cluster_id, ManageMasterUserPassword=True, ApplyImmediately=True
    )["DBCluster"]
    arn = (modified.get("MasterUserSecret") or {}).get("SecretArn")
    if not arn:
        raise RdsError(f"ModifyDBCluster(ManageMasterUserPassword=True) on {cluster_id} returned no MasterUserSecret")
    log.info("DB cluster %s: master password now managed by RDS in %s", cluster_id, arn)
    return arn


def cluster_endpoint(client: Any, cluster_id: str, *, manage_secret: bool = True) -> dict[str, Any]:
    """Where and as whom to connect: ``{host, reader_host, port, username, engine, secret_arn}``.

    `secret_arn` is the RDS-managed master user secret (turned on if `manage_secret`; None
    otherwise when the cluster has none). The secret holds ``{"username", "password"}``.
    """
    secret_arn = ensure_master_user_secret(client, cluster_id) if manage_secret else None
    cluster = _require_cluster(client, cluster_id)
    if secret_arn is None:
        secret_arn = (cluster.get("MasterUserSecret") or {}).get("SecretArn")
    return {
        "cluster_id": cluster_id,
        "host": cluster["Endpoint"],
        "reader_host": cluster.get("ReaderEndpoint"),
        "port": int(cluster["Port"]),
        "engine": cluster["Engine"],
        "username": cluster.get("MasterUsername"),
        "secret_arn": secret_arn,
    }


def create_cluster_snapshot(
    client: Any,
    cluster_id: str,
    snapshot_id: str,
    *,
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Snapshot `cluster_id` as `snapshot_id`, or return that snapshot if it already is of this cluster.

    Returns the DBClusterSnapshot description (status ``creating`` on AWS until it is done: wait
    with the botocore waiter ``db_cluster_snapshot_available``).
    """
    try:
        found = client.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=snapshot_id)["DBClusterSnapshots"]
    except ClientError as error:
        if _code(error) != "DBClusterSnapshotNotFoundFault":
            raise
        found = []
    if found:
        snapshot = found[0]
        if snapshot.get("DBClusterIdentifier") != cluster_id:
            raise RdsError(
                f"cluster snapshot {snapshot_id} already exists, taken of DB cluster "
                f"{snapshot.get('DBClusterIdentifier')}, not of {cluster_id}"
            )
        if snapshot.get("Status") in _GONE:
            raise RdsError(
                f"cluster snapshot {snapshot_id} is {snapshot['Status']}: delete it (aws rds "
                f"delete-db-cluster-snapshot --db-cluster-snapshot-identifier {snapshot_id}) and snapshot again"
            )
        return snapshot
    snapshot = client.create_db_cluster_snapshot(
        DBClusterIdentifier=cluster_id,
        DBClusterSnapshotIdentifier=snapshot_id,
        Tags=_tag_list({**(tags or {}), "loadstack:cluster": cluster_id}),
    )["DBClusterSnapshot"]
    log.info("snapshotting DB cluster %s as %s", cluster_id, snapshot_id)
    return snapshot


def delete_cluster(client: Any, cluster_id: str) -> bool:
    """Delete the cluster's instances, then the cluster, without a final snapshot; False if absent."""
    cluster = describe_cluster(client, cluster_id)
    if cluster is None:
        return False
    for instance in cluster_instances(client, cluster_id):
        if instance.get("DBInstanceStatus") != "deleting":
            client.delete_db_instance(DBInstanceIdentifier=instance["DBInstanceIdentifier"], SkipFinalSnapshot=True)
    if cluster.get("Status") != "deleting":
        client.delete_db_cluster(DBClusterIdentifier=cluster_id, SkipFinalSnapshot=True)
    return True


def delete_cluster_snapshot(client: Any, snapshot_id: str) -> bool:
    """Delete a manual cluster snapshot; False if it does not exist (or is already being deleted)."""
    try:
        client.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=snapshot_id)
    except ClientError as error:
        if _code(error) in ("DBClusterSnapshotNotFoundFault", "InvalidDBClusterSnapshotStateFault"):
            return False
        raise
    log.info("deleting cluster snapshot %s", snapshot_id)
    return True
