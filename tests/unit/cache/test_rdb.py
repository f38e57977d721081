"""loadstack.cache without a Redis server: records as RESP, the commerce generator, config, object keys."""

from __future__ import annotations

import json

import pytest

from loadstack.cache.rdb import (
    DEFAULT_NOW,
    _resp_chunks,
    commerce_cache_records,
    rdb_object_key,
    record_commands,
)
from loadstack.cache.resp import encode_command


def _small_plan(**overrides):
    from loadstack.data.params import SeedParams
    from loadstack.data.plan import plan_for

    params = {"seed": 5, "accounts": 6, "products_per_account": 8, "profiles": 300, "orders": 10, "events": 100,
              "start": "2026-01-01", "days": 3, "shards": 2, **overrides}
    return plan_for(SeedParams(**params))


def test_record_commands_per_type():
    assert record_commands("s", "v") == encode_command("SET", "s", "v")
    assert record_commands("s", "v", 60) == encode_command("SET", "s", "v", "EX", 60)
    assert record_commands("h", {"a": 1, "b": "x"}, 5) == encode_command("HSET", "h", "a", 1, "b", "x") + encode_command("EXPIRE", "h", 5)
    assert record_commands("l", [1, 2]) == encode_command("RPUSH", "l", 1, 2)
    assert record_commands("z", {"b", "a"}) == encode_command("SADD", "z", "a", "b")
    with pytest.raises(ValueError, match="positive"):
        record_commands("s", "v", 0)
    with pytest.raises(ValueError, match="no empty hashes"):
        record_commands("h", {})


def test_resp_chunks_accepts_records_or_bytes():
    records = [("a", "1", None), ("b", "2", None)]
    raw = b"".join(record_commands(*r) for r in records)
    assert b"".join(_resp_chunks(records, 10)) == raw
    assert b"".join(_resp_chunks([raw[:5], raw[5:]], 1 << 20)) == raw
    assert list(_resp_chunks([], 10)) == []
    with pytest.raises(TypeError, match="tuples or RESP bytes"):
        list(_resp_chunks(["not a record"], 10))


def test_commerce_cache_is_deterministic_and_shaped():
    first = list(commerce_cache_records(42, sessions=300, carts=120))
    assert first == list(commerce_cache_records(42, sessions=300, carts=120))
    other = list(commerce_cache_records(43, sessions=300, carts=120))
    assert {k for k, _, _ in first} != {k for k, _, _ in other}

    keys = [k for k, _, _ in first]
    assert len(keys) == len(set(keys)) == 420
    carts = [r for r in first if r[0].startswith("cart:")]
    sessions = [r for r in first if r[0].startswith("session:")]
    assert [k for k, _, _ in carts] == [f"cart:{n}" for n in range(1, 121)]
    assert len(sessions) == 300 and all(len(k) == len("session:") + 32 for k, _, _ in sessions)

    cart = json.loads(carts[0][1])
    assert set(cart) == {"cart_id", "currency", "items", "updated_at"} and 1 <= len(cart["items"]) <= 5
    assert set(cart["items"][0]) == {"sku", "qty", "unit_price_cents"}
    session = sessions[0][1]
    assert set(session) == {"profile_id", "account_id", "cart_id", "last_seen"}
    assert [s["cart_id"] for _, s, _ in sessions[:2]] == [1, 2] and sessions[-1][1]["cart_id"] == ""
    assert DEFAULT_NOW - 7 * 86400 <= session["last_seen"] <= DEFAULT_NOW
    assert all(ttl is None for _, _, ttl in first)
    assert {ttl for k, _, ttl in commerce_cache_records(1, 3, 2, session_ttl=1800, cart_ttl=86400)} == {1800, 86400}
    mapped = commerce_cache_records(1, 50, 0, profiles=10, account_of=lambda profile_id: 1000 + profile_id)
    assert all(s["account_id"] == 1000 + s["profile_id"] for _, s, _ in mapped)


def test_commerce_cache_from_a_plan_agrees_with_the_dataset():
    plan = _small_plan()
    records = list(commerce_cache_records(9, sessions=400, carts=500, plan=plan))
    assert records == list(commerce_cache_records(9, sessions=400, carts=500, plan=plan))
    assert records != list(commerce_cache_records(10, sessions=400, carts=500, plan=plan))
    assert len({k for k, _, _ in records}) == len(records) == 900

    carts = {json.loads(v)["cart_id"]: json.loads(v) for k, v, _ in records if k.startswith("cart:")}
    sessions = [v for k, v, _ in records if k.startswith("session:")]
    assert sorted(carts) == list(range(1, 501)) and len(sessions) == 400
    accounts = {a.id: a for a in plan.accounts}
    products = {p.sku: p for p in plan.products}
    assert len(products) == len(plan.products)  # SKUs are unique, so a SKU names one product
    owners = {}
    for session in sessions:
        assert 1 <= session["profile_id"] <= plan.params.profiles
        assert session["account_id"] == plan.account_of(session["profile_id"]).id
        if session["cart_id"] != "":
            owners[session["cart_id"]] = session["account_id"]
    assert sorted(owners) == list(range(1, 401))  # session i owns cart i+1
    assert len({a for a in owners.values()}) > 1 and len({s["profile_id"] for s in sessions}) > 100
    for cart_id, cart in carts.items():
        items = cart["items"]
        account_ids = {products[item["sku"]].account_id for item in items}
        assert len(account_ids) == 1, cart  # one account's products
        (account_id,) = account_ids
        if cart_id in owners:
            assert account_id == owners[cart_id]
        assert cart["currency"] == accounts[account_id].currency
        assert all(item["unit_price_cents"] == products[item["sku"]].price_cents for item in items)
        assert 1 <= len(items) <= 5 and len({item["sku"] for item in items}) == len(items)
        assert all(1 <= item["qty"] <= 4 for item in items)
    assert len({products[i["sku"]].account_id for c in carts.values() for i in c["items"]}) > 1
    assert len({c["currency"] for c in carts.values()}) > 1  # the accounts' own currencies, not all USD


def test_commerce_cache_plan_excludes_invented_mappings():
    plan = _small_plan()
    for extra in ({"profiles": 10}, {"accounts": 2}, {"skus": 50}, {"account_of": lambda p: 1}):
        with pytest.raises(ValueError, match=f"^{next(iter(extra))}: not with a plan, which decides profiles, accounts and products$"):
            commerce_cache_records(1, 5, 5, plan=plan, **extra)
    with pytest.raises(ValueError, match="sessions and carts must be >= 0"):
        commerce_cache_records(1, -1, 5)
    # fewer sessions than carts: the abandoned carts are still one account's products
    records = list(commerce_cache_records(3, 2, 50, plan=plan, max_cart_items=3))
    products = {p.sku: p for p in plan.products}
    for _, value, _ in records[:50]:
        cart = json.loads(value)
        assert len({products[i["sku"]].account_id for i in cart["items"]}) == 1 and len(cart["items"]) <= 3


def test_rdb_object_key():
    assert rdb_object_key("shop/commerce-s42") == "redis/shop/commerce-s42.rdb"
    with pytest.raises(ValueError):
        rdb_object_key("../etc")
