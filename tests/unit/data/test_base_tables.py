from __future__ import annotations

import json
import re
from collections import Counter

from loadstack.data.base_tables import BASE_TABLE_ROWS, TABLE_COLUMNS, iter_order_item_rows, iter_order_rows
from loadstack.data.params import SeedParams
from loadstack.data.seed import expected_counts


def test_base_tables_are_consistent(small_params, unescape):
    rows = {table: list(generate(small_params)) for table, generate in BASE_TABLE_ROWS.items()}
    for table, lines in rows.items():
        assert all(len(line[:-1].split("\t")) == len(TABLE_COLUMNS[table]) for line in lines), table
    assert len(rows["accounts"]) == small_params.accounts
    assert len(rows["profiles"]) == small_params.profiles
    assert len(rows["products"]) == small_params.accounts * small_params.products_per_account
    assert len(rows["orders"]) == small_params.orders
    assert expected_counts(small_params)["order_items"] == len(rows["order_items"])

    emails = [line.split("\t")[2] for line in rows["profiles"]]
    assert len(set(emails)) == len(emails) and all(re.fullmatch(r"[a-z-]+\.[a-z-]+\.\d+@(mail\.)?example\.(com|net|org)", e) for e in emails)
    assert any(line.split("\t")[3] == "\\N" for line in rows["profiles"])  # NULL phones
    assert all(json.loads(unescape(line[:-1].split("\t")[8])) for line in rows["profiles"])

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
