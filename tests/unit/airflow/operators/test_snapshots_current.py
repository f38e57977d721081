"""SnapshotsCurrentOperator on moto's in-process S3: a run goes on at once when every snapshot it restores is
current; a stale one is handed to the rebuild, or fails the run when the run's rebuild_snapshots is off."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from loadstack.airflow.operators.snapshots_current import SnapshotsCurrentOperator
from loadstack.data.migrate import schema_hash
from loadstack.profiles import Profile
from loadstack.snapshots.catalog import Catalog, CatalogEntry, load_definitions

SNAPSHOTS = Path(__file__).resolve().parents[3] / "fixtures" / "snapshots"


@pytest.fixture
def catalog(tmp_path, mocked_aws) -> Catalog:
    profile = Profile(name="aws", region="us-east-1", state_bucket="state", home=tmp_path, terraform_bin="terraform",
                      plugin_mirror=tmp_path, snapshot_bucket="snapshots")
    profile.client("s3").create_bucket(Bucket="snapshots")
    return Catalog(profile)


def built(catalog: Catalog, name: str, *, params_hash: str | None = None) -> None:
    definition = load_definitions(SNAPSHOTS)[name]
    catalog.put(CatalogEntry(name=name, engine=definition.engine, kind=definition.kind, profile="aws",
                             location=f"loc-{name}", schema_hash=schema_hash(),
                             params_hash=params_hash or definition.params_hash(), built_at="2026-11-30T08:00:00+00:00"))


def check(catalog: Catalog, snapshots: dict[str, str], rebuild: str = "False") -> SnapshotsCurrentOperator:
    op = SnapshotsCurrentOperator(task_id="snapshots-current", stack="shop", snapshots=snapshots,
                                  snapshots_dir=str(SNAPSHOTS), rebuild=rebuild)
    op.__dict__["profile"] = catalog.profile
    return op


def test_current_snapshots_let_the_run_go_on(catalog):
    built(catalog, "fx-seeded")
    built(catalog, "fx-cache")
    result = check(catalog, {"db": "fx-seeded", "cache": "fx-cache"}, rebuild="True").execute({})
    assert result == {"current": {
        "cache": {"snapshot": "fx-cache", "location": "loc-fx-cache", "built_at": "2026-11-30T08:00:00+00:00"},
        "db": {"snapshot": "fx-seeded", "location": "loc-fx-seeded", "built_at": "2026-11-30T08:00:00+00:00"},
    }, "stale": {}}


def test_with_rebuild_snapshots_off_a_changed_definition_fails_the_run_naming_each_snapshot_and_the_dag(catalog):
    built(catalog, "fx-seeded", params_hash="built-from-an-older-seed")
    with pytest.raises(AirflowFailException) as failed:
        check(catalog, {"db": "fx-seeded", "cache": "fx-cache"}).execute({})
    lines = str(failed.value).splitlines()
    assert lines[0] == ("shop: not every snapshot is current, so nothing was stood up (this run's rebuild_snapshots "
                        "is off; leave it on to have the run rebuild them first):")
    assert lines[1].startswith("step cache: snapshot 'fx-cache' is not built for the aws profile: trigger the "
                               "loadstack_snapshots DAG")
    assert lines[2].startswith("step db: snapshot 'fx-seeded' is out of date (schema or seed parameters changed) "
                               "for the aws profile: trigger the loadstack_snapshots DAG")


def test_with_rebuild_snapshots_on_the_stale_snapshots_are_returned_for_the_rebuild(catalog):
    built(catalog, "fx-seeded", params_hash="built-from-an-older-seed")
    built(catalog, "fx-cache")
    result = check(catalog, {"db": "fx-seeded", "cache": "fx-cache", "missing": "fx-migrated"}, rebuild="True").execute({})
    assert list(result["current"]) == ["cache"]
    assert {step: found["snapshot"] for step, found in result["stale"].items()} == {
        "db": "fx-seeded", "missing": "fx-migrated"}
    assert "is out of date (schema or seed parameters changed)" in result["stale"]["db"]["reason"]
    assert "is not built" in result["stale"]["missing"]["reason"]


@pytest.mark.parametrize("rebuild", ["True", "False"])
def test_a_snapshot_no_definition_names_fails_whatever_rebuild_snapshots_says(catalog, rebuild):
    with pytest.raises(AirflowFailException, match=r"(?s)a snapshot no build can make.*step db: snapshot "
                                                   r"'fx-gone' is not defined in .*define it there or choose another"):
        check(catalog, {"db": "fx-gone"}, rebuild=rebuild).execute({})
