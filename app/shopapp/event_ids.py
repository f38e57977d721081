"""Event ids unique across every app process: blocks from a counter in Redis, kept above the database's ids.

Seeded events have ids up to the database's highest (loadstack: id = n * shards + shard + 1, unique
across shards). Each process takes a block of `block` ids with one INCRBY on ``shopapp:event_id``
in the shared Redis and hands them out itself, so ids stay unique however many processes (and
hosts) write, at one Redis round trip per `block` writes rather than one per write (a round trip
is most of what a request costs here). Ids are unique, not ordered in time across processes.

The counter must never hand out an id the database has or a process still holds:
- a process raises it to at least the database's highest id when it starts (never lowers it);
- when the key is missing (first start, or a Redis restart or restore lost it) and the database
  has events, the counter restarts at the database's highest id plus `GAP` (10^9): blocks other
  processes may still hold lie between the two, far below the gap, so none is handed out twice;
- a write that still meets a duplicate key (the counter was set back by hand) moves the counter
  past the database the same way and takes a fresh block (`allocate_after_duplicate`).
Redis hands integers to Lua as doubles: ids stay exact below 2^53, some nine million counter
losses away. Floors travel as strings and are compared, never computed, inside Lua.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import redis.asyncio as redis

COUNTER_KEY = "shopapp:event_id"
GAP = 10**9
BLOCK = 100

# INCRBY only if the counter exists: a missing counter must be restarted from the database first.
_NEXT_BLOCK = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end
return -1
"""
# Raise the counter to at least ARGV[1] if it exists, ARGV[2] if it does not (never lower it), then
# take a block of ARGV[3] ids.
_FLOOR_AND_BLOCK = """
local current = redis.call('GET', KEYS[1])
local floor = ARGV[2]
if current then floor = ARGV[1] end
if tonumber(current or '0') < tonumber(floor) then redis.call('SET', KEYS[1], floor) end
return redis.call('INCRBY', KEYS[1], ARGV[3])
"""


class EventIds:
    def __init__(
        self, client: redis.Redis, highest_in_database: Callable[[], Awaitable[int]], *, block: int = BLOCK
    ) -> None:
        self._highest = highest_in_database
        self.block = block
        self._next_block = client.register_script(_NEXT_BLOCK)
        self._floor_and_block = client.register_script(_FLOOR_AND_BLOCK)
        self._next = 1
        self._end = 0  # the block held: ids _next .. _end

    def _hold(self, block_end: int) -> None:
        self._next, self._end = block_end - self.block + 1, block_end

    def _take(self, block_end: int) -> int:
        """Hold the block ending at `block_end` and hand out its first id. Two coroutines that fetch a
        block at once each hand out their own first id; the block kept is the one taken last."""
        self._hold(block_end)
        self._next += 1
        return self._next - 1

    async def _floored_block(self, *, past_database: bool) -> int:
        highest = await self._highest()
        beyond = highest + GAP if highest > 0 else 0
        floor = beyond if past_database else highest
        return int(await self._floor_and_block(keys=[COUNTER_KEY], args=[floor, beyond, self.block]))

    async def raise_floor(self) -> None:
        """At start-up: the counter at least at the database's highest id; holds the first block."""
        self._hold(await self._floored_block(past_database=False))

    async def allocate(self) -> int:
        if self._next <= self._end:
            self._next += 1
            return self._next - 1
        end = int(await self._next_block(keys=[COUNTER_KEY], args=[self.block]))
        if end < 0:
            end = await self._floored_block(past_database=False)  # missing: restarts beyond the database
        return self._take(end)

    async def allocate_after_duplicate(self) -> int:
        """An id after a duplicate-key error: the counter is behind the database; move it past the database."""
        return self._take(await self._floored_block(past_database=True))
