"""Build migrated and seeded snapshots, then restore them as a stack step's own server (local profile)."""

from __future__ import annotations

import pytest

from loadstack.credentials import get_json_secret
from loadstack.data.params import SeedParams
from loadstack.data.seed import count_rows as counts
from loadstack.data.seed import expected_counts
from loadstack.restore.local_database import LocalDatabase
from loadstack.snapshots.build_local import build_mariadb_snapshot
from loadstack.snapshots.catalog import Catalog, SnapshotDefinition

pytestmark = pytest.mark.integration
SMALL = {"seed": 7, "accounts": 5, "products_per_account": 4, "profiles": 400, "orders": 200, "events": 12_000,
         "start": "2026-01-01", "days": 10, "shards": 4}


def connect(profile, outputs):
    import mysql.connector

    secret = get_json_secret(profile, outputs["secret_id"])
    return mysql.connector.connect(host=outputs["host"], port=outputs["port"], user=outputs["username"],
                                   password=secret["password"], database=outputs["database"])


def test_build_restore_reuse_replace_teardown(local_profile):
    seeded_def = SnapshotDefinition(engine="mariadb", kind="seeded", seed=SMALL)
    migrated_def = SnapshotDefinition(engine="mariadb", kind="migrated")
    seeded = build_mariadb_snapshot(local_profile, "it-seeded", seeded_def)
    migrated = build_mariadb_snapshot(local_profile, "it-migrated", migrated_def)
    catalog = Catalog(local_profile)
    assert catalog.get("it-seeded") == seeded
    expected = expected_counts(SeedParams.from_dict(SMALL))
    assert seeded.row_counts == expected

    db = LocalDatabase(local_profile, "it", "events_db")
    first = db.restore(seeded)
    assert "password" not in str(first)
    # The artifact was uploaded with its SHA-256, and the local copy is vouched for by the same hash.
    head = local_profile.client("s3").head_object(Bucket=local_profile.snapshot_bucket, Key=seeded.location)
    cached = local_profile.data_dir / "snapshots" / seeded.location.replace("/", "_")
    assert cached.with_name(cached.name + ".sha256").read_text().strip() == head["Metadata"]["sha256"]
    conn = connect(local_profile, first)
    try:
        assert counts(conn, expected) == expected
    finally:
        conn.close()

    again = db.restore(seeded)
    assert again == first  # same server, reused

    replaced = db.restore(migrated)
    assert replaced["snapshot"] == "it-migrated" and replaced["snapshot_kind"] == "migrated"
    conn = connect(local_profile, replaced)
    try:
        assert set(counts(conn, expected).values()) == {0}
    finally:
        conn.close()

    assert db.teardown() is True
    assert not db.base_dir.exists()
    assert db.teardown() is False
