"""Redis: the shop's session and cart cache, the events cache and the fault key.

Keys read (written by the shop's cache restore, loadstack's `commerce_cache_records`):
- ``session:<hex>``: a hash with profile_id, account_id, cart_id ("" while browsing), last_seen;
- ``cart:<n>``: a JSON string {cart_id, currency, items: [{sku, qty, unit_price_cents}], updated_at}.
Keys of the app's own:
- ``shopapp:events:<profile_id>``: a hash, one field per `limit` asked, each the JSON body of
  GET /profiles/{id}/events; deleted when the profile gets an event, and expiring after a short TTL
  (a read that raced a write may store a list without the new event: the TTL bounds that);
- ``shopapp:fault`` (see `faults`) and ``shopapp:event_id`` (see `event_ids`).
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

import redis.asyncio as redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from shopapp.credentials import CacheEndpoint
from shopapp.faults import FAULT_KEY

SESSION_ID = re.compile(r"^[0-9a-f]{1,64}$")
# A session and its cart in one round trip (syscalls are what a request costs most here). The cart's
# key is derived from the session, so this script does not run on a cluster-mode Redis; the shop's
# cache is a single primary (ElastiCache with cluster mode off).
_SESSION_AND_CART = """
local s = redis.call('HMGET', KEYS[1], 'profile_id', 'account_id', 'cart_id')
if not s[1] then return {} end
local cart = ''
if s[3] and s[3] ~= '' then cart = redis.call('GET', 'cart:' .. s[3]) or '' end
return {s[1], s[2] or '', cart}
"""


class CacheError(RuntimeError):
    """Redis cannot serve this app; the message says where and the fix."""


def events_key(profile_id: int) -> str:
    return f"shopapp:events:{profile_id}"


class Cache:
    def __init__(self, endpoint: CacheEndpoint, *, timeout: float = 2.0, max_connections: int = 64) -> None:
        self.endpoint = endpoint
        # Blocking: a burst beyond max_connections waits up to `timeout` for a connection instead of
        # failing at once with "Too many connections".
        pool = redis.BlockingConnectionPool(
            max_connections=max_connections,
            timeout=timeout,
            host=endpoint.host,
            port=endpoint.port,
            password=endpoint.password,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # One retry on a fresh connection (a server restart kills pooled ones), no waiting.
            retry=Retry(NoBackoff(), 1),
        )
        self.client = redis.Redis(connection_pool=pool)
        self._session_and_cart = self.client.register_script(_SESSION_AND_CART)

    @property
    def where(self) -> str:
        return f"Redis on {self.endpoint.host}:{self.endpoint.port}"

    async def open(self) -> None:
        try:
            await self.client.ping()
        except redis.RedisError as exc:
            raise CacheError(
                f"cannot reach {self.where} ({exc}): check the secret named by SHOPAPP_CACHE_SECRET_ID "
                "and that the server is up and reachable"
            ) from None

    async def close(self) -> None:
        await self.client.aclose()

    async def ping(self) -> None:
        await self.client.ping()

    async def session(self, session_id: str) -> dict[str, Any] | None:
        """The session and its cart (None while browsing); None for an unknown session."""
        if not SESSION_ID.match(session_id):
            return None
        fields = await self._session_and_cart(keys=[f"session:{session_id}"])
        if not fields:
            return None
        profile_id, account_id, cart = fields
        return {
            "session_id": session_id,
            "profile_id": int(profile_id),
            "account_id": int(account_id) if account_id else None,
            "cart": json.loads(cart) if cart else None,
        }

    async def cached_events(self, profile_id: int, limit: int) -> bytes | None:
        return await self.client.hget(events_key(profile_id), str(limit))

    async def store_events(self, profile_id: int, limit: int, body: bytes, ttl: float) -> None:
        key = events_key(profile_id)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, str(limit), body)
            # The TTL starts at the first cached limit: every field of the hash expires together.
            pipe.pexpire(key, int(ttl * 1000), nx=True)
            await pipe.execute()

    async def invalidate_events(self, profile_id: int) -> None:
        await self.client.delete(events_key(profile_id))

    async def read_fault(self) -> bytes | None:
        return await self.client.get(FAULT_KEY)

    async def sample_sessions(self, n: int, rng: random.Random | None = None, *, max_scans: int = 50) -> list[str]:
        """Up to `n` session ids drawn from the first few thousand a bounded SCAN finds (never KEYS:
        it would block a big cache for seconds)."""
        found: list[str] = []
        cursor = 0
        for _ in range(max_scans):
            cursor, keys = await self.client.scan(cursor, match="session:*", count=1000, _type="hash")
            found.extend(k.decode().removeprefix("session:") for k in keys)
            if cursor == 0 or len(found) >= 5 * n:
                break
        return (rng or random.Random()).sample(found, min(n, len(found)))
