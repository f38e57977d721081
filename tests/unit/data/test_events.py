from __future__ import annotations

import json
from collections import Counter

from loadstack.data.events import EVENT_COLUMNS, EVENT_TYPES, EventGenerator
from loadstack.data.params import SeedParams
from loadstack.data.plan import plan_for


def _all_event_lines(params: SeedParams) -> list[str]:
    return [line for shard in range(params.shards) for chunk in EventGenerator(params, shard).iter_chunks(4_000) for line in chunk]


def test_shards_are_deterministic_independent_and_exact(small_params):
    plan = plan_for(small_params)
    assert sum(plan.shard_event_counts) == small_params.events
    for shard in (0, 5, 15):
        first = [line for chunk in EventGenerator(small_params, shard).iter_chunks(1_000) for line in chunk]
        # Another chunk size, and after other shards were generated: the same bytes.
        again = [line for chunk in EventGenerator(small_params, shard).iter_chunks(333) for line in chunk]
        assert first == again
        assert len(first) == plan.shard_event_counts[shard] == EventGenerator(small_params, shard).total_rows
        chunks = list(EventGenerator(small_params, shard).iter_chunks(1_000))
        assert all(len(c) == 1_000 for c in chunks[:-1]) and 0 < len(chunks[-1]) <= 1_000


def test_event_rows_are_well_formed(small_params, unescape):
    lines = _all_event_lines(small_params)
    ids = set()
    types = Counter()
    for line in lines:
        assert line.endswith("\n")
        fields = line[:-1].split("\t")
        assert len(fields) == len(EVENT_COLUMNS)
        event_id, account_id, profile_id, event_type, occurred_at, payload = fields
        ids.add(int(event_id))
        shard = (int(event_id) - 1) % small_params.shards
        assert int(profile_id) % small_params.shards == shard  # a profile's events live in one shard
        assert plan_for(small_params).account_of(int(profile_id)).id == int(account_id)
        assert "2024-10-01 00:00:00" <= occurred_at < "2024-12-30 00:00:00"
        document = json.loads(unescape(payload))
        assert isinstance(document, dict) and document
        types[event_type] += 1
    assert len(ids) == len(lines) == small_params.events  # ids unique across shards
    assert set(types) == set(EVENT_TYPES)
    assert types["viewed_page"] > types["placed_order"] * 5


def test_payloads_carry_realistic_fields(small_params, unescape):
    samples = {}
    for line in _all_event_lines(small_params):
        fields = line[:-1].split("\t")
        samples.setdefault(fields[3], json.loads(unescape(fields[5])))
    order = samples["placed_order"]
    assert order["items"] and all({"sku", "price", "quantity"} <= set(item) for item in order["items"])
    assert abs(order["value"] - sum(i["price"] * i["quantity"] for i in order["items"])) < 0.005
    assert "Mozilla" in samples["opened_email"]["user_agent"] or "Microsoft" in samples["opened_email"]["user_agent"]
    assert samples["opened_email"]["ip"].startswith(("192.0.2.", "198.51.100.", "203.0.113."))
    assert samples["added_to_cart"]["quantity"] in (1, 2) and samples["added_to_cart"]["sku"]
    assert samples["viewed_page"]["url"].startswith("https://") and ".example.com" in samples["viewed_page"]["url"]
