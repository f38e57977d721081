"""`SeedParams`: what a seed generates. The same params give byte-identical rows on every run.

Everything in the generated dataset follows from these params: each table (and each events shard)
draws from its own `random.Random` seeded with a string derived from `seed` (string seeds are
hashed with SHA-512, independent of PYTHONHASHSEED), so shards generate independently, in any
order, in parallel, and again after a crash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

# Bump when the generated rows change for the same params: it is part of params_hash(), so seed
# markers and snapshot catalog entries made by older code are not mistaken for current data.
GENERATOR_VERSION = 1
MAX_SHARDS = 16  # events_00 .. events_15 exist in the schema


def events_table(shard: int) -> str:
    return f"events_{shard:02d}"


@dataclass(frozen=True, kw_only=True)
class SeedParams:
    """What to generate. Defaults describe a 1 M-event dataset of about 300 MB."""

    seed: int = 42
    accounts: int = 40
    products_per_account: int = 60
    profiles: int = 40_000
    events: int = 1_000_000
    orders: int = 20_000
    start: date = date(2024, 10, 1)
    days: int = 90
    shards: int = MAX_SHARDS
    # Zipf exponent of account sizes: account k (1-based) gets a share proportional to 1/k**skew.
    account_skew: float = 1.2
    # Pareto shape of per-profile activity: smaller is more skewed (1.16 is the 80/20 rule).
    activity_skew: float = 1.3
    inactive_profiles: float = 0.2  # share of profiles with no events at all

    def __post_init__(self) -> None:
        if isinstance(self.start, str):
            object.__setattr__(self, "start", date.fromisoformat(self.start))
        checks = {
            "accounts": self.accounts >= 1,
            "products_per_account": self.products_per_account >= 1,
            "profiles": self.profiles >= self.accounts,
            "events": self.events >= 0,
            "orders": self.orders >= 0,
            "days": self.days >= 1,
            "shards": 1 <= self.shards <= MAX_SHARDS,
            "account_skew": self.account_skew >= 0,
            "activity_skew": self.activity_skew > 0,
            "inactive_profiles": 0 <= self.inactive_profiles < 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                f"invalid seed parameters {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)} (accounts >= 1, "
                f"profiles >= accounts, days >= 1, 1 <= shards <= {MAX_SHARDS}, 0 <= inactive_profiles < 1)"
            )

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["start"] = self.start.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SeedParams":
        return cls(**data)

    def params_hash(self) -> str:
        canonical = json.dumps({"generator_version": GENERATOR_VERSION, **self.as_dict()}, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def shard_tables(self) -> list[str]:
        return [events_table(shard) for shard in range(self.shards)]

