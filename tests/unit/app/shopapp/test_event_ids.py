"""Event id blocks over a stand-in for Redis that runs the two scripts' logic in Python."""

from __future__ import annotations

import asyncio

from shopapp.event_ids import _FLOOR_AND_BLOCK, _NEXT_BLOCK, COUNTER_KEY, GAP, EventIds


class ScriptRedis:
    """register_script() for the two scripts of event_ids, with Redis's semantics (strings in, ints out)."""

    def __init__(self) -> None:
        self.data: dict[str, int] = {}
        self.calls = 0

    def register_script(self, source: str):
        async def next_block(keys, args):
            self.calls += 1
            if keys[0] not in self.data:
                return -1
            self.data[keys[0]] += int(args[0])
            return self.data[keys[0]]

        async def floor_and_block(keys, args):
            self.calls += 1
            floor = int(args[0] if keys[0] in self.data else args[1])
            self.data[keys[0]] = max(self.data.get(keys[0], 0), floor) + int(args[2])
            return self.data[keys[0]]

        return {_NEXT_BLOCK: next_block, _FLOOR_AND_BLOCK: floor_and_block}[source]


class Database:
    """The events tables as far as ids go: every id handed out is written at once."""

    def __init__(self, highest: int) -> None:
        self.highest = highest

    async def __call__(self) -> int:
        return self.highest


def database(highest: int) -> Database:
    return Database(highest)


def allocate(ids: EventIds, n: int) -> list[int]:
    async def many():
        return [await ids.allocate() for _ in range(n)]

    taken = asyncio.run(many())
    ids._highest.highest = max(ids._highest.highest, *taken)
    return taken


def test_processes_share_the_counter_in_blocks_and_never_repeat_an_id():
    redis = ScriptRedis()
    redis.data[COUNTER_KEY] = 500
    first, second = EventIds(redis, database(400), block=10), EventIds(redis, database(400), block=10)
    asyncio.run(first.raise_floor())
    asyncio.run(second.raise_floor())
    taken = allocate(first, 25) + allocate(second, 25)
    assert len(set(taken)) == 50 and min(taken) == 501
    assert taken[:3] == [501, 502, 503] and allocate(second, 1) == [556]
    assert redis.calls == 2 + 2 + 2  # one round trip per block of 10 (a block held since start-up), not per id


def test_the_counter_starts_at_the_databases_highest_id_if_it_is_behind():
    redis = ScriptRedis()
    redis.data[COUNTER_KEY] = 5
    ids = EventIds(redis, database(9_000), block=10)
    asyncio.run(ids.raise_floor())
    assert allocate(ids, 2) == [9_001, 9_002]


def test_a_lost_counter_restarts_past_the_database_beyond_blocks_still_held():
    redis, db = ScriptRedis(), Database(1_000)
    holder, other = EventIds(redis, db, block=10), EventIds(redis, db, block=10)
    asyncio.run(holder.raise_floor())  # first start: no counter yet, so it starts past the database too
    assert allocate(holder, 1) == [1_000 + GAP + 1]
    redis.data.clear()  # Redis restarted without the counter while `holder` still holds 9 ids
    asyncio.run(other.raise_floor())
    fresh = allocate(other, 10)
    assert fresh[0] == 1_000 + GAP + 1 + GAP + 1
    assert not set(fresh) & set(allocate(holder, 9))


def test_an_empty_database_starts_the_counter_at_one():
    ids = EventIds(ScriptRedis(), database(0), block=5)
    asyncio.run(ids.raise_floor())
    assert allocate(ids, 6) == [1, 2, 3, 4, 5, 6]


def test_after_a_duplicate_the_counter_moves_past_the_database():
    redis = ScriptRedis()
    redis.data[COUNTER_KEY] = 100
    ids = EventIds(redis, database(50), block=10)
    asyncio.run(ids.raise_floor())
    assert asyncio.run(ids.allocate_after_duplicate()) == 50 + GAP + 1
