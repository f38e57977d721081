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
