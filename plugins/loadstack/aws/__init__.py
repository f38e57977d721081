"""Thin, idempotent boto3 helpers for the data tier on AWS (Aurora via RDS, ElastiCache).

Every function takes a boto3 client as its first argument: `Profile.client("rds")` in loadstack
code, or the ``conn`` of the provider's RdsHook / ElastiCacheReplicationGroupHook in an operator.
Waiting is not done here: the deferrable triggers in `loadstack.airflow.triggers.aws` do it.
"""

import hashlib
import re

SNAPSHOT_TAG = "loadstack:snapshot"
# Aurora instances are named <cluster id>-<n>: keep room for the suffix under RDS's 63 characters.
RDS_CLUSTER_ID_LIMIT = 60
RDS_SNAPSHOT_ID_LIMIT = 63
ELASTICACHE_GROUP_ID_LIMIT = 40


def resource_identifier(text: str, limit: int) -> str:
    """An RDS / ElastiCache identifier for `text`: lowercase letters, digits, single hyphens.

    AWS wants a leading letter, no "--", no trailing hyphen and at most `limit` characters. Text that
    already is one is kept as it is; anything else is cleaned, cut, and given a hash of the original,
    so that two different texts (e.g. "a--b" and "a-b", or two long names sharing a prefix) never
    share an identifier.
    """
    clean = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")
    if not clean or not clean[0].isalpha():
        clean = f"x-{clean}".rstrip("-")
    if clean == text and len(clean) <= limit:
        return clean
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{clean[: limit - len(digest) - 1].rstrip('-')}-{digest}"


__all__ = ["ELASTICACHE_GROUP_ID_LIMIT", "RDS_CLUSTER_ID_LIMIT", "RDS_SNAPSHOT_ID_LIMIT", "SNAPSHOT_TAG",
           "resource_identifier"]
