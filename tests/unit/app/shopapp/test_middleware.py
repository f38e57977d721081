"""Faults and metrics around every request: injected 500s counted like real ones, exempt routes."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

from prometheus_client.parser import text_string_to_metric_families
from shopapp import middleware
from shopapp.faults import Fault, FaultSwitch
from shopapp.metrics import Metrics
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient


def counts(client) -> dict[tuple[str, str, str], float]:
    return {
        (s.labels["route"], s.labels["method"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for s in family.samples
        if s.name == "shopapp_requests_total"
    }


def gauges(client) -> dict[str, float]:
    return {
        s.name: s.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for s in family.samples
        if s.name.startswith("shopapp_fault_")
    }


def test_a_static_error_ratio_fails_that_share_and_every_500_is_counted(harness):
    h = harness(static_fault=Fault(error_ratio=0.3), rng=random.Random(7))
    h.cache.sessions = {"a1": {"session_id": "a1"}}
    statuses = [h.client.get("/sessions/a1/cart").status_code for _ in range(400)]
    # A seeded generator: the share is exact for this seed, and near 0.3 as any seed would give.
    failed = statuses.count(500)
    assert 90 < failed < 150
    found = counts(h.client)
    assert found[("/sessions/{sid}/cart", "GET", "500")] == failed
    assert found[("/sessions/{sid}/cart", "GET", "200")] == 400 - failed
    assert h.client.get("/sessions/a1/cart").status_code in (200, 500)
    assert gauges(h.client) == {
        "shopapp_fault_latency_seconds": 0.0,
        "shopapp_fault_error_ratio": 0.3,
        "shopapp_fault_dynamic": 0.0,
    }


def test_health_metrics_and_loadgen_keys_are_exempt_from_faults(harness):
    h = harness(static_fault=Fault(error_ratio=1.0))
    assert h.client.post("/events", json={}).status_code == 500
    assert h.client.get("/profiles/1/events").status_code == 500
    assert h.client.get("/health").status_code == 200
    assert h.client.get("/loadgen/keys").status_code == 200
    assert h.client.get("/metrics").status_code == 200
    assert h.client.get("/nowhere").status_code == 500  # unknown paths are not exempt
    found = counts(h.client)
    assert found[("/events", "POST", "500")] == 1 and found[("unmatched", "GET", "500")] == 1


def test_a_dynamic_fault_read_from_redis_replaces_the_static_one(harness):
    h = harness(static_fault=Fault(error_ratio=1.0))
    h.cache.fault = json.dumps({"latency_ms": 0, "error_ratio": 0, "until": None}).encode()
    h.client.portal.call(h.faults.refresh)
    assert h.client.get("/profiles/1/events").status_code == 200
    assert gauges(h.client)["shopapp_fault_dynamic"] == 1.0
    h.cache.fault = None
    h.client.portal.call(h.faults.refresh)
    assert h.client.get("/profiles/1/events").status_code == 500


def test_latency_is_added_with_asyncio_sleep_except_on_exempt_routes(harness, monkeypatch):
    slept = []

    async def sleep(seconds):
        slept.append(seconds)

    # Only the middleware's view of asyncio: the app's own tasks must keep their real sleep.
    monkeypatch.setattr(middleware, "asyncio", SimpleNamespace(sleep=sleep))
    h = harness(static_fault=Fault(latency_ms=250))
    h.client.get("/profiles/1/events")
    h.client.get("/health")
    assert slept == [0.25]


def test_an_unhandled_error_is_answered_and_counted_as_500():
    async def boom(request):
        raise RuntimeError("bug")

    async def fine(request):
        return PlainTextResponse("ok")

    routes = [Route("/boom/{n}", boom), Route("/fine", fine)]
    faults = FaultSwitch(Fault(), lambda: None)
    metrics = Metrics(faults)
    app = Starlette(
        routes=routes,
        middleware=[Middleware(middleware.RequestMiddleware, routes=routes, metrics=metrics, faults=faults)],
    )
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/boom/1").status_code == 500
    assert client.get("/fine").status_code == 200
    assert metrics.requests.labels("/boom/{n}", "GET", "500")._value.get() == 1
    assert metrics.requests.labels("/fine", "GET", "200")._value.get() == 1
