from __future__ import annotations

import dataclasses

import pytest

from loadstack.profiles import load_profile
from loadstack.snapshots.catalog import (
    Catalog,
    CatalogEntry,
    SnapshotDefinition,
    SnapshotDefinitionError,
    load_definitions,
)


def test_definitions_load_and_reject_duplicates(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "snapshots:\n"
        "  shop-migrated: {engine: mariadb, kind: migrated}\n"
        "  shop-seeded: {engine: mariadb, kind: seeded, seed: {seed: 7, events: 1000}}\n"
    )
    found = load_definitions(tmp_path)
    assert sorted(found) == ["shop-migrated", "shop-seeded"]
    assert found["shop-seeded"].params_hash() == SnapshotDefinition(engine="mariadb", kind="seeded", seed={"events": 1000, "seed": 7}).params_hash()
    (tmp_path / "b.yaml").write_text("snapshots:\n  shop-seeded: {engine: mariadb, kind: seeded}\n")
    with pytest.raises(SnapshotDefinitionError, match=r"b.yaml: snapshots.shop-seeded: already defined in .*a.yaml"):
        load_definitions(tmp_path)


def test_definition_errors_name_the_file(tmp_path):
    (tmp_path / "bad.yaml").write_text("snapshots:\n  x1: {engine: postgres, kind: migrated}\n")
    with pytest.raises(SnapshotDefinitionError, match="bad.yaml"):
        load_definitions(tmp_path)


def test_entry_is_current_only_for_the_same_schema_and_params():
    definition = SnapshotDefinition(engine="mariadb", kind="seeded", seed={"events": 10})
    entry = CatalogEntry(name="s", engine="mariadb", kind="seeded", profile="local", location="k",
                         schema_hash="abc", params_hash=definition.params_hash())
    assert entry.is_current(definition, "abc")
    assert not entry.is_current(definition, "changed-schema")
    assert not entry.is_current(SnapshotDefinition(engine="mariadb", kind="seeded", seed={"events": 11}), "abc")


def test_catalog_round_trip_in_the_snapshot_bucket(tmp_path):
    from moto import mock_aws

    with mock_aws():
        profile = dataclasses.replace(load_profile({"LOADSTACK_HOME": str(tmp_path)}), endpoint_url=None)
        profile.client("s3").create_bucket(Bucket=profile.snapshot_bucket)
        catalog = Catalog(profile)
        assert catalog.get("shop-seeded") is None
        entry = CatalogEntry(name="shop-seeded", engine="mariadb", kind="seeded", profile="local",
                             location="mariadb/shop-seeded/abc.tar.zst", row_counts={"events": 5})
        catalog.put(entry)
        assert catalog.get("shop-seeded") == entry
        assert [e.name for e in catalog.entries()] == ["shop-seeded"]
