"""Stand-ins for the app's collaborators (same methods as database.EventStore, cache.Cache and
event_ids.EventIds, data in dicts) and a TestClient factory over them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from shopapp.app import create_app
from shopapp.config import Settings
from shopapp.faults import OFF, Fault, FaultSwitch
from starlette.testclient import TestClient


@dataclass
class FakeStore:
    shards: int = 4
    profiles: dict[int, int] = field(default_factory=lambda: {1: 10, 2: 10, 7: 20})  # profile -> account
    events: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    down: Exception | None = None
    opened: bool = False
    closed: bool = False
    reads: int = 0

    async def open(self) -> None:
        self.opened = True

    async def close(self) -> None:
        self.closed = True

    async def ping(self) -> None:
        if self.down is not None:
            raise self.down

    def table_of(self, profile_id: int) -> str:
        return f"events_{profile_id % self.shards:02d}"

    async def insert_event(self, event_id, account_id, profile_id, event_type, payload) -> bool:
        if self.profiles.get(profile_id) != account_id:
            return False
        self.events.setdefault(profile_id, []).insert(
            0,
            {
                "id": event_id,
                "account_id": account_id,
                "event_type": event_type,
                "occurred_at": "2026-01-01T00:00:00Z",
                "payload": json.loads(payload),
            },
        )
        return True

    async def recent_events(self, profile_id: int, limit: int):
        self.reads += 1
        if profile_id not in self.profiles:
            return None
        return self.events.get(profile_id, [])[:limit]

    async def sample_profiles(self, n: int):
        return [{"profile_id": p, "account_id": a} for p, a in list(self.profiles.items())[:n]]

    async def max_event_id(self) -> int:
        return 0


@dataclass
class FakeCache:
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[tuple[int, int], bytes] = field(default_factory=dict)
    fault: bytes | None = None
    down: Exception | None = None
    opened: bool = False
    closed: bool = False

    async def open(self) -> None:
        self.opened = True

    async def close(self) -> None:
        self.closed = True

    async def ping(self) -> None:
        if self.down is not None:
            raise self.down

    async def session(self, session_id: str):
        return self.sessions.get(session_id)

    async def cached_events(self, profile_id: int, limit: int):
        return self.events.get((profile_id, limit))

    async def store_events(self, profile_id: int, limit: int, body: bytes, ttl: float) -> None:
        self.events[(profile_id, limit)] = body

    async def invalidate_events(self, profile_id: int) -> None:
        for key in [k for k in self.events if k[0] == profile_id]:
            del self.events[key]

    async def read_fault(self):
        return self.fault

    async def sample_sessions(self, n: int):
        return list(self.sessions)[:n]


@dataclass
class FakeIds:
    next_id: int = 1000
    floored: bool = False

    async def raise_floor(self) -> None:
        self.floored = True

    async def allocate(self) -> int:
        self.next_id += 1
        return self.next_id

    async def allocate_after_duplicate(self) -> int:
        return await self.allocate()


def settings(**overrides: Any) -> Settings:
    values = {
        "name": "unit",
        "db_secret_id": "db",
        "db_name": "shop",
        "cache_secret_id": "cache",
        "static_fault": Fault(),
    }
    return Settings(**{**values, **overrides})


@dataclass
class Harness:
    client: TestClient
    store: FakeStore
    cache: FakeCache
    ids: FakeIds
    faults: FaultSwitch


@pytest.fixture
def harness() -> Iterator[Any]:
    """harness(static_fault=..., rng=...) -> a running app over fakes (lifespan entered), closed at the end."""
    opened: list[TestClient] = []

    def make(*, static_fault: Fault = OFF, rng=None, store=None, cache=None) -> Harness:
        store, cache, ids = store or FakeStore(), cache or FakeCache(), FakeIds()
        faults = FaultSwitch(static_fault, cache.read_fault, rng=rng)
        app = create_app(settings(static_fault=static_fault), store=store, cache=cache, ids=ids, faults=faults)
        client = TestClient(app)
        client.__enter__()
        opened.append(client)
        return Harness(client, store, cache, ids, faults)

    yield make
    for client in opened:
        client.__exit__(None, None, None)
