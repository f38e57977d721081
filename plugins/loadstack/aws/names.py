"""What loadstack names a stack step's AWS resources: one name for the restore and the teardown alike."""

from __future__ import annotations

from loadstack.aws import ELASTICACHE_GROUP_ID_LIMIT, RDS_CLUSTER_ID_LIMIT, resource_identifier


def aurora_cluster_id(stack: str, step: str) -> str:
    """The step's Aurora cluster (RDS ids have hyphens where step names have "_")."""
    return resource_identifier(f"{stack}-{step}".replace("_", "-"), RDS_CLUSTER_ID_LIMIT)


def cache_group_id(stack: str, step: str) -> str:
    """The step's ElastiCache replication group."""
    return resource_identifier(f"{stack}-{step}".replace("_", "-"), ELASTICACHE_GROUP_ID_LIMIT)
