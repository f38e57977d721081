"""Thin, idempotent boto3 helpers for the data tier on AWS (Aurora via RDS, ElastiCache).

Every function takes a boto3 client as its first argument: `Profile.client("rds")` in loadstack
code, or the ``conn`` of the provider's RdsHook / ElastiCacheReplicationGroupHook in an operator.
Waiting is not done here: the deferrable triggers in `loadstack.triggers.aws` do it.
"""

SNAPSHOT_TAG = "loadstack:snapshot"

__all__ = ["SNAPSHOT_TAG"]
