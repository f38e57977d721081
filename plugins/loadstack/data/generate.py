"""Deterministic synthetic commerce data, written as TSV lines ready for `LOAD DATA`.

Everything follows from `SeedParams`: the same params give byte-identical rows on every run and in
every process, because each table (and each events shard) draws from its own `random.Random`
seeded with a string (string seeds are hashed with SHA-512, independent of PYTHONHASHSEED). Shards
therefore generate independently, in any order, in parallel, and again after a crash.

Shape of the data, chosen to load-test like production rather than like a uniform toy:
- account sizes follow Zipf (a few huge tenants, a long tail of small ones);
- events per profile follow a capped Pareto, with a share of profiles never active;
- events: page and product views, carts, checkouts, orders, email sends/opens/clicks, with
  realistic JSON payloads (SKUs, prices in the account's currency, user agents, campaign ids).

Generation is the bottleneck of seeding (not the server), so the hot loop is written for speed:
JSON payloads come from templates and fragments pre-escaped once per product/account, timestamps
from precomputed day and time-of-day strings, choices from lookup tables indexed by random bits.

Run as a producer process for `loadstack.data.seed`:
    python -m loadstack.data.generate produce-events --params JSON --shard N --out-dir DIR ...
or measure generation alone:
    python -m loadstack.data.generate bench --events 1000000
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Iterator

# Bump when the generated rows change for the same params: it is part of params_hash(), so seed
# markers and snapshot catalog entries made by older code are not mistaken for current data.
GENERATOR_VERSION = 1
MAX_SHARDS = 16  # events_00 .. events_15 exist in the schema


def events_table(shard: int) -> str:
    return f"events_{shard:02d}"


# --- TSV ---------------------------------------------------------------------------------------
# LOAD DATA ... FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n'
NULL = "\\N"
_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def tsv_escape(value: str) -> str:
    """Escape one text field for LOAD DATA's default (backslash) escaping."""
    return value.translate(_TSV_ESCAPES)


def tsv_field(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, str):
        return tsv_escape(value)
    return str(value)


def json_text(value: Any) -> str:
    """Compact JSON, TSV-escaped: for fragments built once, never per row."""
    return tsv_escape(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


# --- parameters --------------------------------------------------------------------------------
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
                f"invalid SeedParams {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)} (accounts >= 1, "
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


# --- word pools (fictional, RFC 2606 domains, documentation IP ranges) -------------------------
FIRST_NAMES = (
    "Olivia Liam Emma Noah Amelia Oliver Sophia Elijah Mia Lucas Zoë José Ana Mateo Léa Chloé Hugo "
    "Aarav Priya Wei Mei Yuki Haruto Fatima Omar Amara Kwame Ingrid Lars Søren Marta Piotr Olga Ivan "
    "Sean Siobhan Camila Diego Valentina Noor Layla Ethan Ava Isabella James Charlotte Henry Grace"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Martínez López Müller Schmidt O'Brien "
    "Nguyen Kim Park Chen Wang Tanaka Sato Kowalski Nowak Ivanova Rossi Bianchi Dubois Lefèvre "
    "Andersson Johansson Okafor Mensah Haddad Khan Patel Singh Silva Santos Cohen Levi Murphy Kelly"
).split()
ASCII_FOLD = str.maketrans("ëéèêáàâäíïóöôøúüñç'", "eeeeaaaaiioooouunc-")
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
COUNTRIES = ("US",) * 8 + ("GB",) * 3 + ("DE", "DE", "FR", "FR", "CA", "CA", "AU", "NL", "ES", "IT", "SE", "JP", "BR", "IN", "MX", "PL")
PLANS = ("free",) * 5 + ("growth",) * 3 + ("pro", "pro", "enterprise")
CURRENCIES = ("USD",) * 6 + ("EUR", "EUR", "GBP", "CAD", "AUD")
TIMEZONES = ("America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London", "Europe/Berlin", "Europe/Paris", "Australia/Sydney", "Asia/Tokyo")
COMPANY_WORDS = (
    "Acme Northwind Blue Harbor Cedar Summit Golden Maple Urban Wild Oak Bright Lantern Copper Fox "
    "River Stone Lunar Peak Little Fern Salt Pine Velvet Moon Iron Sparrow"
).split()
COMPANY_SUFFIXES = ("Outfitters", "Goods", "Co.", "Supply", "Apparel", "Home", "Market", "Studio", "Collective", "& Sons")
ADJECTIVES = "Organic Classic Vintage Everyday Premium Lightweight Merino Recycled Handmade Slim Cozy Waterproof Linen Ceramic Bamboo".split()
NOUNS = {
    "apparel": "Tee Hoodie Jacket Scarf Beanie Socks Jeans Dress Sweater Shorts".split(),
    "home": "Mug Candle Throw Pillow Planter Vase Lamp Rug Towel Teapot".split(),
    "beauty": "Serum Cleanser Balm Lotion Shampoo Soap Mask Toner".split(),
    "outdoor": "Backpack Bottle Tent Lantern Hammock Jacket Boots Cap".split(),
    "kitchen": "Knife Skillet Grinder Board Kettle Whisk Apron Tumbler".split(),
}
CATEGORIES = tuple(NOUNS)
COLORS = ("Black", "White", "Navy", "Sage", "Rust", "Oat", "Charcoal", "Sky", "Olive", "Sand")
PAGE_PATHS = (
    "/", "/collections/new", "/collections/sale", "/collections/bestsellers", "/pages/about",
    "/pages/shipping", "/pages/returns", "/blogs/journal", "/search?q=gift", "/search?q=sale",
    "/account", "/cart", "/collections/gifts-under-50", "/pages/faq", "/pages/size-guide",
)
PAGE_TITLES = {
    "/": "Home", "/cart": "Your cart", "/account": "Your account", "/pages/faq": "FAQ",
    "/pages/about": "Our story", "/pages/shipping": "Shipping", "/pages/returns": "Returns & exchanges",
    "/pages/size-guide": "Size guide", "/blogs/journal": "Journal",
}
REFERRERS = (
    None, None, None,  # direct visits
    "https://www.google.com/", "https://www.google.com/", "https://www.bing.com/",
    "https://duckduckgo.com/", "https://www.facebook.com/", "https://www.instagram.com/",
    "https://t.co/", "https://www.pinterest.com/", "https://newsletter.example.com/",
)
USER_AGENTS = (
    ("Gmail", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"),
    ("Gmail", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36"),
    ("Apple Mail", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"),
    ("Apple Mail", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"),
    ("Outlook", "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"),
    ("Outlook", "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)"),
    ("Yahoo Mail", "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"),
    ("Samsung Email", "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36"),
    ("Image proxy", "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"),
    ("Thunderbird", "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0"),
)
SUBJECTS = (
    "New arrivals are here", "Last chance: 20% off ends tonight", "You left something behind",
    "Our bestsellers, restocked", "A little thank-you 🎁", "Free shipping this weekend",
    "Meet the new collection", "Your order has shipped", "Weekend reads from the journal",
    "Back in stock: your wishlist", "¡Nuevas llegadas!", "Nouveautés de la semaine",
)
LIST_NAMES = ("newsletter", "vip", "winback", "browse-abandonment", "cart-abandonment", "post-purchase")
DISCOUNT_CODES = (None,) * 7 + ("WELCOME10", "VIP20", "FREESHIP")
ORDER_STATUSES = ("fulfilled",) * 16 + ("pending", "pending", "cancelled", "refunded")
SIGNUP_SOURCES = ("checkout", "popup", "footer_form", "import", "landing_page", "quiz")
IP_PREFIXES = ("192.0.2.", "198.51.100.", "203.0.113.")  # RFC 5737 documentation ranges

# (event_type, share): shares sum to 1.
EVENT_MIX = (
    ("viewed_page", 0.40),
    ("viewed_product", 0.20),
    ("received_email", 0.12),
    ("opened_email", 0.10),
    ("added_to_cart", 0.08),
    ("clicked_email", 0.05),
    ("started_checkout", 0.03),
    ("placed_order", 0.02),
)
EVENT_TYPES = tuple(name for name, _ in EVENT_MIX)
CAMPAIGNS_PER_ACCOUNT = 40


def _lookup_table(shares: tuple[tuple[Any, float], ...], bits: int) -> list[int]:
    """A 2**bits list of indices into `shares`, each appearing in proportion to its share."""
    size = 1 << bits
    counts = allocate(size, [share for _, share in shares])
    return [index for index, count in enumerate(counts) for _ in range(count)]


@lru_cache(maxsize=1)
def _time_of_day() -> tuple[str, ...]:
    return tuple(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400))


def _cents(value: int) -> str:
    return f"{value // 100}.{value % 100:02d}"


def _fold(text: str) -> str:
    return text.lower().translate(ASCII_FOLD)


# --- the plan: every decision that spans tables ------------------------------------------------
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
            slug = _fold(f"{words[0]}{words[1]}")
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

    def expected_counts(self) -> dict[str, int]:
        """Rows per table that a full seed with these params loads."""
        counts = {
            "accounts": len(self.accounts),
            "profiles": self.params.profiles,
            "products": len(self.products),
            "orders": self.params.orders,
            "order_items": sum(1 for _ in iter_order_item_rows(self.params)),
        }
        counts.update(zip(self.params.shard_tables, self.shard_event_counts))
        return counts


@lru_cache(maxsize=4)
def plan_for(params: SeedParams) -> DatasetPlan:
    return DatasetPlan(params)


# --- base tables -------------------------------------------------------------------------------
# Column lists, in the order of the TSV fields each generator writes.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("id", "name", "plan", "currency", "timezone", "created_at"),
    "profiles": ("id", "account_id", "email", "phone", "first_name", "last_name", "country", "created_at", "properties"),
    "products": ("id", "account_id", "sku", "name", "category", "price_cents", "created_at"),
    "orders": ("id", "account_id", "profile_id", "status", "item_count", "total_cents", "currency", "placed_at"),
    "order_items": ("order_id", "line_no", "product_id", "quantity", "unit_price_cents"),
}
EVENT_COLUMNS = ("id", "account_id", "profile_id", "event_type", "occurred_at", "payload")
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
    tod = _time_of_day()
    first_names = [(tsv_escape(n), _fold(n)) for n in FIRST_NAMES]
    last_names = [(tsv_escape(n), _fold(n)) for n in LAST_NAMES]
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
                _cents(int(rng.expovariate(1 / 15000))),
                tag_choices[int(rand() * len(tag_choices))],
            )
            country = COUNTRIES[int(rand() * len(COUNTRIES))]
            yield f"{profile_id}\t{account.id}\t{email}\t{phone}\t{first}\t{last}\t{country}\t{created}\t{properties}\n"


def _iter_orders(params: SeedParams) -> Iterator[tuple[str, list[str]]]:
    """(order row, its item rows): one stream, so orders and their lines always agree."""
    plan = plan_for(params)
    rng = random.Random(f"{params.seed}/orders")
    rand = rng.random
    tod = _time_of_day()
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


# --- events ------------------------------------------------------------------------------------
class _AccountFragments:
    """Per-account JSON pieces, escaped once, so the per-event work is picking and concatenating."""

    def __init__(self, plan: DatasetPlan, account: Account) -> None:
        currency = account.currency
        products = plan.products[account.first_product - 1 : account.first_product - 1 + plan.params.products_per_account]
        self.product_prices = [p.price_cents for p in products]
        base = "https://" + account.domain
        self.product_views = []
        self.cart_prefixes = []
        self.order_items = []
        for p in products:
            url = f"{base}/products/{_fold(p.name).replace(' – ', '-').replace(' ', '-')}"
            fields = {"product_id": p.id, "sku": p.sku, "name": p.name, "category": p.category}
            price = _cents(p.price_cents)
            core = json_text(fields)[:-1] + f',"price":{price},"currency":"{currency}"'
            self.product_views.append(core + ',"url":' + json_text(url) + "}")
            self.cart_prefixes.append(core + ',"quantity":')
            self.order_items.append(json_text({"product_id": p.id, "sku": p.sku, "name": p.name})[:-1] + f',"price":{price},"quantity":')
        self.pages = [
            json_text({"url": base + path, "title": PAGE_TITLES.get(path, path.rsplit("/", 1)[-1].replace("-", " ").title() or "Home")})[:-1]
            for path in PAGE_PATHS
        ]
        self.links = [json_text(base + path) for path in PAGE_PATHS]
        self.campaign_base = account.id * 1000
        self.currency = currency


class EventGenerator:
    """The rows of one events shard, in id order, identical on every run."""

    def __init__(self, params: SeedParams, shard: int) -> None:
        if not 0 <= shard < params.shards:
            raise ValueError(f"shard {shard} is outside 0..{params.shards - 1}")
        self.params = params
        self.shard = shard
        self.plan = plan_for(params)
        self.total_rows = self.plan.shard_event_counts[shard]

    def iter_chunks(self, chunk_rows: int) -> Iterator[list[str]]:
        """Lists of at most `chunk_rows` TSV lines; together exactly `total_rows` lines."""
        buffer: list[str] = []
        for lines in self._iter_profile_batches():
            buffer += lines
            while len(buffer) >= chunk_rows:
                yield buffer[:chunk_rows]
                del buffer[:chunk_rows]
        if buffer:
            yield buffer

    def _iter_profile_batches(self) -> Iterator[list[str]]:
        plan, params, shard = self.plan, self.params, self.shard
        rng = random.Random(f"{params.seed}/events/{shard}")
        rand, bits = rng.random, rng.getrandbits
        window = plan.window_seconds
        days, tod = plan.day_prefixes, _time_of_day()
        type_table = _lookup_table(EVENT_MIX, 10)
        (VIEW_PAGE, VIEW_PRODUCT, RECEIVED, OPENED, CART, CLICKED, CHECKOUT, ORDER) = range(len(EVENT_MIX))
        ppa = params.products_per_account
        referrers = [json_text(r) for r in REFERRERS]
        n_referrers = len(referrers)
        user_agents = [(json_text(client), json_text(ua)) for client, ua in USER_AGENTS]
        n_agents = len(user_agents)
        subjects = [json_text(s) for s in SUBJECTS]
        n_subjects = len(subjects)
        lists = [json_text(name) for name in LIST_NAMES]
        n_lists = len(lists)
        discounts = [json_text(code) for code in DISCOUNT_CODES]
        n_pages = len(PAGE_PATHS)
        fragments: dict[int, _AccountFragments] = {}
        accounts = plan.accounts
        account_index = 0
        profile_events = plan.profile_events
        step = params.shards
        next_id = shard + 1
        for profile_id in plan.shard_profiles(shard):
            count = profile_events[profile_id - 1]
            if not count:
                continue
            while account_index + 1 < len(accounts) and accounts[account_index + 1].first_profile <= profile_id:
                account_index += 1
            account_id = account_index + 1
            f = fragments.get(account_id)
            if f is None:
                f = fragments[account_id] = _AccountFragments(plan, accounts[account_index])
            prefix = f"\t{account_id}\t{profile_id}\t"
            views, carts, pages, prices = f.product_views, f.cart_prefixes, f.pages, f.product_prices
            currency = f.currency
            lines = []
            append = lines.append
            for _ in range(count):
                kind = type_table[bits(10)]
                offset = int(rand() * window)
                when = days[offset // 86400] + tod[offset % 86400]
                if kind == VIEW_PAGE:
                    payload = '%s,"referrer":%s,"session_id":"%012x"}' % (
                        pages[int(rand() * n_pages)], referrers[int(rand() * n_referrers)], bits(48))
                elif kind == VIEW_PRODUCT:
                    payload = views[int(rand() * rand() * ppa)]  # popular products get most views
                elif kind == RECEIVED:
                    payload = '{"campaign_id":%d,"message_id":"%016x","subject":%s,"list":%s}' % (
                        f.campaign_base + int(rand() * CAMPAIGNS_PER_ACCOUNT), bits(64), subjects[int(rand() * n_subjects)], lists[int(rand() * n_lists)])
                elif kind == OPENED:
                    client, agent = user_agents[int(rand() * n_agents)]
                    payload = '{"campaign_id":%d,"message_id":"%016x","client":%s,"user_agent":%s,"ip":"%s%d"}' % (
                        f.campaign_base + int(rand() * CAMPAIGNS_PER_ACCOUNT), bits(64), client, agent, IP_PREFIXES[bits(1)], 1 + bits(7))
                elif kind == CART:
                    payload = carts[int(rand() * rand() * ppa)] + ("1}" if rand() < 0.85 else "2}")
                elif kind == CLICKED:
                    payload = '{"campaign_id":%d,"message_id":"%016x","url":%s,"user_agent":%s}' % (
                        f.campaign_base + int(rand() * CAMPAIGNS_PER_ACCOUNT), bits(64), f.links[int(rand() * n_pages)],
                        user_agents[int(rand() * n_agents)][1])
                elif kind == CHECKOUT:
                    items = 1 + bits(2)
                    value = items * prices[int(rand() * ppa)]
                    payload = '{"checkout_id":"%016x","item_count":%d,"value":%s,"currency":"%s"}' % (
                        bits(64), items, _cents(value), currency)
                else:  # ORDER
                    picks = [int(rand() * rand() * ppa) for _ in range(1 + int(rand() ** 2 * 4))]
                    value = sum(prices[i] for i in picks)
                    payload = '{"order_ref":"%016x","items":[%s],"value":%s,"currency":"%s","discount_code":%s}' % (
                        bits(64), ",".join(f.order_items[i] + "1}" for i in picks), _cents(value), currency,
                        discounts[int(rand() * len(discounts))])
                append(f"{next_id}{prefix}{EVENT_TYPES[kind]}\t{when}\t{payload}\n")
                next_id += step
            yield lines


# --- producer process --------------------------------------------------------------------------
def produce_event_chunks(params: SeedParams, shard: int, *, out_dir: Path, chunk_rows: int, max_ahead: int) -> int:
    """Write the shard's rows as chunk files, announcing each on stdout; pace by acks on stdin.

    Protocol (line based): we print `chunk PATH ROWS` per finished file and `end TOTAL` at the end;
    the consumer writes one line per chunk it has loaded and deleted. With `max_ahead` chunks
    unacknowledged we block on stdin, which also tells us when the consumer died (EOF): then we
    delete our files and exit, so an interrupted seed leaves no producer and no garbage behind.
    """
    generator = EventGenerator(params, shard)
    outstanding = 0
    total = 0
    try:
        for number, lines in enumerate(generator.iter_chunks(chunk_rows)):
            path = out_dir / f"{events_table(shard)}-{number:05d}.tsv"
            partial = path.with_suffix(".partial")
            with open(partial, "w", encoding="utf-8", newline="") as handle:
                handle.write("".join(lines))
            partial.rename(path)
            total += len(lines)
            print(f"chunk {path} {len(lines)}", flush=True)
            outstanding += 1
            while outstanding >= max_ahead:
                if not sys.stdin.readline():
                    raise BrokenPipeError("consumer went away")
                outstanding -= 1
        print(f"end {total}", flush=True)
    except BrokenPipeError:
        for leftover in out_dir.glob(f"{events_table(shard)}-*"):
            leftover.unlink(missing_ok=True)
        try:
            out_dir.rmdir()  # the consumer made it, but a killed consumer cannot remove it any more
        except OSError:
            pass
        # stdout is gone too; keep the interpreter from complaining while it flushes at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


def benchmark(params: SeedParams, shards: list[int] | None = None) -> dict[str, float]:
    """Generation alone, one process: rows, seconds and rows/s over the given shards (TSV built, not written)."""
    started = time.perf_counter()
    plan_for(params)  # timed: the dataset plan is part of generation
    plan_seconds = time.perf_counter() - started
    rows = 0
    size = 0
    for shard in shards if shards is not None else range(params.shards):
        for chunk in EventGenerator(params, shard).iter_chunks(100_000):
            rows += len(chunk)
            size += len("".join(chunk))
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "plan_seconds": plan_seconds, "rows_per_second": rows / seconds, "mb": size / 1e6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadstack.data.generate", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    produce = sub.add_parser("produce-events", help="write one shard's rows as TSV chunk files (used by seed)")
    produce.add_argument("--params", required=True, help="SeedParams as JSON")
    produce.add_argument("--shard", type=int, required=True)
    produce.add_argument("--out-dir", type=Path, required=True)
    produce.add_argument("--chunk-rows", type=int, default=100_000)
    produce.add_argument("--max-ahead", type=int, default=2)
    bench = sub.add_parser("bench", help="measure generation speed alone")
    bench.add_argument("--events", type=int, default=1_000_000)
    bench.add_argument("--profiles", type=int, default=40_000)
    args = parser.parse_args(argv)
    if args.command == "produce-events":
        params = SeedParams.from_dict(json.loads(args.params))
        return produce_event_chunks(params, args.shard, out_dir=args.out_dir, chunk_rows=args.chunk_rows, max_ahead=args.max_ahead)
    result = benchmark(SeedParams(events=args.events, profiles=args.profiles))
    print(json.dumps({k: round(v, 3) for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
