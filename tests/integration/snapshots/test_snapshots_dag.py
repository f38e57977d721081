"""The loadstack_snapshots DAG end to end on the local profile: builds what is missing, then nothing."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_builds_missing_snapshots_then_skips_current_ones(run_dag, loadstack_env, local_profile, tmp_path):
    from airflow.utils.state import DagRunState

    from loadstack.airflow.render.snapshots import build_snapshots_dag
    from loadstack.snapshots.catalog import Catalog

    (tmp_path / "snaps.yaml").write_text(
        "snapshots:\n"
        "  dag-migrated: {engine: mariadb, kind: migrated}\n"
        "  dag-seeded: {engine: mariadb, kind: seeded, seed: {seed: 3, accounts: 3, products_per_account: 3,"
        " profiles: 60, orders: 20, events: 600, start: '2026-01-01', days: 5, shards: 2}}\n"
        "  dag-cache: {engine: redis, kind: rdb, seed: {seed: 3, sessions: 40, carts: 10}}\n"
    )
    dag = build_snapshots_dag(tmp_path)
    first = run_dag(dag)
    assert first.state == DagRunState.SUCCESS
    catalog = Catalog(local_profile)
    entries = {name: catalog.get(name) for name in ("dag-migrated", "dag-seeded", "dag-cache")}
    assert all(entries.values())
    assert entries["dag-cache"].row_counts == {"keys": 50}
    assert sum(v for k, v in entries["dag-seeded"].row_counts.items() if k.startswith("events_")) == 600

    second = run_dag(dag)
    assert second.state == DagRunState.SUCCESS
    assert {name: catalog.get(name) for name in entries} == entries  # nothing rebuilt


def _asset_events(name: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (select(AssetEvent).join(AssetModel, AssetModel.id == AssetEvent.asset_id)
                 .where(AssetModel.name == name).order_by(AssetEvent.id))
        return [{"extra": event.extra, "dag": event.source_dag_id, "task": event.source_task_id}
                for event in session.scalars(query)]


def _states(run) -> dict[str, str]:
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=run.dag_id, run_id=run.run_id).all()
        return {ti.task_id: str(ti.state) for ti in tis}


def test_a_changed_definition_stops_the_stack_until_the_snapshot_dag_rebuilt_it(run_dag, loadstack_env,
                                                                                 local_profile, tmp_path):
    """Builds update the snapshot's Asset; a stack run whose snapshots are current skips the rebuild. With the
    run's rebuild_snapshots off, a stack run with an out-of-date snapshot fails before standing anything up, naming
    the snapshots DAG; once that DAG rebuilt it (a new Asset event), the stack runs again. (With it on, the run has
    the snapshots DAG rebuild it and waits: dag.test cannot run a triggered DAG, so
    tests/integration/airflow/test_snapshots_rebuild_on_airflow.py drives that on a running Airflow.)"""
    from airflow.utils.state import DagRunState

    from loadstack.airflow.operators.snapshots import snapshot_asset
    from loadstack.airflow.render import build_dag, build_teardown_dag
    from loadstack.airflow.render.snapshots import build_snapshots_dag
    from loadstack.restore.local_cache import LocalCache
    from loadstack.snapshots.catalog import load_definitions
    from loadstack.spec import load_stack

    snapshots, stacks = tmp_path / "snapshots", tmp_path / "stacks"
    snapshots.mkdir()
    stacks.mkdir()
    definition = snapshots / "fresh.yaml"
    definition.write_text("snapshots:\n  fresh-cache: {engine: redis, kind: rdb, seed: {seed: 3, sessions: 8, carts: 2}}\n")
    (stacks / "it_fresh.yaml").write_text(
        "name: it_fresh\ndescription: a cache restored from a snapshot\nowner: sre-test\nretries: 0\n"
        "steps:\n  cache: {kind: redis_restore, snapshot: fresh-cache}\n"
    )
    stack = load_stack(stacks / "it_fresh.yaml")
    asset = snapshot_asset("fresh-cache").name

    assert run_dag(build_snapshots_dag(snapshots)).state == DagRunState.SUCCESS
    [first] = _asset_events(asset)
    built_hash = load_definitions(snapshots)["fresh-cache"].params_hash()
    assert first["extra"] == {"location": first["extra"]["location"], "built": True, "params_hash": built_hash,
                              "schema_hash": ""}
    assert (first["dag"], first["task"]) == ("loadstack_snapshots", "build_fresh_cache")
    current = run_dag(build_dag(stack))
    assert current.state == DagRunState.SUCCESS
    assert {task: state for task, state in _states(current).items() if task.startswith(("snapshots-", "cache."))} == {
        "snapshots-current": "success", "snapshots-rebuild": "skipped", "cache.restore": "success"}
    assert run_dag(build_teardown_dag(stack)).state == DagRunState.SUCCESS

    # The definition changes (more sessions): the catalogued build no longer matches it.
    definition.write_text("snapshots:\n  fresh-cache: {engine: redis, kind: rdb, seed: {seed: 3, sessions: 9, carts: 2}}\n")
    stale = run_dag(build_dag(stack), run_conf={"rebuild_snapshots": False})
    assert stale.state == DagRunState.FAILED
    states = _states(stale)
    assert states["snapshots-current"] == "failed"
    assert states["snapshots-rebuild"] == states["cache.restore"] == "upstream_failed"
    assert not LocalCache(local_profile, "it_fresh", "cache").base_dir.exists()  # nothing was stood up

    assert run_dag(build_snapshots_dag(snapshots)).state == DagRunState.SUCCESS
    rebuilt = _asset_events(asset)[-1]
    assert rebuilt["extra"]["built"] is True
    assert rebuilt["extra"]["params_hash"] == load_definitions(snapshots)["fresh-cache"].params_hash() != built_hash
    fresh = run_dag(build_dag(stack))
    assert fresh.state == DagRunState.SUCCESS and _states(fresh)["snapshots-current"] == "success"
    assert run_dag(build_teardown_dag(stack)).state == DagRunState.SUCCESS
