"""The events store: the shop's MariaDB / Aurora MySQL database through an aiomysql pool.

Schema (loadstack's `data/schema`): `accounts`, `profiles` (id, account_id, ...), and the events
sharded by profile over tables `events_00` .. `events_NN`: a profile's events all live in
``events_{profile_id % shards:02d}``. The schema always creates 16 tables; a seed may use fewer
shards, and records one `seed_markers` row per shard it loaded. So the shard count is the number of
`events_NN` seed markers when there are any, else the number of `events_NN` tables; both must run
from events_00 without a gap. It is read once at start-up.

aiomysql rather than mysql-connector in threads: it served more requests per second here (see
app/README.md, "Measured").
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from datetime import datetime
from typing import Any

import aiomysql
import pymysql

from shopapp.credentials import DatabaseEndpoint

_EVENTS_TABLE = re.compile(r"^events_(\d{2})$")
DUPLICATE_KEY = 1062
NO_SUCH_TABLE = 1146


class StoreError(RuntimeError):
    """The database cannot serve this app (unreachable, or a schema it does not know); says why and the fix."""


class DuplicateEventId(RuntimeError):
    """An event id was already taken (the id counter in Redis was lost or set back)."""


def events_table(shard: int) -> str:
    return f"events_{shard:02d}"


def shard_count(tables: list[str], markers: list[str]) -> int:
    """The number of events shards, from the events tables present and the shards' seed markers."""
    present = sorted(int(m.group(1)) for t in tables if (m := _EVENTS_TABLE.match(t)))
    if not present or present != list(range(len(present))):
        raise StoreError(
            f"the database has events tables {present or 'none'}: it needs events_00 .. events_NN without a gap; "
            "run loadstack's migrations (or restore a shop snapshot) into it"
        )
    seeded = sorted(int(m.group(1)) for t in markers if (m := _EVENTS_TABLE.match(t)))
    if not seeded:
        return len(present)
    if seeded != list(range(len(seeded))) or len(seeded) > len(present):
        raise StoreError(
            f"seed_markers name events shards {seeded}, not events_00 .. events_NN among the tables present "
            f"({len(present)}): the seed is inconsistent; reseed the database"
        )
    return len(seeded)


def _timestamp(value: Any) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else str(value)


class EventStore:
    def __init__(self, endpoint: DatabaseEndpoint, pool_size: int = 10, *, connect_timeout: float = 5.0) -> None:
        self.endpoint = endpoint
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        self.shards = 0
        self.tables: list[str] = []
        self._pool: aiomysql.Pool | None = None
        self._profile_range: tuple[int, int] | None = None

    @property
    def where(self) -> str:
        e = self.endpoint
        return f"database {e.database!r} on {e.host}:{e.port} as {e.user}"

    async def open(self) -> None:
        e = self.endpoint
        try:
            self._pool = await aiomysql.create_pool(
                minsize=1,
                maxsize=self.pool_size,
                host=e.host,
                port=e.port,
                user=e.user,
                password=e.password,
                db=e.database,
                autocommit=True,
                charset="utf8mb4",
                connect_timeout=self.connect_timeout,
                # Connections idle longer than this are replaced, not found dead by a request.
                pool_recycle=600,
            )
        except (pymysql.err.MySQLError, OSError) as exc:
            raise StoreError(
                f"cannot connect to {self.where} ({exc}): check SHOPAPP_DB_NAME, the secret named by "
                "SHOPAPP_DB_SECRET_ID, and that the server is up and reachable"
            ) from None
        try:
            await self._discover_shards()
        except BaseException:
            await self.close()
            raise

    async def _discover_shards(self) -> None:
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_name LIKE 'events\\_%'"
            )
            tables = [row[0] for row in await cur.fetchall()]
            try:
                await cur.execute("SELECT shard FROM seed_markers WHERE shard LIKE 'events\\_%'")
                markers = [row[0] for row in await cur.fetchall()]
            except pymysql.err.ProgrammingError as exc:
                if exc.args[0] != NO_SUCH_TABLE:
                    raise
                markers = []
        self.shards = shard_count(tables, markers)
        self.tables = sorted(t for t in tables if _EVENTS_TABLE.match(t))

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            await self._pool.wait_closed()
            self._pool = None

    @property
    def pool(self) -> aiomysql.Pool:
        if self._pool is None:
            raise StoreError("the event store is not open")
        return self._pool

    def table_of(self, profile_id: int) -> str:
        return events_table(profile_id % self.shards)

    async def ping(self) -> None:
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("SELECT 1")
            await cur.fetchall()

    async def insert_event(
        self, event_id: int, account_id: int, profile_id: int, event_type: str, payload: str
    ) -> bool:
        """Record one event now (UTC); False when `profile_id` is not a profile of `account_id`.

        One statement both checks the profile and writes the row, so a write costs one round trip.
        """
        table = self.table_of(profile_id)
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            try:
                rows = await cur.execute(
                    f"INSERT INTO {table} (id, account_id, profile_id, event_type, occurred_at, payload) "
                    "SELECT %s, account_id, id, %s, UTC_TIMESTAMP(), %s FROM profiles WHERE id = %s AND account_id = %s",
                    (event_id, event_type, payload, profile_id, account_id),
                )
            except pymysql.err.IntegrityError as exc:
                if exc.args[0] == DUPLICATE_KEY:
                    raise DuplicateEventId(f"event id {event_id} is taken in {table}") from None
                raise
        return rows == 1

    async def recent_events(self, profile_id: int, limit: int) -> list[dict[str, Any]] | None:
        """The profile's latest events, newest first; None when there is no such profile."""
        table = self.table_of(profile_id)
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(
                f"SELECT id, account_id, event_type, occurred_at, payload FROM {table} "
                "WHERE profile_id = %s ORDER BY occurred_at DESC, id DESC LIMIT %s",
                (profile_id, limit),
            )
            rows = await cur.fetchall()
            if not rows:
                await cur.execute("SELECT 1 FROM profiles WHERE id = %s", (profile_id,))
                if not await cur.fetchall():
                    return None
        return [
            {
                "id": r[0],
                "account_id": r[1],
                "event_type": r[2],
                "occurred_at": _timestamp(r[3]),
                "payload": json.loads(r[4]),
            }
            for r in rows
        ]

    async def sample_profiles(self, n: int, rng: random.Random | None = None) -> list[dict[str, int]]:
        """Up to `n` distinct real profiles (id and account_id), drawn at random without a table scan."""
        rng = rng or random.Random()
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            if self._profile_range is None:
                await cur.execute("SELECT MIN(id), MAX(id) FROM profiles")
                low, high = (await cur.fetchall())[0]
                if low is None:
                    return []
                self._profile_range = (int(low), int(high))
            low, high = self._profile_range
            span = high - low + 1
            ids = rng.sample(range(low, high + 1), min(span, 2 * n))
            placeholders = ",".join(["%s"] * len(ids))
            await cur.execute(f"SELECT id, account_id FROM profiles WHERE id IN ({placeholders})", ids)
            found = [{"profile_id": int(r[0]), "account_id": int(r[1])} for r in await cur.fetchall()]
        rng.shuffle(found)
        return found[:n]

    async def max_event_id(self) -> int:
        """The highest event id in any events table (0 when all are empty)."""
        query = " UNION ALL ".join(f"SELECT MAX(id) FROM {table}" for table in self.tables)
        async with self.pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(query)
            return max((int(r[0]) for r in await cur.fetchall() if r[0] is not None), default=0)

    async def wait_ping(self, timeout: float) -> None:
        await asyncio.wait_for(self.ping(), timeout)
