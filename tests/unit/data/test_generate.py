from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date

import pytest

from loadstack.data.generate import (
    BASE_TABLE_ROWS,
    EVENT_COLUMNS,
    EVENT_TYPES,
    TABLE_COLUMNS,
    EventGenerator,
    SeedParams,
    allocate,
    iter_order_item_rows,
    iter_order_rows,
    plan_for,
    tsv_escape,
    tsv_field,
)


def _unescape(field: str) -> str | None:
    """Inverse of LOAD DATA's backslash escaping, as the server applies it."""
    if field == "\\N":
        return None
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "r": "\r", "0": "\0"}.get(m[1], m[1]), field)


def _all_event_lines(params: SeedParams) -> list[str]:
    return [line for shard in range(params.shards) for chunk in EventGenerator(params, shard).iter_chunks(4_000) for line in chunk]


def test_tsv_escaping_round_trips():
    nasty = 'tab\there\nnew "line" \\ back\rslash\0nul'
    assert "\t" not in tsv_escape(nasty) and "\n" not in tsv_escape(nasty)
    assert _unescape(tsv_escape(nasty)) == nasty
    assert tsv_field(None) == "\\N" and tsv_field(12) == "12"


@pytest.mark.parametrize("total,weights", [(10, [1, 1, 1]), (1_000, [5, 0, 0.001, 3]), (7, [0.1] * 50), (0, [1, 2])])
def test_allocate_is_exact_and_proportional(total, weights):
    parts = allocate(total, weights)
    assert sum(parts) == total and all(p >= 0 for p in parts)
    scale = total / sum(weights)
    assert all(abs(p - w * scale) < 1.000001 for p, w in zip(parts, weights))


def test_params_hash_is_stable_and_sensitive(small_params):
    same = SeedParams.from_dict(json.loads(json.dumps(small_params.as_dict())))
    assert same == small_params and same.params_hash() == small_params.params_hash()
    assert SeedParams(**{**small_params.as_dict(), "seed": 8}).params_hash() != small_params.params_hash()
    assert SeedParams(start="2024-10-01").start == date(2024, 10, 1)


@pytest.mark.parametrize("bad", [{"shards": 17}, {"shards": 0}, {"profiles": 3, "accounts": 5}, {"days": 0}, {"inactive_profiles": 1}])
def test_invalid_params_are_rejected_by_name(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        SeedParams(**bad)


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


def test_event_rows_are_well_formed(small_params):
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
        document = json.loads(_unescape(payload))
        assert isinstance(document, dict) and document
        types[event_type] += 1
    assert len(ids) == len(lines) == small_params.events  # ids unique across shards
    assert set(types) == set(EVENT_TYPES)
    assert types["viewed_page"] > types["placed_order"] * 5


def test_payloads_carry_realistic_fields(small_params):
    samples = {}
    for line in _all_event_lines(small_params):
        fields = line[:-1].split("\t")
        samples.setdefault(fields[3], json.loads(_unescape(fields[5])))
    order = samples["placed_order"]
    assert order["items"] and all({"sku", "price", "quantity"} <= set(item) for item in order["items"])
    assert abs(order["value"] - sum(i["price"] * i["quantity"] for i in order["items"])) < 0.005
    assert "Mozilla" in samples["opened_email"]["user_agent"] or "Microsoft" in samples["opened_email"]["user_agent"]
    assert samples["opened_email"]["ip"].startswith(("192.0.2.", "198.51.100.", "203.0.113."))
    assert samples["added_to_cart"]["quantity"] in (1, 2) and samples["added_to_cart"]["sku"]
    assert samples["viewed_page"]["url"].startswith("https://") and ".example.com" in samples["viewed_page"]["url"]


def test_account_sizes_and_activity_are_skewed():
    params = SeedParams(accounts=50, profiles=50_000, events=100_000)
    plan = plan_for(params)
    sizes = sorted((a.profile_count for a in plan.accounts), reverse=True)
    assert sum(sizes) == params.profiles
    assert sum(sizes[:3]) > 0.35 * params.profiles  # a few huge accounts
    assert sizes[len(sizes) // 2] < params.profiles / params.accounts / 2  # most are small
    activity = sorted(plan.profile_events, reverse=True)
    assert sum(activity) == params.events
    assert activity.count(0) > 0.15 * params.profiles  # many never active
    assert sum(activity[: params.profiles // 10]) > 0.3 * params.events  # the top 10 % do a lot


def test_base_tables_are_consistent(small_params):
    plan = plan_for(small_params)
    rows = {table: list(generate(small_params)) for table, generate in BASE_TABLE_ROWS.items()}
    for table, lines in rows.items():
        assert all(len(line[:-1].split("\t")) == len(TABLE_COLUMNS[table]) for line in lines), table
    assert len(rows["accounts"]) == small_params.accounts
    assert len(rows["profiles"]) == small_params.profiles
    assert len(rows["products"]) == small_params.accounts * small_params.products_per_account
    assert len(rows["orders"]) == small_params.orders
    assert plan.expected_counts()["order_items"] == len(rows["order_items"])

    emails = [line.split("\t")[2] for line in rows["profiles"]]
    assert len(set(emails)) == len(emails) and all(re.fullmatch(r"[a-z-]+\.[a-z-]+\.\d+@(mail\.)?example\.(com|net|org)", e) for e in emails)
    assert any(line.split("\t")[3] == "\\N" for line in rows["profiles"])  # NULL phones
    assert all(json.loads(_unescape(line[:-1].split("\t")[8])) for line in rows["profiles"])

    item_totals = Counter()
    for line in iter_order_item_rows(small_params):
        order_id, _, _, quantity, price = map(int, line.split("\t"))
        item_totals[order_id] += quantity * price
    for line in iter_order_rows(small_params):
        fields = line.split("\t")
        assert int(fields[5]) == item_totals[int(fields[0])]


def test_base_rows_are_deterministic(small_params):
    for table, generate in BASE_TABLE_ROWS.items():
        assert list(generate(small_params)) == list(generate(SeedParams(**small_params.as_dict()))), table
