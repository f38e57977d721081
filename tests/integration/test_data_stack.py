"""The data tier through Airflow (dag.test): restore from a catalogued snapshot, seed when needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadstack.restore.local_cache import LocalCache
from loadstack.restore.local_database import LocalDatabase
from loadstack.spec import load_stack

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def results(run):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(run_id=run.run_id, key="return_value").all()
        return {(row.task_id, row.map_index): row.value for row in rows}


def test_restore_seed_rerun_and_teardown(run_dag, loadstack_env, local_profile):
    from airflow.utils.state import DagRunState

    from loadstack.airflow.render import build_dag, build_teardown_dag
    from loadstack.data.params import SeedParams
    from loadstack.data.seed import expected_counts
    from loadstack.snapshots.build_local import build_mariadb_snapshot, build_redis_snapshot
    from loadstack.snapshots.catalog import load_definitions

    definitions = load_definitions(FIXTURES / "snapshots")
    for name in ("fx-seeded", "fx-migrated"):
        build_mariadb_snapshot(local_profile, name, definitions[name])
    cache_entry = build_redis_snapshot(local_profile, "fx-cache", definitions["fx-cache"])
    assert cache_entry.row_counts == {"keys": 15}  # 10 sessions + 5 carts
    expected = expected_counts(SeedParams.from_dict(definitions["fx-seeded"].seed))
    stack = load_stack(FIXTURES / "it_stacks" / "it_data.yaml", modules_dir=FIXTURES / "tf_modules")
    dag = build_dag(stack)
    assert dag.params.get_param("db_snapshot").schema["enum"] == ["fx-seeded", "fx-migrated"]

    seeded = run_dag(dag)
    assert seeded.state == DagRunState.SUCCESS
    out = results(seeded)
    assert out[("db.restore", -1)]["snapshot"] == "fx-seeded"
    assert "password" not in str(out[("db.restore", -1)])
    assert out[("load.summary", -1)] == {"rows": sum(expected.values()), "tables": expected, "events_written_since": 0}
    cache = out[("cache.restore", -1)]
    assert cache["keys"] == 15 and cache["snapshot"] == "fx-cache"
    from loadstack.cache.redis_server import RedisServer
    from loadstack.credentials import get_json_secret

    password = get_json_secret(local_profile, cache["secret_id"])["password"]
    assert RedisServer(LocalCache(local_profile, "it_data", "cache").base_dir, cache["port"], password).dbsize() == 15

    migrated = run_dag(dag, run_conf={"db_snapshot": "fx-migrated"})
    assert migrated.state == DagRunState.SUCCESS
    out = results(migrated)
    assert out[("db.restore", -1)]["snapshot_kind"] == "migrated"
    shard_rows = {idx: rows for (task, idx), rows in out.items() if task == "load.seed_shard"}
    assert sorted(shard_rows) == [0, 1] and sum(shard_rows.values()) == sum(v for k, v in expected.items() if k.startswith("events_"))
    assert out[("load.summary", -1)]["tables"] == expected

    teardown = run_dag(build_teardown_dag(stack))
    assert teardown.state == DagRunState.SUCCESS
    assert not LocalDatabase(local_profile, "it_data", "db").base_dir.exists()
    assert not LocalCache(local_profile, "it_data", "cache").base_dir.exists()
    recorded = local_profile.client("s3").list_objects_v2(Bucket=local_profile.state_bucket,
                                                          Prefix="loadstack/outputs/it_data/")
    assert recorded.get("KeyCount", 0) == 0  # every step's recorded outputs are gone
