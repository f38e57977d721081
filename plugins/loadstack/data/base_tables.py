"""The base tables (accounts, profiles, products, orders, order_items) as TSV lines for `LOAD DATA`.

Each generator is a function of `SeedParams` alone, drawing from its own seeded `random.Random`.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Iterator

from loadstack.data.params import SeedParams
from loadstack.data.plan import plan_for
from loadstack.data.tsv import NULL, cents, times_of_day, tsv_escape
from loadstack.data.words import (
    COUNTRIES,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    LIST_NAMES,
    ORDER_STATUSES,
    SIGNUP_SOURCES,
    fold,
)

# Column lists, in the order of the TSV fields each generator writes.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("id", "name", "plan", "currency", "timezone", "created_at"),
    "profiles": ("id", "account_id", "email", "phone", "first_name", "last_name", "country", "created_at", "properties"),
    "products": ("id", "account_id", "sku", "name", "category", "price_cents", "created_at"),
    "orders": ("id", "account_id", "profile_id", "status", "item_count", "total_cents", "currency", "placed_at"),
    "order_items": ("order_id", "line_no", "product_id", "quantity", "unit_price_cents"),
}
BASE_TABLES = tuple(TABLE_COLUMNS)


def iter_account_rows(params: SeedParams) -> Iterator[str]:
    for a in plan_for(params).accounts:
        yield f"{a.id}\t{tsv_escape(a.name)}\t{a.plan}\t{a.currency}\t{a.timezone}\t{a.created_at}\n"


def iter_product_rows(params: SeedParams) -> Iterator[str]:
    for p in plan_for(params).products:
        yield f"{p.id}\t{p.account_id}\t{tsv_escape(p.sku)}\t{tsv_escape(p.name)}\t{p.category}\t{p.price_cents}\t{p.created_at}\n"


def iter_profile_rows(params: SeedParams) -> Iterator[str]:
    plan = plan_for(params)
    rng = random.Random(f"{params.seed}/profiles")
    rand = rng.random
    tod = times_of_day()
    first_names = [(tsv_escape(n), fold(n)) for n in FIRST_NAMES]
    last_names = [(tsv_escape(n), fold(n)) for n in LAST_NAMES]
    history_start = params.start - timedelta(days=730)
    history_days = tuple((history_start + timedelta(days=d)).isoformat() + " " for d in range(730))
    properties_template = tsv_escape('{"source":"%s","accepts_marketing":%s,"lists":%s,"lifetime_value":%s,"tags":%s}')
    list_choices = [json.dumps(sorted(set(rng.sample(LIST_NAMES, k))), separators=(",", ":")) for k in (0, 1, 1, 2, 3) for _ in range(6)]
    tag_choices = ('[]', '[]', '[]', '["vip"]', '["wholesale"]', '["churn-risk"]', '["vip","early-access"]')
    for account in plan.accounts:
        for profile_id in range(account.first_profile, account.first_profile + account.profile_count):
            first, first_ascii = first_names[int(rand() * len(first_names))]
            last, last_ascii = last_names[int(rand() * len(last_names))]
            email = f"{first_ascii}.{last_ascii}.{profile_id}@{EMAIL_DOMAINS[int(rand() * 4)]}"
            phone = f"+1-555-01{int(rand() * 100):02d}" if rand() < 0.4 else NULL  # fictional 555-01xx
            created = history_days[int(rand() * 730)] + tod[int(rand() * 86400)]
            properties = properties_template % (
                SIGNUP_SOURCES[int(rand() * len(SIGNUP_SOURCES))],
                "true" if rand() < 0.7 else "false",
                list_choices[int(rand() * len(list_choices))],
                cents(int(rng.expovariate(1 / 15000))),
                tag_choices[int(rand() * len(tag_choices))],
            )
            country = COUNTRIES[int(rand() * len(COUNTRIES))]
            yield f"{profile_id}\t{account.id}\t{email}\t{phone}\t{first}\t{last}\t{country}\t{created}\t{properties}\n"


def _iter_orders(params: SeedParams) -> Iterator[tuple[str, list[str]]]:
    """(order row, its item rows): one stream, so orders and their lines always agree."""
    plan = plan_for(params)
    rng = random.Random(f"{params.seed}/orders")
    rand = rng.random
    tod = times_of_day()
    products = plan.products
    ppa = params.products_per_account
    for order_id in range(1, params.orders + 1):
        profile_id = 1 + int(rand() * params.profiles)
        account = plan.account_of(profile_id)
        lines = 1 + int(rand() ** 2 * 4)  # mostly one or two lines
        items = []
        total = 0
        for line_no in range(1, lines + 1):
            product = products[account.first_product - 1 + int(rand() ** 2 * ppa)]
            quantity = 1 if rand() < 0.8 else 2 + int(rand() * 3)
            total += quantity * product.price_cents
            items.append(f"{order_id}\t{line_no}\t{product.id}\t{quantity}\t{product.price_cents}\n")
        status = ORDER_STATUSES[int(rand() * len(ORDER_STATUSES))]
        offset = int(rand() * plan.window_seconds)
        placed = plan.day_prefixes[offset // 86400] + tod[offset % 86400]
        order = f"{order_id}\t{account.id}\t{profile_id}\t{status}\t{lines}\t{total}\t{account.currency}\t{placed}\n"
        yield order, items


def iter_order_rows(params: SeedParams) -> Iterator[str]:
    for order, _ in _iter_orders(params):
        yield order


def iter_order_item_rows(params: SeedParams) -> Iterator[str]:
    for _, items in _iter_orders(params):
        yield from items


BASE_TABLE_ROWS = {
    "accounts": iter_account_rows,
    "profiles": iter_profile_rows,
    "products": iter_product_rows,
    "orders": iter_order_rows,
    "order_items": iter_order_item_rows,
}

