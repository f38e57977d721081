"""Event ids unique across every app process: a counter in Redis, kept above the database's ids.

Seeded events have ids up to the database's highest (loadstack: id = n * shards + shard + 1, unique
across shards). Every process takes the next id with INCR on ``shopapp:event_id`` in the shared
Redis, so ids stay unique however many processes (and hosts) write, at one extra loopback round trip
per write. The counter must never fall below an id already in the database:
- at start-up each process raises it to the database's highest id (a Lua script: never lowers it);
- when the key is missing (a Redis restart or restore lost it), the process that notices reads the
  database's highest id again and raises the counter to it before taking an id;
- a write that still meets a duplicate key re-reads the highest id and retries once (`allocate`
  is called again by the caller).
Left open: if the counter is lost while other processes have ids in flight (taken, not yet
inserted), an id may be handed out twice within those few milliseconds; the primary key catches a
repeat in the same shard.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import redis.asyncio as redis

COUNTER_KEY = "shopapp:event_id"

# INCR only if the counter exists: a missing counter must be floored from the database first.
_NEXT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCR', KEYS[1]) end
return -1
"""
# Raise the counter to at least ARGV[1] (never lower it), then take the next id.
_FLOOR_AND_NEXT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return redis.call('INCR', KEYS[1])
"""
_FLOOR = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) return tonumber(ARGV[1]) end
return current
"""


class EventIds:
    def __init__(self, client: redis.Redis, highest_in_database: Callable[[], Awaitable[int]]) -> None:
        self._highest = highest_in_database
        self._next = client.register_script(_NEXT)
        self._floor_and_next = client.register_script(_FLOOR_AND_NEXT)
        self._floor = client.register_script(_FLOOR)

    async def raise_floor(self) -> int:
        """Raise the counter to the database's highest id; returns the counter's value."""
        return int(await self._floor(keys=[COUNTER_KEY], args=[await self._highest()]))

    async def allocate(self) -> int:
        value = int(await self._next(keys=[COUNTER_KEY]))
        if value < 0:
            value = int(await self._floor_and_next(keys=[COUNTER_KEY], args=[await self._highest()]))
        return value

    async def allocate_after_duplicate(self) -> int:
        """An id after a duplicate-key error: the counter fell behind the database, so floor it first."""
        return int(await self._floor_and_next(keys=[COUNTER_KEY], args=[await self._highest()]))
