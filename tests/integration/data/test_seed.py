from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict

import pytest

from loadstack.data.params import SeedParams, events_table
from loadstack.data.seed import SeedError, _load_file, expected_counts, read_markers, seed_all, seed_shard

pytestmark = pytest.mark.integration


def _events_union(params: SeedParams) -> str:
    return " UNION ALL ".join(f"SELECT id FROM {table}" for table in params.shard_tables)


def test_seeded_counts_are_exactly_what_the_generator_says(seeded_database, row_counts):
    conn_params, params, progress = seeded_database
    expected = expected_counts(params)
    assert sum(expected[t] for t in params.shard_tables) == params.events == 50_000
    assert row_counts(conn_params, expected) == expected
    with conn_params.connect() as conn:
        cursor = conn.cursor()
        cursor.execute(f"SELECT COUNT(*), COUNT(DISTINCT id) FROM ({_events_union(params)}) AS e")
        assert cursor.fetchone() == (params.events, params.events)
        markers = read_markers(conn)
        assert {name: (m.done, m.row_count, m.params_hash) for name, m in markers.items()} == {
            **{t: (True, expected[t], params.params_hash()) for t in params.shard_tables},
            "base": (True, sum(expected[t] for t in ("accounts", "profiles", "products", "orders", "order_items")), params.params_hash()),
        }
        # The data is usable as loaded: totals match their lines, payloads are queryable JSON.
        cursor.execute(
            "SELECT COUNT(*) FROM orders o JOIN (SELECT order_id, SUM(quantity * unit_price_cents) AS s "
            "FROM order_items GROUP BY order_id) i ON i.order_id = o.id WHERE i.s <> o.total_cents"
        )
        assert cursor.fetchone() == (0,)
        cursor.execute(
            "SELECT COUNT(*), SUM(JSON_LENGTH(payload, '$.items') >= 1) FROM events_03 WHERE event_type = 'placed_order'"
        )
        orders, with_items = cursor.fetchone()
        assert orders > 0 and with_items == orders
        cursor.execute("SELECT COUNT(*) FROM profiles WHERE phone IS NULL")
        assert 0 < cursor.fetchone()[0] < params.profiles
        cursor.execute("SELECT name FROM products WHERE name LIKE '%–%' LIMIT 1")  # utf-8 survived
        assert cursor.fetchone() is not None
    assert any(not p.done and p.rows_loaded for p in progress) or all(p.done for p in progress)
    assert all("rows" in str(p) for p in progress)


def test_events_written_above_the_dataset_leave_the_seeded_counts_exact(new_database):
    from loadstack.data.seed import count_rows, seeded_event_id_limits

    params = SeedParams(seed=5, accounts=2, products_per_account=3, profiles=40, events=400, orders=10, shards=4)
    conn_params = new_database()
    seed_all(conn_params, params)
    expected = expected_counts(params)
    limits = seeded_event_id_limits(params)
    with conn_params.connect() as conn:
        # The dataset's highest id per shard is the limit: counting up to it counts every seeded row.
        cursor = conn.cursor()
        for table, limit in limits.items():
            cursor.execute(f"SELECT MAX(id) FROM `{table}`")
            assert cursor.fetchone() == (limit,)
        # What the app writes under load lands above it (its ids start past the database's highest).
        cursor.execute(
            f"INSERT INTO `{params.shard_tables[1]}` (id, account_id, profile_id, event_type, occurred_at, payload) "
            "VALUES (1000000123, 1, 1, 'page_view', NOW(), '{}')"
        )
        conn.commit()
        assert count_rows(conn, expected, id_limits=limits) == expected
        assert count_rows(conn, [params.shard_tables[1]])[params.shard_tables[1]] == expected[params.shard_tables[1]] + 1


def test_rerun_skips_everything(seeded_database, row_counts):
    conn_params, params, _ = seeded_database
    lines = []
    started = time.monotonic()
    counts = seed_all(conn_params, params, progress=lines.append)
    assert time.monotonic() - started < 10
    assert all(p.skipped for p in lines) and len(lines) == 1 + params.shards
    assert counts == expected_counts(params) == row_counts(conn_params, counts)


def test_other_params_reseed_a_shard_from_empty(new_database, row_counts):
    conn_params = new_database()
    first = SeedParams(seed=1, accounts=5, profiles=500, events=16_000, orders=10)
    second = SeedParams(**{**first.as_dict(), "seed": 2})
    seed_shard(conn_params, first, 4, progress=lambda p: None)
    rows = seed_shard(conn_params, second, 4, progress=lambda p: None)
    assert rows == expected_counts(second)["events_04"] == row_counts(conn_params, ["events_04"])["events_04"]
    with conn_params.connect() as conn:
        assert read_markers(conn)["events_04"].params_hash == second.params_hash()


# The child seeds one shard and reports after every committed chunk, then dawdles: the test
# kills it with SIGKILL in that pause, i.e. mid-shard with some chunks committed.
_CHILD = r"""
import json, sys, time
from pathlib import Path
from loadstack.data.params import SeedParams
from loadstack.data.mariadb import ConnectionParams
from loadstack.data.seed import seed_shard
spec = json.loads(sys.stdin.readline())
def progress(p):
    print("progress", p.rows_loaded, p.rows_total, int(p.done), flush=True)
    time.sleep(0.5)
seed_shard(ConnectionParams(**spec["conn"]), SeedParams.from_dict(spec["params"]), spec["shard"],
           progress=progress, chunk_rows=spec["chunk_rows"], workdir=Path(spec["workdir"]))
print("finished", flush=True)
"""


def test_a_shard_killed_mid_seed_is_redone_exactly(new_database, row_counts, tmp_path):
    conn_params = new_database()
    params = SeedParams(seed=5, accounts=8, profiles=3_000, events=160_000, orders=10)
    shard = 5
    table = events_table(shard)
    total = expected_counts(params)[table]
    workdir = tmp_path / "work"
    workdir.mkdir()
    spec = {"conn": asdict(conn_params), "params": params.as_dict(), "shard": shard, "chunk_rows": 2_000, "workdir": str(workdir)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        child.stdin.write(json.dumps(spec) + "\n")  # the password travels on a pipe, not in argv
        child.stdin.close()
        loaded = None
        for line in child.stdout:
            kind, *numbers = line.split()
            if kind == "progress" and int(numbers[0]) > 0 and not int(numbers[2]):
                os.kill(child.pid, signal.SIGKILL)
                loaded = int(numbers[0])
                break
        child.wait(10)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
    assert loaded is not None and 0 < loaded < total, "the child finished before it could be interrupted"

    with conn_params.connect() as conn:
        marker = read_markers(conn)[table]
    assert not marker.done and marker.row_count == loaded
    assert row_counts(conn_params, [table])[table] == loaded  # committed chunks only

    deadline = time.monotonic() + 10  # the orphaned producer notices EOF, deletes its chunks, exits
    while any(workdir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(workdir.iterdir())

    lines = []
    assert seed_shard(conn_params, params, shard, progress=lines.append, chunk_rows=2_000) == total
    assert not any(p.skipped for p in lines) and lines[-1].done
    with conn_params.connect() as conn:
        cursor = conn.cursor()
        cursor.execute(f"SELECT COUNT(*), COUNT(DISTINCT id), MIN(id), MAX(id) FROM {table}")
        count, distinct, low, high = cursor.fetchone()
        assert count == distinct == total
        assert (low, high) == (shard + 1, shard + 1 + (total - 1) * params.shards)
        assert read_markers(conn)[table].done


def test_rows_the_server_rejects_fail_the_load(new_database, tmp_path):
    conn_params = new_database()
    bad = tmp_path / "bad.tsv"
    bad.write_text('1\t1\t1\tviewed_page\t2024-10-01 00:00:00\t{"ok":true}\n2\t1\t1\tviewed_page\t2024-10-01 00:00:00\tnot json\n')
    with conn_params.connect() as conn:
        with pytest.raises(SeedError, match=r"1 of 2 rows loaded, \d+ warnings \(.*CONSTRAINT"):
            _load_file(conn, "events_00", ("id", "account_id", "profile_id", "event_type", "occurred_at", "payload"), bad, 2)
        cursor = conn.cursor()
        cursor.execute("SELECT COUNT(*) FROM events_00")
        assert cursor.fetchone() == (0,)  # rolled back
