"""Build a logical snapshot for the local profile and record it in the catalog.

mariadb: an empty private server, the migrations, (seeded) the full seeding job, then a prepared
mariadb-backup packed as .tar.zst in the snapshot bucket. redis: an RDB of the session and cart
caches, generated from its seed and (with a `source`) the seeded snapshot's dataset plan, so that
its profiles, accounts and products are the database's. The catalog entry is written last: it is the
commit point, so an interrupted build leaves the previous entry (if any) in force.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import time
from typing import Callable

from loadstack.artifacts import ArtifactStore, ensure_snapshot_bucket
from loadstack.cache.rdb import (
    build_rdb,
    commerce_cache_records,
    rdb_object_key,
)
from loadstack.credentials import put_json_secret
from loadstack.data.mariadb import MariaDBServer
from loadstack.data.migrate import migrate
from loadstack.data.params import SeedParams
from loadstack.data.plan import plan_for
from loadstack.data.seed import seed_all
from loadstack.data.snapshot import create_snapshot
from loadstack.profiles import Profile
from loadstack.snapshots.catalog import (
    REDIS_SEED_KEYS,
    SOURCED_REDIS_SEED_KEYS,
    Catalog,
    CatalogEntry,
    SnapshotDefinition,
)
from loadstack.snapshots.names import SNAPSHOT_DATABASE, snapshot_credentials_secret
from loadstack.supervisor import free_port

log = logging.getLogger(__name__)


def build_id() -> str:
    """Unique per build: artifacts are immutable, so caches and "same artifact" checks can trust a key."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def build_mariadb_snapshot(
    profile: Profile, name: str, definition: SnapshotDefinition, *, say: Callable[[str], None] = log.info
) -> CatalogEntry:
    work = profile.data_dir / "build" / name[:40]
    shutil.rmtree(work, ignore_errors=True)
    password = secrets.token_urlsafe(24)
    server = MariaDBServer(base_dir=work / "db", port=free_port(), root_password=password)
    started = time.monotonic()
    try:
        server.initialize()
        server.start()
        server.wait_ready(120)
        server.set_root_password()
        server.create_database(SNAPSHOT_DATABASE)
        conn = server.connect(SNAPSHOT_DATABASE)
        try:
            migrated = migrate(conn)
        finally:
            conn.close()
        say(f"{name}: {len(migrated.applied)} migrations applied, schema {migrated.schema_hash[:12]}")
        counts: dict[str, int] = {}
        if definition.kind == "seeded":
            params = SeedParams.from_dict(definition.seed)
            counts = seed_all(server.connection_params(SNAPSHOT_DATABASE), params, progress=lambda p: say(str(p)))
            say(f"{name}: seeded {sum(counts.values()):,} rows")
        info = create_snapshot(server, work / f"{name}.tar.zst")
        say(f"{name}: snapshot {info.size_bytes / 1e6:.1f} MB in {info.total_seconds:.1f} s")
        key = f"mariadb/{name}/{migrated.schema_hash[:12]}-{definition.params_hash()}-{build_id()}.tar.zst"
        ensure_snapshot_bucket(profile)
        ArtifactStore.of_profile(profile).upload(info.path, key)
        put_json_secret(profile, snapshot_credentials_secret(name), {"username": "root", "password": password},
                        description=f"root of the {name} snapshot")
        entry = CatalogEntry(
            name=name, engine="mariadb", kind=definition.kind, profile=profile.name, location=key,
            schema_hash=migrated.schema_hash, params_hash=definition.params_hash(), seed=definition.seed,
            row_counts=counts, size_bytes=info.size_bytes,
        )
        Catalog(profile).put(entry)
        say(f"{name}: built and catalogued in {time.monotonic() - started:.1f} s (s3://{profile.snapshot_bucket}/{key})")
        return entry
    finally:
        server.remove()
        shutil.rmtree(work, ignore_errors=True)


def build_redis_snapshot(
    profile: Profile, name: str, definition: SnapshotDefinition, *, say: Callable[[str], None] = log.info
) -> CatalogEntry:
    """An RDB of the commerce cache; with `definition.source`, of that seeded snapshot's data.

    Sourced: sessions are of the source's profiles and accounts, carts hold its products (real SKUs
    and prices), so the cache agrees with a database restored from the source.
    """
    unknown = sorted(set(definition.seed) - set(REDIS_SEED_KEYS))
    if unknown:
        raise ValueError(f"{name}: unknown seed keys {', '.join(unknown)} (known: {', '.join(REDIS_SEED_KEYS)})")
    params = dict(definition.seed)
    recorded = dict(definition.seed)
    if definition.source is not None:
        clash = [key for key in SOURCED_REDIS_SEED_KEYS if key in params]
        if clash:
            raise ValueError(
                f"{name}: seed keys {', '.join(clash)} come from the source {definition.source} "
                "(its profiles, accounts and products); remove them"
            )
        if not definition.source_seed:
            raise ValueError(
                f"{name}: source {definition.source} but no source_seed: load the definition with "
                "loadstack.snapshots.catalog.load_definitions, which fills it in"
            )
        params["plan"] = plan_for(SeedParams.from_dict(definition.source_seed))
        recorded["source"] = definition.source
    work = profile.data_dir / "build" / name[:40]
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        records = commerce_cache_records(params.pop("seed"), params.pop("sessions"), params.pop("carts"), **params)
        built = build_rdb(records, work / f"{name}.rdb", work_dir=work)
        key = rdb_object_key(f"{name}/{definition.params_hash()}-{build_id()}")
        ensure_snapshot_bucket(profile)
        ArtifactStore.of_profile(profile).upload(built.path, key)
        entry = CatalogEntry(
            name=name, engine="redis", kind="rdb", profile=profile.name, location=key,
            params_hash=definition.params_hash(), seed=recorded, row_counts={"keys": built.keys},
            size_bytes=built.size_bytes,
        )
        Catalog(profile).put(entry)
        say(f"{name}: {built.keys:,} keys, {built.size_bytes / 1e6:.1f} MB RDB in {built.total_seconds:.1f} s "
            f"(s3://{profile.snapshot_bucket}/{key})")
        return entry
    finally:
        shutil.rmtree(work, ignore_errors=True)
