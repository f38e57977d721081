"""The dataset plan: every decision that spans tables (account sizes, products, per-profile activity).

Shape of the data, chosen to load-test like production rather than like a uniform toy:
- account sizes follow Zipf (a few huge tenants, a long tail of small ones);
- events per profile follow a capped Pareto, with a share of profiles never active.
Every table's generator (`base_tables`, `events`) reads the same plan, so rows agree across tables.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as time_of_day
from functools import cached_property, lru_cache

from loadstack.data.params import SeedParams
from loadstack.data.words import (
    ADJECTIVES,
    CATEGORIES,
    COLORS,
    COMPANY_SUFFIXES,
    COMPANY_WORDS,
    CURRENCIES,
    NOUNS,
    PLANS,
    TIMEZONES,
    fold,
)


def allocate(total: int, weights: list[float]) -> list[int]:
    """Split `total` into integer parts proportional to `weights`, summing exactly to `total`.

    Cumulative rounding: O(n) with no sort, and each part within 1 of its exact share.
    """
    weight_sum = sum(weights)
    if total == 0 or weight_sum <= 0:
        return [0] * len(weights)
    scale = total / weight_sum
    parts = []
    running = 0.0
    previous = 0
    for weight in weights:
        running += weight * scale
        current = min(int(running), total)
        parts.append(current - previous)
        previous = current
    parts[-1] += total - previous  # float error at the end
    return parts


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    plan: str
    currency: str
    timezone: str
    created_at: str
    domain: str
    first_profile: int
    profile_count: int
    first_product: int


@dataclass(frozen=True)
class Product:
    id: int
    account_id: int
    sku: str
    name: str
    category: str
    price_cents: int
    created_at: str


class DatasetPlan:
    """Account sizes, products and per-profile activity: shared by every table's generator.

    Building it costs O(profiles) (about 0.1 s per 100 k profiles); `plan_for()` caches it.
    """

    def __init__(self, params: SeedParams) -> None:
        self.params = params
        p = params
        self.day_prefixes = tuple((p.start + timedelta(days=d)).isoformat() + " " for d in range(p.days))
        self.window_seconds = p.days * 86400

        rng = random.Random(f"{p.seed}/accounts")
        sizes = allocate(p.profiles - p.accounts, [1 / k**p.account_skew for k in range(1, p.accounts + 1)])
        accounts = []
        next_profile = 1
        for index, size in enumerate(sizes):
            account_id = index + 1
            words = rng.sample(COMPANY_WORDS, 2)
            name = f"{words[0]} {words[1]} {rng.choice(COMPANY_SUFFIXES)}"
            slug = fold(f"{words[0]}{words[1]}")
            created = datetime.combine(p.start, time_of_day.min) - timedelta(
                days=rng.randrange(60, 2000), seconds=rng.randrange(86400)
            )
            accounts.append(
                Account(
                    id=account_id,
                    name=name,
                    # The biggest tenants are the paying ones.
                    plan="enterprise" if index < max(1, p.accounts // 20) else rng.choice(PLANS),
                    currency=rng.choice(CURRENCIES),
                    timezone=rng.choice(TIMEZONES),
                    created_at=created.strftime("%Y-%m-%d %H:%M:%S"),
                    domain=f"{slug}-{account_id}.example.com",
                    first_profile=next_profile,
                    profile_count=size + 1,  # every account has at least one profile
                    first_product=index * p.products_per_account + 1,
                )
            )
            next_profile += size + 1
        self.accounts: tuple[Account, ...] = tuple(accounts)

        rng = random.Random(f"{p.seed}/products")
        products = []
        for account in accounts:
            prefix = "".join(w[0] for w in account.name.split()[:2]).upper()
            for n in range(p.products_per_account):
                category = rng.choice(CATEGORIES)
                name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS[category])} – {rng.choice(COLORS)}"
                # Log-normal prices: most items 10-60, a few expensive ones.
                price = max(199, int(rng.lognormvariate(3.3, 0.7) * 100) // 100 * 100 + rng.choice((0, 50, 95, 99)))
                created = p.start - timedelta(days=rng.randrange(1, 700))
                products.append(
                    Product(
                        id=account.first_product + n,
                        account_id=account.id,
                        sku=f"{prefix}-{category[:3].upper()}-{n + 1:05d}",
                        name=name,
                        category=category,
                        price_cents=price,
                        created_at=created.isoformat() + " 09:00:00",
                    )
                )
        self.products: tuple[Product, ...] = tuple(products)

        rng = random.Random(f"{p.seed}/activity")
        alpha, inactive, rand, pareto = p.activity_skew, p.inactive_profiles, rng.random, rng.paretovariate
        # Capped so that one profile cannot swallow a small dataset; 500x the least active one.
        weights = [0.0 if rand() < inactive else min(pareto(alpha), 500.0) for _ in range(p.profiles)]
        self.profile_events: list[int] = allocate(p.events, weights)  # index: profile_id - 1

    @cached_property
    def shard_event_counts(self) -> tuple[int, ...]:
        shards = self.params.shards
        counts = [0] * shards
        for index, count in enumerate(self.profile_events):
            counts[(index + 1) % shards] += count
        return tuple(counts)

    def shard_profiles(self, shard: int) -> range:
        first = shard if shard > 0 else self.params.shards
        return range(first, self.params.profiles + 1, self.params.shards)

    def account_of(self, profile_id: int) -> Account:
        lo, hi = 0, len(self.accounts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.accounts[mid].first_profile <= profile_id:
                lo = mid
            else:
                hi = mid - 1
        return self.accounts[lo]



@lru_cache(maxsize=4)
def plan_for(params: SeedParams) -> DatasetPlan:
    return DatasetPlan(params)
