"""SnapshotBuildOperator with the profile's builder mocked: reuse, deferral through the builder's phases,
and the last try's clean-up (also when Airflow fails the task without calling execute_complete)."""

from __future__ import annotations

from unittest import mock

import pytest
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
from airflow.sdk.exceptions import TaskDeferralTimeout, TaskDeferred

from loadstack.airflow.operators import snapshots as snapshot_operators
from loadstack.airflow.operators.snapshots import BUILD_WAIT_TIMEOUT, SnapshotBuildOperator, snapshot_asset
from loadstack.airflow.triggers.aws import RdsClusterAvailableTrigger, RdsClusterSnapshotAvailableTrigger
from loadstack.backends import Backends
from loadstack.snapshots.builder import SnapshotBuilder
from loadstack.snapshots.catalog import CatalogEntry, SnapshotDefinition
from loadstack.waits import RDS_CLUSTER_AVAILABLE, RDS_CLUSTER_SNAPSHOT_AVAILABLE, Ready, Wait, WaitEvent, WaitFailed

DEFINITION = {"engine": "mariadb", "kind": "migrated"}
BUILT = {"snapshot": "shop-migrated", "location": "snap-1", "built": True}


@pytest.fixture
def builder(monkeypatch):
    built = mock.create_autospec(SnapshotBuilder, instance=True)
    built.leftover.return_value = "build cluster loadstack-build-shop-migrated"
    backends = mock.create_autospec(Backends, instance=True)
    backends.snapshots.return_value = built
    monkeypatch.setattr(snapshot_operators, "backends_for", mock.Mock(return_value=backends))
    return built


@pytest.fixture
def catalog(monkeypatch):
    """The catalog's entry for the snapshot (None: not built yet)."""
    found = mock.Mock(return_value=None)
    monkeypatch.setattr(snapshot_operators, "Catalog", lambda profile: mock.Mock(get=found))
    monkeypatch.setattr(snapshot_operators, "schema_hash", lambda: "schema")
    return found


def build_operator(profile, rebuild=False) -> SnapshotBuildOperator:
    op = SnapshotBuildOperator(task_id="build_shop_migrated", snapshot="shop-migrated", definition=DEFINITION,
                               rebuild=rebuild, retries=1)
    op.__dict__["profile"] = profile
    return op


def current_entry() -> CatalogEntry:
    definition = SnapshotDefinition.model_validate(DEFINITION)
    return CatalogEntry(name="shop-migrated", engine="mariadb", kind="migrated", profile="aws", location="snap-0",
                        schema_hash="schema", params_hash=definition.params_hash())


def test_a_current_snapshot_is_reused_and_a_leftover_cleaned_up(profile, builder, catalog, make_context):
    catalog.return_value = current_entry()
    builder.clean_up.return_value = "build cluster loadstack-build-shop-migrated"
    result = build_operator(profile).execute(make_context())
    assert result == {"snapshot": "shop-migrated", "location": "snap-0", "built": False}
    builder.build.assert_not_called()
    builder.clean_up.assert_called_once_with("shop-migrated", SnapshotDefinition.model_validate(DEFINITION))


def test_rebuild_builds_even_a_current_snapshot(profile, builder, catalog, make_context):
    catalog.return_value = current_entry()
    builder.build.return_value = Ready(BUILT)
    assert build_operator(profile, rebuild="True").execute(make_context()) == BUILT
    builder.clean_up.assert_not_called()


def test_each_wait_defers_and_execute_complete_follows_the_phases(profile, builder, catalog, make_context):
    builder.build.return_value = Wait(RDS_CLUSTER_AVAILABLE, {"cluster_id": "loadstack-build-shop-migrated"},
                                      "build_cluster_ready")
    op = build_operator(profile)
    with pytest.raises(TaskDeferred) as first:
        op.execute(make_context())
    assert isinstance(first.value.trigger, RdsClusterAvailableTrigger)
    assert first.value.trigger.resume_at == "build_cluster_ready"
    assert first.value.method_name == "execute_complete" and first.value.timeout == BUILD_WAIT_TIMEOUT

    builder.resume.return_value = Wait(RDS_CLUSTER_SNAPSHOT_AVAILABLE, {"snapshot_id": "snap-1"},
                                       "cluster_snapshot_ready")
    ready = {"status": "success", "cluster_id": "loadstack-build-shop-migrated", "resume_at": "build_cluster_ready"}
    with pytest.raises(TaskDeferred) as second:
        op.resume_execution("execute_complete", {"event": ready}, make_context())
    assert isinstance(second.value.trigger, RdsClusterSnapshotAvailableTrigger)
    assert second.value.trigger.resume_at == "cluster_snapshot_ready" and second.value.timeout == BUILD_WAIT_TIMEOUT
    assert builder.resume.call_args.args[2] == WaitEvent(
        phase="build_cluster_ready", succeeded=True, values={"cluster_id": "loadstack-build-shop-migrated"})

    builder.resume.return_value = Ready(BUILT)
    done = {"status": "success", "snapshot_id": "snap-1", "resume_at": "cluster_snapshot_ready"}
    assert op.resume_execution("execute_complete", {"event": done}, make_context()) == BUILT
    builder.clean_up.assert_not_called()


def test_a_failed_try_keeps_the_leftover_for_the_retry(profile, builder, catalog, make_context):
    builder.resume.side_effect = WaitFailed("building shop-migrated in loadstack-build-shop-migrated: stuck")
    failed = {"status": "error", "message": "stuck", "resume_at": "build_cluster_ready"}
    with pytest.raises(WaitFailed, match="stuck"):
        build_operator(profile).resume_execution("execute_complete", {"event": failed},
                                                 make_context(try_number=1, max_tries=1))
    builder.clean_up.assert_not_called()


def test_the_last_try_cleans_up_even_when_the_trigger_timed_out(profile, builder, catalog, make_context):
    with pytest.raises(TaskDeferralTimeout):
        build_operator(profile).resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT},
                                                 make_context(try_number=2, max_tries=1))
    builder.resume.assert_not_called()
    builder.clean_up.assert_called_once_with("shop-migrated", SnapshotDefinition.model_validate(DEFINITION))


def test_a_builder_that_leaves_nothing_has_nothing_cleaned_up(profile, builder, catalog, make_context):
    builder.leftover.return_value = None
    builder.build.side_effect = RuntimeError("mariadb-backup failed")
    with pytest.raises(RuntimeError, match="mariadb-backup failed"):
        build_operator(profile).execute(make_context(try_number=2, max_tries=1))
    builder.clean_up.assert_not_called()


def test_a_build_and_a_reuse_both_say_on_the_snapshots_asset_what_the_catalog_holds(profile, builder, catalog,
                                                                                     make_context):
    hashes = {"params_hash": SnapshotDefinition.model_validate(DEFINITION).params_hash(), "schema_hash": "schema"}
    builder.build.return_value = Ready(BUILT)
    built = make_context()
    build_operator(profile).execute(built)
    assert built["outlet_events"][snapshot_asset("shop-migrated")].extra == {"location": "snap-1", "built": True,
                                                                            **hashes}
    catalog.return_value = current_entry()
    reused = make_context()
    build_operator(profile).execute(reused)
    assert reused["outlet_events"][snapshot_asset("shop-migrated")].extra == {"location": "snap-0", "built": False,
                                                                             **hashes}


def test_the_extra_of_a_build_that_deferred_is_set_when_it_completes(profile, builder, catalog, make_context):
    builder.build.return_value = Wait(RDS_CLUSTER_AVAILABLE, {"cluster_id": "c"}, "build_cluster_ready")
    op = build_operator(profile)
    with pytest.raises(TaskDeferred):
        op.execute(make_context())
    builder.resume.return_value = Ready(BUILT)
    done = make_context()
    op.resume_execution("execute_complete", {"event": {"status": "success", "resume_at": "build_cluster_ready"}}, done)
    assert done["outlet_events"][snapshot_asset("shop-migrated")].extra["location"] == "snap-1"


def test_one_asset_per_snapshot_definition():
    assert snapshot_asset("shop-seeded") == snapshot_asset("shop-seeded") != snapshot_asset("shop-cache")
    assert snapshot_asset("shop-seeded").name == "loadstack-snapshot.shop-seeded"
