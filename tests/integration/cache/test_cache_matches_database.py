"""A cache snapshot sourced from a seeded database agrees with that database once both are restored.

Builds a small seeded MariaDB snapshot and a Redis snapshot whose definition names it as `source`
(both through `load_definitions`, as the snapshots DAG does), restores both as a stack's steps on
the local profile, and checks a sample of sessions and their carts against the tables by SQL.
"""

from __future__ import annotations

import json
import random

import pytest
import redis

from loadstack.credentials import get_json_secret
from loadstack.restore.local_cache import LocalCache
from loadstack.restore.local_database import LocalDatabase
from loadstack.snapshots.build_local import build_mariadb_snapshot, build_redis_snapshot
from loadstack.snapshots.catalog import load_definitions

pytestmark = pytest.mark.integration

DEFINITIONS = """\
snapshots:
  it-match-seeded:
    engine: mariadb
    kind: seeded
    seed: {seed: 11, accounts: 6, products_per_account: 8, profiles: 500, orders: 50, events: 2000,
           start: "2026-01-01", days: 5, shards: 2}
  it-match-cache:
    engine: redis
    kind: rdb
    source: it-match-seeded
    seed: {seed: 12, sessions: 800, carts: 500}
"""
SAMPLE = 200


def _sessions(client: redis.Redis) -> dict[str, dict[str, str]]:
    return {key: client.hgetall(key) for key in client.scan_iter(match="session:*", count=1000)}


def _in(values) -> str:
    return ", ".join(["%s"] * len(values))


def test_sessions_and_carts_agree_with_the_restored_database(local_profile, tmp_path):
    import mysql.connector

    (tmp_path / "snapshots.yaml").write_text(DEFINITIONS)
    definitions = load_definitions(tmp_path)
    assert definitions["it-match-cache"].source_seed == definitions["it-match-seeded"].seed
    seeded = build_mariadb_snapshot(local_profile, "it-match-seeded", definitions["it-match-seeded"])
    cache_entry = build_redis_snapshot(local_profile, "it-match-cache", definitions["it-match-cache"])
    assert cache_entry.row_counts == {"keys": 1300}
    assert cache_entry.seed == {"seed": 12, "sessions": 800, "carts": 500, "source": "it-match-seeded"}
    assert cache_entry.params_hash == definitions["it-match-cache"].params_hash()

    database = LocalDatabase(local_profile, "it_match", "db")
    cache = LocalCache(local_profile, "it_match", "cache")
    try:
        db_out = database.restore(seeded)
        cache_out = cache.restore(cache_entry)
        assert cache_out["keys"] == 1300

        redis_password = get_json_secret(local_profile, cache_out["secret_id"])["password"]
        with redis.Redis(host="127.0.0.1", port=cache_out["port"], password=redis_password,
                         decode_responses=True) as client:
            sessions = _sessions(client)
            assert len(sessions) == 800
            # Sessions with a cart first (the interesting ones), then browsing-only ones.
            ordered = sorted(sessions, key=lambda k: (sessions[k]["cart_id"] == "", k))
            sample = ordered[: SAMPLE - 20] + random.Random(1).sample(ordered[500:], 20)
            carts = {}
            for key in sample:
                cart_id = sessions[key]["cart_id"]
                if cart_id:
                    carts[key] = json.loads(client.get(f"cart:{cart_id}"))
        assert len(carts) == SAMPLE - 20

        secret = get_json_secret(local_profile, db_out["secret_id"])
        conn = mysql.connector.connect(host=db_out["host"], port=db_out["port"], user=db_out["username"],
                                       password=secret["password"], database=db_out["database"])
        try:
            cursor = conn.cursor()
            profile_ids = sorted({int(sessions[k]["profile_id"]) for k in sample})
            cursor.execute(f"SELECT id, account_id FROM profiles WHERE id IN ({_in(profile_ids)})", profile_ids)
            profile_account = dict(cursor.fetchall())
            skus = sorted({item["sku"] for cart in carts.values() for item in cart["items"]})
            cursor.execute(f"SELECT sku, account_id, price_cents FROM products WHERE sku IN ({_in(skus)})", skus)
            products: dict[str, set[tuple[int, int]]] = {}
            for sku, account_id, price in cursor.fetchall():
                products.setdefault(sku, set()).add((account_id, price))
            cursor.execute("SELECT id, currency FROM accounts")
            currency = dict(cursor.fetchall())
        finally:
            conn.close()

        assert set(profile_account) == set(profile_ids)  # every sampled profile exists
        for key in sample:
            session = sessions[key]
            account_id = int(session["account_id"])
            assert profile_account[int(session["profile_id"])] == account_id, (key, session)
            cart = carts.get(key)
            if cart is None:
                continue
            assert cart["cart_id"] == int(session["cart_id"]) and cart["currency"] == currency[account_id]
            for item in cart["items"]:
                assert (account_id, item["unit_price_cents"]) in products.get(item["sku"], set()), (key, cart)
        assert len({int(sessions[k]["account_id"]) for k in sample}) > 1
    finally:
        removed = (cache.teardown(), database.teardown())
    assert removed == (True, True)
    assert not cache.base_dir.exists() and not database.base_dir.exists()
