"""The events shards: page and product views, carts, checkouts, orders, e-mail sends/opens/clicks.

Each row carries a realistic JSON payload (SKUs, prices in the account's currency, user agents,
campaign ids). A profile's events all live in one shard, and shard `s` of `n` numbers its rows
s+1, s+1+n, ...: ids are unique across shards, which generate independently.

Generation is the bottleneck of seeding (not the server), so the hot loop is written for speed:
JSON payloads come from templates and fragments pre-escaped once per product/account, timestamps
from precomputed day and time-of-day strings, choices from lookup tables indexed by random bits.
"""

from __future__ import annotations

import random
from typing import Any, Iterator

from loadstack.data.params import SeedParams
from loadstack.data.plan import Account, DatasetPlan, allocate, plan_for
from loadstack.data.tsv import cents, json_text, times_of_day
from loadstack.data.words import (
    DISCOUNT_CODES,
    IP_PREFIXES,
    LIST_NAMES,
    PAGE_PATHS,
    PAGE_TITLES,
    REFERRERS,
    SUBJECTS,
    USER_AGENTS,
    fold,
)

EVENT_COLUMNS = ("id", "account_id", "profile_id", "event_type", "occurred_at", "payload")
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
            url = f"{base}/products/{fold(p.name).replace(' – ', '-').replace(' ', '-')}"
            fields = {"product_id": p.id, "sku": p.sku, "name": p.name, "category": p.category}
            price = cents(p.price_cents)
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
        days, tod = plan.day_prefixes, times_of_day()
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
                        bits(64), items, cents(value), currency)
                else:  # ORDER
                    picks = [int(rand() * rand() * ppa) for _ in range(1 + int(rand() ** 2 * 4))]
                    value = sum(prices[i] for i in picks)
                    payload = '{"order_ref":"%016x","items":[%s],"value":%s,"currency":"%s","discount_code":%s}' % (
                        bits(64), ",".join(f.order_items[i] + "1}" for i in picks), cents(value), currency,
                        discounts[int(rand() * len(discounts))])
                append(f"{next_id}{prefix}{EVENT_TYPES[kind]}\t{when}\t{payload}\n")
                next_id += step
            yield lines
