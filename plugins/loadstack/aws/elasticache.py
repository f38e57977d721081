"""ElastiCache (Redis OSS / Valkey) replication groups seeded from a snapshot, idempotently.

A group is seeded either from an ElastiCache snapshot (`snapshot_name`) or from RDB files in S3
(`rdb_s3_arns`, e.g. ``["arn:aws:s3:::<snapshot bucket>/redis/<name>.rdb"]``, the files built by
`loadstack.cache.rdb`; the bucket must grant ElastiCache read access). The group carries the tag
``loadstack:snapshot=<snapshot name or first ARN>``: a rerun reuses a group seeded from the same
source, and a group of the same id from another source is an error naming both.

moto 5.2.5 (checked): CreateReplicationGroup answers ``available`` at once but makes one member
cluster whatever NumCacheClusters says, and that member is not known to DescribeCacheClusters;
SnapshotName and SnapshotArns are accepted without any restore (a missing snapshot is not an error
there, hence the explicit check below); DeleteReplicationGroup leaves the group ``deleting`` for
ever. So moto can test the idempotency and the endpoint, not the shape or the data of a group.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from loadstack.aws import SNAPSHOT_TAG

log = logging.getLogger(__name__)

_GONE = frozenset({"deleting", "deleted", "create-failed"})


class ElastiCacheError(RuntimeError):
    """A replication group or snapshot is not in the shape the stack asks for."""


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def rdb_s3_arn(bucket: str, key: str) -> str:
    """The SnapshotArns entry for an RDB object in S3 (see `loadstack.cache.rdb.upload_rdb`)."""
    return f"arn:aws:s3:::{bucket}/{key}"


def describe_replication_group(client: Any, group_id: str) -> dict[str, Any] | None:
    try:
        groups = client.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"]
    except ClientError as error:
        if _code(error) in ("ReplicationGroupNotFoundFault", "ReplicationGroupNotFound"):
            return None
        raise
    return groups[0] if groups else None


def _group_tags(client: Any, group: Mapping[str, Any]) -> dict[str, str]:
    tags = client.list_tags_for_resource(ResourceName=group["ARN"])["TagList"]
    return {t["Key"]: t["Value"] for t in tags}


def _check_seeded_from(client: Any, group: Mapping[str, Any], group_id: str, source: str) -> None:
    seeded_from = _group_tags(client, group).get(SNAPSHOT_TAG)
    if seeded_from is None:
        raise ElastiCacheError(
            f"replication group {group_id} already exists but was not created by loadstack (no "
            f"{SNAPSHOT_TAG} tag); refusing to use it as the restore of {source}"
        )
    if seeded_from != source:
        raise ElastiCacheError(
            f"replication group {group_id} already exists, seeded from {seeded_from}, not from the "
            f"requested {source}: delete it or choose another group id"
        )
    if group.get("Status") in _GONE:
        raise ElastiCacheError(f"replication group {group_id} (from {source}) is {group['Status']}")


def _require_snapshot(client: Any, snapshot_name: str) -> None:
    try:
        found = client.describe_snapshots(SnapshotName=snapshot_name)["Snapshots"]
    except ClientError as error:
        if _code(error) not in ("SnapshotNotFoundFault", "SnapshotNotFound"):
            raise
        found = []
    if not found:
        raise ElastiCacheError(f"ElastiCache snapshot {snapshot_name} not found")


def create_replication_group_from_snapshot(
    client: Any,
    group_id: str,
    snapshot_name: str | None,
    node_type: str,
    num_cache_clusters: int,
    *,
    rdb_s3_arns: Sequence[str] = (),
    engine: str = "redis",
    engine_version: str | None = None,
    subnet_group: str | None = None,
    security_group_ids: Sequence[str] = (),
    auth_token: str | None = None,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Create replication group `group_id` seeded from `snapshot_name` (or `rdb_s3_arns`), or reuse it.

    Cluster mode disabled: one primary plus `num_cache_clusters` - 1 replicas, automatic failover
    and Multi-AZ when there is a replica. An `auth_token` turns on in-transit encryption (AWS
    requires it). Returns the ReplicationGroup description; wait for it with
    `loadstack.airflow.triggers.aws.ElastiCacheReplicationGroupAvailableTrigger`.
    """
    if bool(snapshot_name) == bool(rdb_s3_arns):
        raise ValueError("give exactly one of snapshot_name and rdb_s3_arns")
    if num_cache_clusters < 1:
        raise ValueError("num_cache_clusters must be >= 1")
    source = snapshot_name or rdb_s3_arns[0]
    existing = describe_replication_group(client, group_id)
    if existing is not None:
        _check_seeded_from(client, existing, group_id, source)
        log.info("replication group %s already seeded from %s (status %s): reusing it", group_id, source, existing.get("Status"))
        return existing
    if snapshot_name:
        _require_snapshot(client, snapshot_name)
    replicas = num_cache_clusters > 1
    params: dict[str, Any] = {
        "ReplicationGroupId": group_id,
        "ReplicationGroupDescription": description or f"loadstack cache from {source}",
        "Engine": engine,
        "CacheNodeType": node_type,
        "NumCacheClusters": num_cache_clusters,
        "AutomaticFailoverEnabled": replicas,
        "MultiAZEnabled": replicas,
        "Tags": [{"Key": str(k), "Value": str(v)} for k, v in {**(tags or {}), SNAPSHOT_TAG: source}.items()],
    }
    if snapshot_name:
        params["SnapshotName"] = snapshot_name
    else:
        params["SnapshotArns"] = list(rdb_s3_arns)
    if engine_version:
        params["EngineVersion"] = engine_version
    if subnet_group:
        params["CacheSubnetGroupName"] = subnet_group
    if security_group_ids:
        params["SecurityGroupIds"] = list(security_group_ids)
    if auth_token:
        params["AuthToken"] = auth_token
        params["TransitEncryptionEnabled"] = True
    params.update(extra or {})
    try:
        group = client.create_replication_group(**params)["ReplicationGroup"]
    except ClientError as error:
        if _code(error) not in ("ReplicationGroupAlreadyExistsFault", "ReplicationGroupAlreadyExists"):
            raise
        group = describe_replication_group(client, group_id)
        if group is None:
            raise
        _check_seeded_from(client, group, group_id, source)
        return group
    log.info("creating replication group %s (%d x %s) from %s", group_id, num_cache_clusters, node_type, source)
    return group


def replication_group_endpoint(client: Any, group_id: str) -> dict[str, Any]:
    """``{host, port, reader_host, cluster_mode, tls, auth_token_enabled}`` of an available group.

    Cluster mode enabled: `host` is the configuration endpoint and `reader_host` is None.
    """
    group = describe_replication_group(client, group_id)
    if group is None:
        raise ElastiCacheError(f"replication group {group_id} does not exist")
    configuration = group.get("ConfigurationEndpoint")
    if configuration:
        host, port, reader = configuration["Address"], configuration["Port"], None
    else:
        node_groups = group.get("NodeGroups") or []
        primary = node_groups[0].get("PrimaryEndpoint") if node_groups else None
        if not primary:
            raise ElastiCacheError(
                f"replication group {group_id} has no endpoint yet (status {group.get('Status')}): wait until it is available"
            )
        host, port = primary["Address"], primary["Port"]
        reader = (node_groups[0].get("ReaderEndpoint") or {}).get("Address")
    return {
        "group_id": group_id,
        "host": host,
        "port": int(port),
        "reader_host": reader,
        "cluster_mode": bool(configuration),
        "tls": bool(group.get("TransitEncryptionEnabled")),
        "auth_token_enabled": bool(group.get("AuthTokenEnabled")),
    }


def delete_replication_group(client: Any, group_id: str) -> bool:
    """Delete the group without a final snapshot; False if it does not exist."""
    group = describe_replication_group(client, group_id)
    if group is None:
        return False
    if group.get("Status") != "deleting":
        client.delete_replication_group(ReplicationGroupId=group_id, RetainPrimaryCluster=False)
    return True
