from __future__ import annotations

import dataclasses
import hashlib
import json

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


def test_a_snapshot_name_with_a_trailing_line_break_is_refused_on_one_line(tmp_path):
    (tmp_path / "a.yaml").write_text('snapshots:\n  "shop-seeded\\n": {engine: mariadb, kind: migrated}\n')
    with pytest.raises(SnapshotDefinitionError) as caught:
        load_definitions(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path / 'a.yaml'}: snapshots.shop-seeded\\n: name 'shop-seeded\\n' must match ^[a-z][a-z0-9-]{{1,62}}$"
    )


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


SEEDED = "  db-seeded: {engine: mariadb, kind: seeded, seed: {seed: 7, accounts: 3, profiles: 50}}\n"


def _source_error(tmp_path, lines: str) -> str:
    (tmp_path / "s.yaml").write_text("snapshots:\n" + SEEDED + "  db-migrated: {engine: mariadb, kind: migrated}\n" + lines)
    with pytest.raises(SnapshotDefinitionError) as caught:
        load_definitions(tmp_path)
    return str(caught.value)


def test_a_cache_source_must_be_a_seeded_mariadb_snapshot(tmp_path):
    path = tmp_path / "s.yaml"
    assert _source_error(tmp_path, "  c1: {engine: redis, kind: rdb, source: db-sede}\n") == (
        f"{path}: snapshots.c1.source: unknown snapshot 'db-sede' (seeded mariadb snapshots: db-seeded); "
        "name one of them or remove source"
    )
    assert _source_error(tmp_path, "  c1: {engine: redis, kind: rdb, source: db-migrated}\n") == (
        f"{path}: snapshots.c1.source: snapshot 'db-migrated' is a mariadb migrated snapshot; a source must be "
        "a mariadb seeded snapshot (seeded mariadb snapshots: db-seeded)"
    )
    assert _source_error(tmp_path, "  c0: {engine: redis, kind: rdb}\n  c1: {engine: redis, kind: rdb, source: c0}\n") == (
        f"{path}: snapshots.c1.source: snapshot 'c0' is a redis rdb snapshot; a source must be "
        "a mariadb seeded snapshot (seeded mariadb snapshots: db-seeded)"
    )
    assert _source_error(tmp_path, "  db2: {engine: mariadb, kind: seeded, source: db-seeded}\n") == (
        f"{path}: snapshots.db2.source: only redis snapshots take a source (the seeded mariadb snapshot they "
        "reflect); remove it from this mariadb seeded snapshot"
    )
    assert _source_error(tmp_path, "  c1: {engine: redis, kind: rdb, source: db-seeded, source_seed: {seed: 7}}\n") == (
        f"{path}: snapshots.c1.source_seed: is filled in from the source snapshot's seed; "
        "remove it (name the seeded snapshot in `source` instead)"
    )
    # Even empty, and even without a source: only the loader fills it in.
    assert "snapshots.c1.source_seed: is filled in" in _source_error(tmp_path, "  c1: {engine: redis, kind: rdb, source_seed: {}}\n")


def test_a_source_in_another_file_fills_source_seed_and_survives_model_dump(tmp_path):
    (tmp_path / "a.yaml").write_text("snapshots:\n  c1: {engine: redis, kind: rdb, source: db-seeded, seed: {seed: 1, sessions: 3, carts: 2}}\n")
    (tmp_path / "b.yaml").write_text("snapshots:\n" + SEEDED)
    found = load_definitions(tmp_path)
    cache = found["c1"]
    assert cache.source == "db-seeded" and cache.source_seed == {"seed": 7, "accounts": 3, "profiles": 50}
    assert found["db-seeded"].source is None and found["db-seeded"].source_seed == {}
    again = SnapshotDefinition.model_validate(cache.model_dump())  # how operators receive it
    assert again == cache and again.params_hash() == cache.params_hash()


def test_the_source_seed_counts_in_the_cache_params_hash(tmp_path):
    (tmp_path / "a.yaml").write_text("snapshots:\n" + SEEDED + "  c1: {engine: redis, kind: rdb, source: db-seeded, seed: {seed: 1, sessions: 3, carts: 2}}\n")
    before = load_definitions(tmp_path)["c1"]
    unsourced = SnapshotDefinition(engine="redis", kind="rdb", seed={"seed": 1, "sessions": 3})
    assert before.params_hash() != unsourced.params_hash()
    entry = CatalogEntry(name="c1", engine="redis", kind="rdb", profile="local", location="k", params_hash=before.params_hash())
    assert entry.is_current(before, "any-schema")

    (tmp_path / "a.yaml").write_text("snapshots:\n" + SEEDED.replace("seed: 7", "seed: 8") + "  c1: {engine: redis, kind: rdb, source: db-seeded, seed: {seed: 1, sessions: 3, carts: 2}}\n")
    after = load_definitions(tmp_path)["c1"]
    assert after.seed == before.seed and after.source_seed["seed"] == 8
    assert after.params_hash() != before.params_hash()
    assert not entry.is_current(after, "any-schema")
    # A definition without a source keeps the hash of its seed alone (catalog entries stay current).
    assert unsourced.params_hash() == hashlib.sha256(json.dumps({"seed": 1, "sessions": 3}, sort_keys=True).encode()).hexdigest()[:16]


def test_the_shop_cache_is_sourced_from_shop_seeded():
    from pathlib import Path

    definitions = load_definitions(Path(__file__).resolve().parents[3] / "include" / "snapshots")
    assert definitions["shop-cache"].source == "shop-seeded"
    assert definitions["shop-cache"].source_seed == definitions["shop-seeded"].seed


def test_a_sourced_cache_build_refuses_profiles_and_accounts():
    from loadstack.snapshots.build_local import build_redis_snapshot

    definition = SnapshotDefinition(engine="redis", kind="rdb", source="db-seeded", source_seed={"seed": 7},
                                    seed={"seed": 1, "sessions": 3, "carts": 1, "profiles": 10, "accounts": 2})
    with pytest.raises(ValueError, match=r"^c1: seed keys profiles, accounts come from the source db-seeded "
                       r"\(its profiles, accounts and products\); remove them$"):
        build_redis_snapshot(None, "c1", definition)
    bare = SnapshotDefinition(engine="redis", kind="rdb", source="db-seeded", seed={"seed": 1, "sessions": 3, "carts": 1})
    with pytest.raises(ValueError, match=r"^c1: source db-seeded but no source_seed: load the definition with"):
        build_redis_snapshot(None, "c1", bare)


def test_a_bad_definitions_file_names_file_field_and_fix_per_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("snapshots:\n  x-seeded:\n    engin: mariadb\n    kind: seeded\n  y-cache: {engine: redis, kind: rdbx}\n")
    with pytest.raises(SnapshotDefinitionError) as caught:
        load_definitions(tmp_path)
    assert str(caught.value).splitlines() == [
        f"{path}: snapshots.x-seeded.engine: required key 'engine' is missing; add it",
        f"{path}: snapshots.x-seeded.engin: unknown key 'engin' (did you mean 'engine'?)",
        f"{path}: snapshots.y-cache.kind: Input should be 'migrated', 'seeded' or 'rdb' (got 'rdbx')",
    ]
    path.write_text("snapshots:\n  x: [1\n")
    with pytest.raises(SnapshotDefinitionError, match=r"bad.yaml: invalid YAML: line 3, column 1: expected ','"):
        load_definitions(tmp_path)


def test_a_cache_seed_is_checked_when_definitions_load(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("snapshots:\n" + SEEDED
                    + "  c1: {engine: redis, kind: rdb, source: db-seeded, seed: {seed: 1, carts: 2, profiles: 9, sesions: 3}}\n")
    with pytest.raises(SnapshotDefinitionError) as caught:
        load_definitions(tmp_path)
    assert str(caught.value).splitlines() == [
        f"{path}: snapshots.c1.seed.sesions: unknown seed key (known: seed, sessions, carts, profiles, accounts, skus, "
        "max_cart_items); remove it",
        f"{path}: snapshots.c1.seed.sessions: required seed key is missing; add it",
        f"{path}: snapshots.c1.seed.profiles: comes from the source db-seeded (its profiles, accounts and products); "
        "remove it",
    ]
