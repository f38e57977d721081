"""The endpoints. Handlers find their collaborators on ``request.app.state`` (see `app.Services`).

POST /events                 record an event: {account_id, profile_id, event_type, payload}
GET  /profiles/{id}/events   a profile's latest events (?limit=1..100, default 20), cached in Redis
GET  /sessions/{sid}/cart    a session's cart, from Redis
GET  /health                 database and Redis, each with a short timeout: 200, or 503 naming what is down
GET  /metrics                Prometheus exposition of this process
GET  /loadgen/keys           real profile ids (with their account) and session ids, ?n=1..1000 (default 100)
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import redis.asyncio as redis
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shopapp.database import DuplicateEventId
from shopapp.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_.:-]{0,31}$")
EVENT_FIELDS = ("account_id", "profile_id", "event_type", "payload")
MAX_BODY_BYTES = 64 * 1024
MAX_PAYLOAD_BYTES = 16 * 1024
DEFAULT_LIMIT, MAX_LIMIT = 20, 100
DEFAULT_KEYS, MAX_KEYS = 100, 1000
HEALTH_TIMEOUT = 1.0
# Routes a fault never touches (see middleware).
EXEMPT_FROM_FAULTS = ("/health", "/metrics", "/loadgen/keys")


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value >= 2**63:
        return None
    return value


def validate_event(body: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(the event, None) or (None, what is wrong with it)."""
    if not isinstance(body, dict):
        return None, "the body must be a JSON object with account_id, profile_id, event_type, payload"
    missing = [f for f in EVENT_FIELDS if f not in body]
    unknown = sorted(set(body) - set(EVENT_FIELDS))
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(unknown)}"] if unknown else []
        )
        return None, f"fields: {'; '.join(parts)} (expected {', '.join(EVENT_FIELDS)})"
    for field in ("account_id", "profile_id"):
        if _positive_int(body[field]) is None:
            return None, f"{field} must be a positive integer, not {body[field]!r}"
    if not isinstance(body["event_type"], str) or not EVENT_TYPE.match(body["event_type"]):
        return None, "event_type must be 1-32 characters: a lowercase letter, then letters, digits, _ . : -"
    if not isinstance(body["payload"], dict):
        return None, "payload must be a JSON object"
    payload = json.dumps(body["payload"], separators=(",", ":"), ensure_ascii=False)
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        return None, f"payload is larger than {MAX_PAYLOAD_BYTES} bytes"
    return {**body, "payload": payload}, None


def _int_param(request: Request, name: str, default: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        return None
    return int(raw)


async def record_event(request: Request) -> Response:
    services = request.app.state.services
    if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
        return error(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        return error(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw)
    except ValueError:
        return error(400, "the body is not JSON")
    event, problem = validate_event(body)
    if event is None:
        return error(422, problem)
    event_id = await services.ids.allocate()
    try:
        inserted = await services.store.insert_event(
            event_id, event["account_id"], event["profile_id"], event["event_type"], event["payload"]
        )
    except DuplicateEventId as exc:
        log.warning("%s: the id counter fell behind the database; raising it and retrying once", exc)
        event_id = await services.ids.allocate_after_duplicate()
        inserted = await services.store.insert_event(
            event_id, event["account_id"], event["profile_id"], event["event_type"], event["payload"]
        )
    if not inserted:
        return error(404, f"no profile {event['profile_id']} in account {event['account_id']}")
    try:
        await services.cache.invalidate_events(event["profile_id"])
    except redis.RedisError as exc:  # the event is written; a stale timeline lives at most the cache TTL
        log.warning("could not drop profile %s's cached events (%s)", event["profile_id"], exc)
    return JSONResponse(
        {
            "id": event_id,
            "account_id": event["account_id"],
            "profile_id": event["profile_id"],
            "event_type": event["event_type"],
            "table": services.store.table_of(event["profile_id"]),
        },
        status_code=201,
    )


async def profile_events(request: Request) -> Response:
    services = request.app.state.services
    raw_id = request.path_params["id"]
    if not raw_id.isdigit() or _positive_int(int(raw_id)) is None:
        return error(404, f"no profile {raw_id!r}: profile ids are positive integers")
    profile_id = int(raw_id)
    limit = _int_param(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
    if limit is None:
        return error(422, f"limit must be a whole number from 1 to {MAX_LIMIT}")
    try:
        cached = await services.cache.cached_events(profile_id, limit)
    except redis.RedisError as exc:  # the cache is an optimisation: read through to the database
        log.warning("events cache unavailable (%s); reading the database", exc)
        cached = None
    if cached is not None:
        return Response(cached, media_type="application/json", headers={"x-cache": "hit"})
    events = await services.store.recent_events(profile_id, limit)
    if events is None:
        return error(404, f"no profile {profile_id}")
    body = json.dumps({"profile_id": profile_id, "limit": limit, "events": events}, separators=(",", ":")).encode()
    try:
        await services.cache.store_events(profile_id, limit, body, services.settings.events_cache_ttl)
    except redis.RedisError as exc:
        log.warning("events cache unavailable (%s); not caching", exc)
    return Response(body, media_type="application/json", headers={"x-cache": "miss"})


async def session_cart(request: Request) -> Response:
    session = await request.app.state.services.cache.session(request.path_params["sid"])
    if session is None:
        return error(404, f"no session {request.path_params['sid']!r}")
    return JSONResponse(session)


async def _check(name: str, probe) -> tuple[str, str | None]:
    try:
        await asyncio.wait_for(probe(), HEALTH_TIMEOUT)
        return name, None
    except TimeoutError:
        return name, f"no answer within {HEALTH_TIMEOUT:g} s"
    except Exception as exc:  # noqa: BLE001 - any failure means the dependency is down
        return name, f"{type(exc).__name__}: {exc}"


async def health(request: Request) -> Response:
    services = request.app.state.services
    results = await asyncio.gather(_check("database", services.store.ping), _check("cache", services.cache.ping))
    body: dict[str, Any] = {"name": services.settings.name}
    down = [name for name, problem in results if problem is not None]
    for name, problem in results:
        body[name] = "ok" if problem is None else problem
    if down:
        return JSONResponse({"status": "unavailable", "down": down, **body}, status_code=503)
    return JSONResponse({"status": "ok", "shards": services.store.shards, **body})


async def metrics(request: Request) -> Response:
    return Response(request.app.state.services.metrics.exposition(), media_type=CONTENT_TYPE)


async def loadgen_keys(request: Request) -> Response:
    services = request.app.state.services
    n = _int_param(request, "n", DEFAULT_KEYS, MAX_KEYS)
    if n is None:
        return error(422, f"n must be a whole number from 1 to {MAX_KEYS}")
    profiles, sessions = await asyncio.gather(services.store.sample_profiles(n), services.cache.sample_sessions(n))
    return JSONResponse({"profiles": profiles, "sessions": sessions})


ROUTES = [
    Route("/events", record_event, methods=["POST"]),
    Route("/profiles/{id}/events", profile_events, methods=["GET"]),
    Route("/sessions/{sid}/cart", session_cart, methods=["GET"]),
    Route("/health", health, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/loadgen/keys", loadgen_keys, methods=["GET"]),
]
