"""current_entry: a restore uses the profile's catalogued build only if it matches its definition today."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadstack.data.migrate import schema_hash
from loadstack.profiles import Profile
from loadstack.snapshots.catalog import Catalog, CatalogEntry, load_definitions
from loadstack.snapshots.current import SnapshotNotReady, current_entry, sort_by_currency

SNAPSHOTS = Path(__file__).resolve().parents[2] / "fixtures" / "snapshots"


@pytest.fixture
def profile(tmp_path, monkeypatch) -> Profile:
    from moto import mock_aws  # moto is a test-only dependency

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        profile = Profile(name="aws", region="us-east-1", state_bucket="state", home=tmp_path,
                          terraform_bin="terraform", plugin_mirror=tmp_path, snapshot_bucket="snapshots")
        profile.client("s3").create_bucket(Bucket="snapshots")
        yield profile


def entry(params_hash: str) -> CatalogEntry:
    return CatalogEntry(name="fx-seeded", engine="mariadb", kind="seeded", profile="aws", location="snap-1",
                        schema_hash=schema_hash(), params_hash=params_hash)


def test_a_current_build_is_returned(profile):
    wanted = entry(load_definitions(SNAPSHOTS)["fx-seeded"].params_hash())
    Catalog(profile).put(wanted)
    assert current_entry(profile, "fx-seeded", SNAPSHOTS).location == "snap-1"


def test_an_undefined_snapshot_names_the_known_ones(profile):
    with pytest.raises(SnapshotNotReady, match=r"snapshot 'nope' is not defined in .*snapshots \(known: fx-badseed"):
        current_entry(profile, "nope", SNAPSHOTS)


def test_a_missing_or_outdated_build_says_to_run_the_snapshots_dag(profile):
    with pytest.raises(SnapshotNotReady, match="^snapshot 'fx-seeded' is not built for the aws profile: trigger the "
                                               r"loadstack_snapshots DAG \(make demo does so before the stack\)$"):
        current_entry(profile, "fx-seeded", SNAPSHOTS)
    Catalog(profile).put(entry("another-seed"))
    with pytest.raises(SnapshotNotReady, match="'fx-seeded' is out of date \\(schema or seed parameters changed\\)"):
        current_entry(profile, "fx-seeded", SNAPSHOTS)


def test_steps_are_sorted_into_current_and_stale_with_the_reason(profile):
    Catalog(profile).put(entry(load_definitions(SNAPSHOTS)["fx-seeded"].params_hash()))
    current, stale = sort_by_currency(profile, {"db": "fx-seeded", "other": "nope"}, SNAPSHOTS)
    assert {step: found.location for step, found in current.items()} == {"db": "snap-1"}
    assert list(stale) == ["other"] and stale["other"]["snapshot"] == "nope"
    assert stale["other"]["reason"].startswith("snapshot 'nope' is not defined")
