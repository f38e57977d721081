"""Build Redis RDB snapshots from data and generate a commerce cache.

`build_rdb` starts a throwaway redis-server (own directory, free port on 127.0.0.1), streams RESP
into it through `redis-cli --pipe` (about 2.4 s per 1 M keys; a client library with pipelines is
about 8 times slower), runs SAVE, copies dump.rdb to the destination and stops the server by PID.

Expiry times in an RDB are absolute (Unix milliseconds): a TTL given here counts from the moment
the RDB is built, and a key whose expiry has passed is dropped when the RDB is loaded. Snapshots
meant to be restored days later should carry no TTLs (the default of the commerce generator), or
have them applied after the restore.

RDB files travel through the profile's snapshot bucket as artifacts (`loadstack.artifacts`), under
`rdb_object_key`.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loadstack.cache.redis_server import RedisServer, RedisServerError
from loadstack.cache.resp import encode_command
from loadstack.data.plan import DatasetPlan
from loadstack.supervisor import free_port

Scalar = str | bytes | int | float
Value = Scalar | Mapping[str, Scalar] | list | tuple | set | frozenset
Record = tuple[str, Value, int | None]

RDB_PREFIX = "redis/"
# A fixed clock for generated timestamps, so that a seed always gives the same bytes (2026-01-01).
DEFAULT_NOW = 1_767_225_600


class RdbError(RuntimeError):
    """An RDB could not be built; the message says why."""


# --- records -> RESP ----------------------------------------------------------------------------
def record_commands(key: str | bytes, value: Value, ttl: int | None = None) -> bytes:
    """RESP for one key. str/bytes/number: SET; mapping: HSET; list/tuple: RPUSH; set: SADD.

    `ttl` (seconds, > 0) becomes SET ... EX ttl, or EXPIRE after the other types.
    """
    if ttl is not None and int(ttl) <= 0:
        raise ValueError(f"ttl for {key!r} must be a positive number of seconds or None, not {ttl!r}")
    if isinstance(value, (str, bytes, int, float)) and not isinstance(value, bool):
        if ttl is None:
            return encode_command("SET", key, value)
        return encode_command("SET", key, value, "EX", int(ttl))
    if isinstance(value, Mapping):
        if not value:
            raise ValueError(f"{key!r}: Redis has no empty hashes")
        args: list[Any] = ["HSET", key]
        for field, item in value.items():
            args += [field, item]
        out = encode_command(*args)
    elif isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(f"{key!r}: Redis has no empty lists")
        out = encode_command("RPUSH", key, *value)
    elif isinstance(value, (set, frozenset)):
        if not value:
            raise ValueError(f"{key!r}: Redis has no empty sets")
        out = encode_command("SADD", key, *sorted(value, key=repr))
    else:
        raise TypeError(f"{key!r}: cannot store a {type(value).__name__} in Redis")
    if ttl is not None:
        out += encode_command("EXPIRE", key, int(ttl))
    return out


def _resp_chunks(source: Iterable[Any], chunk_size: int) -> Iterator[bytes]:
    """Join the source into chunks of about `chunk_size` bytes of RESP.

    The source yields either records ``(key, value, ttl)`` or ready RESP bytes (whole commands or
    any slices of a RESP stream); which one is decided by the first item.
    """
    items = iter(source)
    first = next(items, None)
    if first is None:
        return
    items = itertools.chain([first], items)
    if isinstance(first, (bytes, bytearray, memoryview)):
        encoded: Iterator[bytes] = (bytes(item) for item in items)
    elif isinstance(first, tuple):
        encoded = (record_commands(*item) for item in items)
    else:
        raise TypeError(
            f"build_rdb source must yield (key, value, ttl) tuples or RESP bytes, not {type(first).__name__}"
        )
    batch: list[bytes] = []
    size = 0
    for data in encoded:
        batch.append(data)
        size += len(data)
        if size >= chunk_size:
            yield b"".join(batch)
            batch, size = [], 0
    if batch:
        yield b"".join(batch)


# --- building -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RdbBuild:
    path: str
    keys: int
    size_bytes: int
    replies: int
    load_seconds: float
    save_seconds: float
    total_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _start_scratch_server(root: Path, attempts: int = 3) -> RedisServer:
    """A passwordless server on a free loopback port (retried: the port may be taken meanwhile)."""
    error: Exception | None = None
    for attempt in range(attempts):
        server = RedisServer(root / f"redis-{attempt}", free_port())
        server.start()
        try:
            server.wait_ready(30)
            return server
        except RedisServerError as exc:
            server.stop()
            error = exc
    raise RdbError(f"could not start a scratch redis-server: {error}")


def _pipe(port: int, chunks: Iterable[bytes], out_path: Path, timeout: float, redis_cli_bin: str) -> int:
    """Stream RESP chunks through `redis-cli --pipe`; returns the number of replies."""
    binary = shutil.which(redis_cli_bin)
    if binary is None:
        raise RdbError(f"{redis_cli_bin} not found on PATH: install Debian's redis-tools (redis-server pulls it in)")
    # Output goes to a file, not a pipe: a flood of error replies must not block redis-cli.
    with out_path.open("w+b") as out:
        proc = subprocess.Popen(
            [binary, "-h", "127.0.0.1", "-p", str(port), "--pipe"],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            try:
                for chunk in chunks:
                    proc.stdin.write(chunk)
            except BrokenPipeError:
                pass  # redis-cli gave up; its output below says why
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
            rc = proc.wait(timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        out.seek(0)
        text = out.read().decode(errors="replace")
    match = re.search(r"errors: (\d+), replies: (\d+)", text)
    if rc != 0 or match is None or int(match.group(1)) > 0:
        raise RdbError(f"redis-cli --pipe failed (exit code {rc}):\n{text[-3000:]}")
    return int(match.group(2))


def build_rdb(
    source: Iterable[Record] | Iterable[bytes],
    dest: Path | str,
    *,
    work_dir: Path | str | None = None,
    chunk_size: int = 1 << 20,
    timeout: float = 1800.0,
    redis_cli_bin: str = "redis-cli",
) -> RdbBuild:
    """Load `source` into a scratch Redis and write its RDB to `dest` (replaced atomically).

    `source` yields records ``(key, value, ttl_or_None)`` (see `record_commands`) or RESP bytes
    (e.g. from `encode_command`). The scratch server lives in a temporary directory under
    `work_dir` (default: dest's directory) and is stopped and removed whatever happens.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=".rdb-build-", dir=work_dir or dest.parent))
    started = time.monotonic()
    server: RedisServer | None = None
    try:
        server = _start_scratch_server(root)
        replies = _pipe(server.port, _resp_chunks(source, chunk_size), root / "pipe.out", timeout, redis_cli_bin)
        loaded = time.monotonic()
        keys = server.dbsize()
        server.save()
        saved = time.monotonic()
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        shutil.copyfile(server.rdb_path, tmp)
        tmp.replace(dest)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return RdbBuild(
        path=str(dest),
        keys=keys,
        size_bytes=dest.stat().st_size,
        replies=replies,
        load_seconds=round(loaded - started, 3),
        save_seconds=round(saved - loaded, 3),
        total_seconds=round(time.monotonic() - started, 3),
    )


# --- a commerce cache ---------------------------------------------------------------------------
def commerce_cache_records(
    seed: int,
    sessions: int,
    carts: int,
    *,
    profiles: int | None = None,
    accounts: int | None = None,
    skus: int | None = None,
    max_cart_items: int = 5,
    session_ttl: int | None = None,
    cart_ttl: int | None = None,
    now: int = DEFAULT_NOW,
    account_of: Callable[[int], int] | None = None,
    plan: DatasetPlan | None = None,
) -> Iterator[Record]:
    """The cache of a web shop, deterministic for a given seed and counts (and plan).

    - ``cart:<n>`` (n = 1..carts): a JSON string ``{"cart_id", "currency", "items": [{"sku",
      "qty", "unit_price_cents"}], "updated_at"}`` with 1..max_cart_items items.
    - ``session:<32 hex>``: a hash with ``profile_id``, ``account_id``, ``cart_id`` and
      ``last_seen`` (Unix seconds, up to 7 days before `now`). Session i (0-based) owns cart i+1
      while there are carts; later sessions have ``cart_id`` "" (browsing only), extra carts are
      abandoned ones.

    Without `plan`, profiles belong to accounts by ``account_of(profile_id)`` (default:
    consecutive blocks of profiles per account) and carts hold invented ``SKU-nnnnnn`` items in
    USD. With `plan` (the seeded database's `loadstack.data.plan.DatasetPlan`) the cache
    agrees with that database: ``profile_id`` is one of its profiles (1..params.profiles),
    ``account_id`` that profile's account, and each cart holds distinct products of one account
    (its session's; an abandoned cart's is drawn like a session's) with their real ``sku`` and
    ``price_cents``, priced in that account's currency. `profiles`, `accounts`, `skus` and
    `account_of` then come from the plan and must not be given.

    Yields carts first, then sessions: carts + sessions keys in total (session ids are 128-bit
    random, so they do not collide). TTLs default to none (see the module doc on RDB expiry).
    """
    if sessions < 0 or carts < 0:
        raise ValueError("sessions and carts must be >= 0")
    if plan is not None:
        given = [n for n, v in (("profiles", profiles), ("accounts", accounts), ("skus", skus), ("account_of", account_of)) if v is not None]
        if given:
            raise ValueError(f"{', '.join(given)}: not with a plan, which decides profiles, accounts and products")
        return _planned_cache_records(plan, seed, sessions, carts, max_cart_items, session_ttl, cart_ttl, now)
    return _invented_cache_records(seed, sessions, carts, profiles, accounts, 5000 if skus is None else skus,
                                   max_cart_items, session_ttl, cart_ttl, now, account_of)


_WEEK = 7 * 86400


def _invented_cache_records(
    seed: int, sessions: int, carts: int, profiles: int | None, accounts: int | None, skus: int,
    max_cart_items: int, session_ttl: int | None, cart_ttl: int | None, now: int,
    account_of: Callable[[int], int] | None,
) -> Iterator[Record]:
    profiles = profiles or max(1, sessions // 2)
    accounts = accounts or max(1, profiles // 4)
    rng = random.Random(seed)
    rand = rng.random  # int(rand() * n) instead of randrange(n): several times faster, as deterministic
    prices = [199 + int(rand() * 19801) for _ in range(skus)]
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    week = _WEEK
    for cart_id in range(1, carts + 1):
        items = []
        for _ in range(1 + int(rand() * max_cart_items)):
            sku = int(rand() * skus)
            items.append({"sku": f"SKU-{sku:06d}", "qty": 1 + int(rand() * 4), "unit_price_cents": prices[sku]})
        cart = {"cart_id": cart_id, "currency": "USD", "items": items, "updated_at": now - int(rand() * week)}
        yield (f"cart:{cart_id}", dumps(cart), cart_ttl)
    per_account = max(1, -(-profiles // accounts))
    if account_of is None:
        account_of = lambda profile_id: (profile_id - 1) // per_account + 1
    getrandbits = rng.getrandbits
    for index in range(sessions):
        profile_id = 1 + int(rand() * profiles)
        session = {
            "profile_id": profile_id,
            "account_id": account_of(profile_id),
            "cart_id": index + 1 if index < carts else "",
            "last_seen": now - int(rand() * week),
        }
        yield (f"session:{getrandbits(128):032x}", session, session_ttl)


def _planned_cache_records(
    plan: DatasetPlan, seed: int, sessions: int, carts: int, max_cart_items: int,
    session_ttl: int | None, cart_ttl: int | None, now: int,
) -> Iterator[Record]:
    params = plan.params
    profiles, per_account = params.profiles, params.products_per_account
    accounts = plan.accounts
    first_profiles = [account.first_profile for account in accounts]  # ascending: bisect finds the account
    # Sliced once per account, so that each cart item costs one list index rather than a search.
    stock = [
        [(p.sku, p.price_cents) for p in plan.products[a.first_product - 1 : a.first_product - 1 + per_account]]
        for a in accounts
    ]
    rng = random.Random(seed)
    rand = rng.random
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    week = _WEEK
    # Sessions' profiles first: session i owns cart i+1, whose products are of that session's account.
    session_profiles = [1 + int(rand() * profiles) for _ in range(sessions)]
    session_accounts = [bisect_right(first_profiles, profile_id) - 1 for profile_id in session_profiles]
    for cart_id in range(1, carts + 1):
        if cart_id <= sessions:
            index = session_accounts[cart_id - 1]
        else:  # abandoned: an account weighted by its profiles, like sessions'
            index = bisect_right(first_profiles, 1 + int(rand() * profiles)) - 1
        products = stock[index]
        chosen: dict[int, int] = {}
        for _ in range(1 + int(rand() * max_cart_items)):
            pick = int(rand() * rand() * per_account)  # popular products are in most carts
            if pick not in chosen:
                chosen[pick] = 1 + int(rand() * 4)
        items = [
            {"sku": products[pick][0], "qty": qty, "unit_price_cents": products[pick][1]} for pick, qty in chosen.items()
        ]
        cart = {"cart_id": cart_id, "currency": accounts[index].currency, "items": items,
                "updated_at": now - int(rand() * week)}
        yield (f"cart:{cart_id}", dumps(cart), cart_ttl)
    getrandbits = rng.getrandbits
    for index, profile_id in enumerate(session_profiles):
        session = {
            "profile_id": profile_id,
            "account_id": accounts[session_accounts[index]].id,
            "cart_id": index + 1 if index < carts else "",
            "last_seen": now - int(rand() * week),
        }
        yield (f"session:{getrandbits(128):032x}", session, session_ttl)


# --- S3 ---------------------------------------------------------------------------------------
def rdb_object_key(name: str) -> str:
    """Where an RDB named `name` lives in the snapshot bucket."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", name) or ".." in name:
        raise ValueError(f"RDB name {name!r}: use letters, digits, '.', '_', '-' and '/'")
    return f"{RDB_PREFIX}{name}.rdb"
