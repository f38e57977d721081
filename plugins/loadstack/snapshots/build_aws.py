"""Build a database snapshot on the aws profile: a build cluster, migrations, seeding, a cluster snapshot.

Building outlasts any sensible task slot (Aurora takes minutes to create and to snapshot), so it is
three idempotent steps, with a wait between each (`loadstack.snapshots.aws_builder` asks for them):

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

import hashlib
import logging
import secrets
from contextlib import closing
from typing import Any, Callable

from loadstack.aws import (
    RDS_CLUSTER_ID_LIMIT,
    RDS_SNAPSHOT_ID_LIMIT,
    resource_identifier,
)
from loadstack.aws.rds import (
    BUILD_TAG,
    cluster_endpoint,
    create_build_cluster,
    create_cluster_snapshot,
    delete_cluster,
    delete_cluster_snapshot,
    describe_cluster,
    ensure_instances,
    resource_tags,
)
from loadstack.credentials import get_json_secret, put_json_secret
from loadstack.data.mariadb import ConnectionParams
from loadstack.data.migrate import (
    applied_migrations,
    discover_migrations,
    migrate,
    schema_hash,
)
from loadstack.data.params import SeedParams
from loadstack.data.seed import count_mismatches, count_rows, expected_counts, seed_all
from loadstack.profiles import Profile
from loadstack.snapshots.catalog import Catalog, CatalogEntry, SnapshotDefinition
from loadstack.snapshots.names import SNAPSHOT_DATABASE, snapshot_credentials_secret

log = logging.getLogger(__name__)

BUILD_USER = "loadstack"


class SnapshotBuildError(RuntimeError):
    """A build cluster does not hold what its snapshot would be catalogued as."""


def build_cluster_id(name: str) -> str:
    return resource_identifier(f"loadstack-build-{name}", RDS_CLUSTER_ID_LIMIT)


def build_key(definition: SnapshotDefinition, schema_hash: str) -> str:
    return f"{schema_hash[:12]}-{definition.params_hash()}"


def build_connection(endpoint: dict[str, Any], password: str) -> ConnectionParams:
    """How the worker reaches the build cluster's writer."""
    return ConnectionParams(host=endpoint["host"], port=endpoint["port"], user=endpoint["username"],
                            password=password, database=SNAPSHOT_DATABASE)


def _tags(name: str) -> dict[str, str]:
    return {"loadstack:snapshot-name": name}


def start_aurora_build(
    profile: Profile, name: str, definition: SnapshotDefinition, *, say: Callable[[str], None] = log.info
) -> str:
    """Create (or find) the build cluster and its instance; returns the cluster id to wait for."""
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


def cluster_snapshot_id(name: str, cluster: dict[str, Any]) -> str:
    """``<name>-<build key digest>-<cluster creation time>``: one per build cluster, within 63 characters.

    Derived from the cluster alone, so a retried snapshot step finds the snapshot it started and
    an abandoned build finds the snapshot to delete.
    """
    key = resource_tags(cluster).get(BUILD_TAG, "")
    created = cluster.get("ClusterCreateTime")
    if hasattr(created, "strftime"):
        stamp = created.strftime("%Y%m%d%H%M%S")
    else:
        stamp = hashlib.sha256(str(cluster.get("DBClusterArn", "")).encode()).hexdigest()[:14]
    suffix = f"{hashlib.sha256(key.encode()).hexdigest()[:10]}-{stamp}"
    return f"{resource_identifier(name, RDS_SNAPSHOT_ID_LIMIT - len(suffix) - 1)}-{suffix}"


def _require_build_cluster(profile: Profile, name: str) -> dict[str, Any]:
    cluster = describe_cluster(profile.client("rds"), build_cluster_id(name))
    if cluster is None:
        raise SnapshotBuildError(f"{name}: build cluster {build_cluster_id(name)} is gone; run the snapshots DAG again")
    return cluster


def _connection(profile: Profile, name: str) -> ConnectionParams:
    password = get_json_secret(profile, snapshot_credentials_secret(name))["password"]
    return build_connection(cluster_endpoint(profile.client("rds"), build_cluster_id(name), manage_secret=False), password)


def load_and_snapshot(
    profile: Profile, name: str, definition: SnapshotDefinition, *, say: Callable[[str], None] = log.info
) -> str:
    """Migrate and seed the available build cluster, then start its snapshot; returns the snapshot id."""
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
    snapshot_id = cluster_snapshot_id(name, _require_build_cluster(profile, name))
    create_cluster_snapshot(profile.client("rds"), cluster_id, snapshot_id, tags=_tags(name))
    say(f"{name}: snapshotting {cluster_id} as {snapshot_id}")
    return snapshot_id


def _verify(profile: Profile, name: str, definition: SnapshotDefinition) -> tuple[str, dict[str, int]]:
    """What the build cluster (and so its snapshot) holds is what the definition asks for today.

    The wait for the snapshot can take hours, during which the code or the definition may change;
    the catalog must describe the snapshot, not the worker. Returns the schema hash and row counts.
    """
    cluster_id = build_cluster_id(name)
    wanted = build_key(definition, schema_hash())
    built = resource_tags(_require_build_cluster(profile, name)).get(BUILD_TAG)
    if built != wanted:
        abandon_aurora_build(profile, name)
        raise SnapshotBuildError(
            f"{name}: the schema or seed parameters changed while {cluster_id} was building ({built} -> {wanted}); "
            "its snapshot was not catalogued and is deleted with the cluster: run the snapshots DAG again"
        )
    with closing(_connection(profile, name).connect()) as conn:
        applied = {version: checksum for version, (_, checksum) in applied_migrations(conn).items()}
        on_disk = {m.version: m.checksum for m in discover_migrations()}
        if applied != on_disk:
            raise SnapshotBuildError(
                f"{name}: {cluster_id} records migrations {sorted(applied)} but the code has {sorted(on_disk)} "
                "(or their checksums differ): run the snapshots DAG again"
            )
        counts: dict[str, int] = {}
        if definition.kind == "seeded":
            expected = expected_counts(SeedParams.from_dict(definition.seed))
            counts = count_rows(conn, expected)
            if wrong := count_mismatches(expected, counts):
                raise SnapshotBuildError(f"{name}: {cluster_id} row counts differ from the dataset: {wrong}")
    return schema_hash(), counts


def finish_aurora_build(
    profile: Profile,
    name: str,
    definition: SnapshotDefinition,
    snapshot_id: str,
    *,
    say: Callable[[str], None] = log.info,
) -> CatalogEntry:
    """Check the build, catalogue the available snapshot, then delete the build cluster."""
    schema, counts = _verify(profile, name, definition)
    entry = CatalogEntry(
        name=name, engine="mariadb", kind=definition.kind, profile=profile.name, location=snapshot_id,
        schema_hash=schema, params_hash=definition.params_hash(), seed=definition.seed, row_counts=counts,
    )
    Catalog(profile).put(entry)
    abandon_aurora_build(profile, name)
    say(f"{name}: catalogued cluster snapshot {entry.location}; build cluster {build_cluster_id(name)} deleted")
    return entry


def abandon_aurora_build(profile: Profile, name: str) -> bool:
    """Delete the build cluster, and its snapshot unless the catalog records it; False when none.

    Idempotent: called after cataloguing, by a run that finds the snapshot already current (a
    previous try catalogued it but failed to delete), and by the last failed try.
    """
    client = profile.client("rds")
    cluster = describe_cluster(client, build_cluster_id(name))
    if cluster is None or BUILD_TAG not in resource_tags(cluster):
        return False  # none, or not ours: a cluster loadstack did not build is never deleted
    snapshot_id = cluster_snapshot_id(name, cluster)
    entry = Catalog(profile).get(name)
    if entry is None or entry.location != snapshot_id:
        delete_cluster_snapshot(client, snapshot_id)
    delete_cluster(client, build_cluster_id(name))
    return True
