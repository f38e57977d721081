from __future__ import annotations

import dataclasses
import time

import pytest

from loadstack.artifacts import ArtifactStore, ensure_snapshot_bucket
from loadstack.data.snapshot import SnapshotError, create_snapshot, restore_snapshot
from loadstack.profiles import load_profile

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def snapshot_archive(mariadb_server, seeded_database, tmp_path_factory):
    info = create_snapshot(mariadb_server, tmp_path_factory.mktemp("snapshots") / "seeded.tar.zst")
    return info


def _describe(conn_params) -> dict[str, tuple[str, int]]:
    """table -> (SHOW CREATE TABLE, row count)."""
    with conn_params.connect() as conn:
        cursor = conn.cursor()
        cursor.execute("SHOW TABLES")
        tables = sorted(row[0] for row in cursor.fetchall())
        described = {}
        for table in tables:
            cursor.execute(f"SHOW CREATE TABLE `{table}`")
            ddl = cursor.fetchone()[1]
            cursor.execute(f"SELECT COUNT(*) FROM `{table}`")
            described[table] = (ddl, cursor.fetchone()[0])
        cursor.execute("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
        described["(schema_migrations rows)"] = (repr(cursor.fetchall()), 0)
        return described


def test_snapshot_restores_into_a_new_server(mariadb_server, seeded_database, snapshot_archive, tmp_path, unused_port):
    conn_params, params, _ = seeded_database
    info = snapshot_archive
    assert info.path.is_file() and info.size_bytes == info.path.stat().st_size > 0
    assert info.backup_seconds > 0 and info.prepare_seconds > 0 and info.pack_seconds > 0
    assert not list(info.path.parent.glob(".snapshot-*"))  # working files cleaned up

    started = time.monotonic()
    restored = restore_snapshot(
        info.path, tmp_path / "restored", unused_port, root_password=mariadb_server.connection_params().password
    )
    restore_seconds = time.monotonic() - started
    try:
        assert restored.port != mariadb_server.port and restored.is_running()
        original = _describe(conn_params)
        copy = _describe(restored.connection_params(conn_params.database))
        assert copy == original
        assert sum(count for table, (_, count) in copy.items() if table.startswith("events_")) == params.events
        assert restore_seconds < 30, f"restore to ready took {restore_seconds:.1f} s"
        with pytest.raises(SnapshotError, match="already running"):
            restore_snapshot(info.path, tmp_path / "restored", unused_port, root_password="x")
        restored.stop()
        with pytest.raises(SnapshotError, match="not empty"):
            restore_snapshot(info.path, tmp_path / "restored", unused_port, root_password="x")
    finally:
        restored.remove()


def test_snapshot_upload_and_download_through_moto(snapshot_archive, tmp_path):
    from moto import mock_aws

    profile = dataclasses.replace(load_profile({"LOADSTACK_HOME": str(tmp_path)}), endpoint_url=None)
    with mock_aws():
        ensure_snapshot_bucket(profile)
        store = ArtifactStore.of_profile(profile)
        uploaded = store.upload(snapshot_archive.path, "mysql/seeded.tar.zst", metadata={"schema-hash": "abc"})
        assert uploaded.bucket == profile.snapshot_bucket and uploaded.size_bytes == snapshot_archive.size_bytes
        head = profile.client("s3").head_object(Bucket=profile.snapshot_bucket, Key="mysql/seeded.tar.zst")
        assert head["Metadata"] == {"schema-hash": "abc", "sha256": uploaded.sha256}
        copy = store.download("mysql/seeded.tar.zst", tmp_path / "down" / "seeded.tar.zst")
    assert copy.read_bytes() == snapshot_archive.path.read_bytes()
    assert not list(copy.parent.glob("*.partial"))
