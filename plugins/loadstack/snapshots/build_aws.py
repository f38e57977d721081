"""Build a database snapshot on the aws profile: a build cluster, migrations, seeding, a cluster snapshot.

Building outlasts any sensible task slot (Aurora takes minutes to create and to snapshot), so it is
three idempotent steps between which the operator defers:

1. `start_aurora_build`: create the empty build cluster and its one instance, or find the one a
   previous try left (tagged with the schema and seed-parameter hashes, so a retry resumes in it);
2. `load_and_snapshot`: once available, run the migrations and (seeded) the seeding job against
   it, then start the cluster snapshot;
3. `finish_aurora_build`: once the snapshot is available, catalogue it and delete the build cluster.

The catalog entry is written last, as on the local profile: an interrupted build leaves the previous
entry in force. Redis snapshots need no AWS build: the RDB is built on the worker exactly as on the
local profile and ElastiCache seeds replication groups from it in S3 (SnapshotArns).
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import TYPE_CHECKING, Any, Callable

from loadstack.aws.rds import (
    cluster_endpoint,
    create_build_cluster,
    create_cluster_snapshot,
    delete_cluster,
    describe_cluster,
    ensure_instances,
)
from loadstack.credentials import get_json_secret, put_json_secret
from loadstack.data.local_restore import SNAPSHOT_DATABASE, snapshot_credentials_secret
from loadstack.data.mariadb import ConnectionParams
from loadstack.snapshots.catalog import Catalog, CatalogEntry, SnapshotDefinition

if TYPE_CHECKING:
    from loadstack.profiles import Profile

log = logging.getLogger(__name__)

BUILD_USER = "loadstack"


def build_cluster_id(name: str) -> str:
    return f"loadstack-build-{name}"[:63].rstrip("-")


def build_key(definition: SnapshotDefinition, schema_hash: str) -> str:
    return f"{schema_hash[:12]}-{definition.params_hash()}"


def build_connection(endpoint: dict[str, Any], password: str) -> ConnectionParams:
    """How the worker reaches the build cluster's writer."""
    return ConnectionParams(host=endpoint["host"], port=endpoint["port"], user=endpoint["username"],
                            password=password, database=SNAPSHOT_DATABASE)


def _tags(name: str) -> dict[str, str]:
    return {"loadstack:snapshot-name": name}


def start_aurora_build(
    profile: "Profile", name: str, definition: SnapshotDefinition, *, say: Callable[[str], None] = log.info
) -> str:
    """Create (or find) the build cluster and its instance; returns the cluster id to wait for."""
    from loadstack.data.migrate import schema_hash

    settings = profile.aurora_build
    client = profile.client("rds")
    cluster_id = build_cluster_id(name)
    password = ""
    if describe_cluster(client, cluster_id) is None:
        # Stored before the cluster exists: a retry that finds the cluster must find its password too.
        password = secrets.token_urlsafe(24)
        put_json_secret(profile, snapshot_credentials_secret(name), {"username": BUILD_USER, "password": password},
                        description=f"master user of the {name} snapshot's build cluster")
    _, created = create_build_cluster(
        client, cluster_id, build_key(definition, schema_hash()),
        engine=settings.engine, engine_version=settings.engine_version, master_username=BUILD_USER,
        master_password=password, database=SNAPSHOT_DATABASE, subnet_group=settings.subnet_group,
        security_group_ids=settings.security_group_ids, cluster_parameter_group=settings.cluster_parameter_group,
        tags=_tags(name),
    )
    ensure_instances(client, cluster_id, 1, settings.instance_class, tags=_tags(name))
    say(f"{name}: {'created' if created else 'resuming in'} build cluster {cluster_id} ({settings.engine}, "
        f"1 x {settings.instance_class})")
    return cluster_id


def cluster_snapshot_id(name: str, key: str, cluster: dict[str, Any]) -> str:
    """Stable for one build cluster, so a retried snapshot step finds the snapshot it started."""
    created = cluster.get("ClusterCreateTime")
    stamp = created.strftime("%Y%m%d%H%M%S") if hasattr(created, "strftime") else secrets.token_hex(4)
    return re.sub(r"-+", "-", f"{name}-{key}-{stamp}".lower())


def _connection(profile: "Profile", name: str) -> ConnectionParams:
    password = get_json_secret(profile, snapshot_credentials_secret(name))["password"]
    return build_connection(cluster_endpoint(profile.client("rds"), build_cluster_id(name), manage_secret=False), password)


def load_and_snapshot(
    profile: "Profile", name: str, definition: SnapshotDefinition, *, say: Callable[[str], None] = log.info
) -> str:
    """Migrate and seed the available build cluster, then start its snapshot; returns the snapshot id."""
    from loadstack.data.generate import SeedParams
    from loadstack.data.migrate import migrate
    from loadstack.data.seed import seed_all

    cluster_id = build_cluster_id(name)
    connection = _connection(profile, name)
    conn = connection.connect()
    try:
        migrated = migrate(conn)
    finally:
        conn.close()
    say(f"{name}: {len(migrated.applied)} migrations applied in {cluster_id}, schema {migrated.schema_hash[:12]}")
    if definition.kind == "seeded":
        counts = seed_all(connection, SeedParams.from_dict(definition.seed), progress=lambda p: say(str(p)))
        say(f"{name}: seeded {sum(counts.values()):,} rows")
    client = profile.client("rds")
    cluster = describe_cluster(client, cluster_id) or {}
    snapshot_id = cluster_snapshot_id(name, build_key(definition, migrated.schema_hash), cluster)
    create_cluster_snapshot(client, cluster_id, snapshot_id, tags=_tags(name))
    say(f"{name}: snapshotting {cluster_id} as {snapshot_id}")
    return snapshot_id


def _measure(profile: "Profile", name: str, definition: SnapshotDefinition) -> tuple[str, dict[str, int]]:
    """The schema hash and row counts of what the build cluster (and so its snapshot) holds.

    Read back rather than carried across the deferral: what the catalog records is what is there.
    """
    from contextlib import closing

    from loadstack.data.generate import SeedParams
    from loadstack.data.migrate import migrate
    from loadstack.data.seed import expected_counts

    with closing(_connection(profile, name).connect()) as conn:
        schema = migrate(conn).schema_hash  # applies nothing: every migration is recorded already
        counts: dict[str, int] = {}
        if definition.kind == "seeded":
            cursor = conn.cursor()
            for table in expected_counts(SeedParams.from_dict(definition.seed)):
                cursor.execute(f"SELECT COUNT(*) FROM `{table}`")
                counts[table] = cursor.fetchone()[0]
    return schema, counts


def finish_aurora_build(
    profile: "Profile",
    name: str,
    definition: SnapshotDefinition,
    snapshot_id: str,
    *,
    say: Callable[[str], None] = log.info,
) -> CatalogEntry:
    """Catalogue the available snapshot, then delete the build cluster (no final snapshot)."""
    schema, counts = _measure(profile, name, definition)
    entry = CatalogEntry(
        name=name, engine="mariadb", kind=definition.kind, profile=profile.name, location=snapshot_id,
        schema_hash=schema, params_hash=definition.params_hash(), seed=definition.seed, row_counts=counts,
    )
    Catalog(profile).put(entry)
    abandon_aurora_build(profile, name)
    say(f"{name}: catalogued cluster snapshot {entry.location}; build cluster {build_cluster_id(name)} deleted")
    return entry


def abandon_aurora_build(profile: "Profile", name: str) -> bool:
    """Delete the build cluster and its instances; False when there is none."""
    return delete_cluster(profile.client("rds"), build_cluster_id(name))
