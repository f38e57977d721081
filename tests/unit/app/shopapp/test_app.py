"""The endpoints over stand-ins (conftest.py): routing, validation, caching, health, lifespan."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families


def event(**overrides):
    return {"account_id": 10, "profile_id": 1, "event_type": "page_view", "payload": {"path": "/"}, **overrides}


def test_the_lifespan_opens_and_closes_the_pools_and_floors_the_ids(harness):
    h = harness()
    assert h.store.opened and h.cache.opened and h.ids.floored
    h.client.__exit__(None, None, None)
    assert h.store.closed and h.cache.closed


def test_an_event_is_recorded_in_its_profiles_shard_and_invalidates_the_cached_timeline(harness):
    h = harness()
    assert h.client.get("/profiles/1/events?limit=5").headers["x-cache"] == "miss"
    assert h.client.get("/profiles/1/events?limit=5").headers["x-cache"] == "hit"
    posted = h.client.post("/events", json=event(profile_id=1))
    assert posted.status_code == 201
    assert posted.json() == {
        "id": 1001,
        "account_id": 10,
        "profile_id": 1,
        "event_type": "page_view",
        "table": "events_01",
    }
    timeline = h.client.get("/profiles/1/events?limit=5")
    assert timeline.headers["x-cache"] == "miss"
    assert [e["id"] for e in timeline.json()["events"]] == [1001]
    assert timeline.json()["events"][0]["payload"] == {"path": "/"}


def test_an_event_for_a_profile_of_another_account_is_not_found(harness):
    h = harness()
    response = h.client.post("/events", json=event(account_id=20, profile_id=1))
    assert response.status_code == 404 and response.json() == {"error": "no profile 1 in account 20"}
    assert h.store.events == {}


def test_invalid_events_are_refused_saying_what_is_wrong(harness):
    h = harness()
    cases = {
        "missing event_type": {k: v for k, v in event().items() if k != "event_type"},
        "unknown extra": event(extra=1),
        "account_id must be a positive integer": event(account_id=True),
        "profile_id must be a positive integer": event(profile_id=-3),
        "event_type must be 1-32 characters": event(event_type="Bad Type"),
        "payload must be a JSON object": event(payload=[1]),
        "payload is larger than": event(payload={"x": "a" * 20_000}),
        "the body must be a JSON object": [1, 2],
    }
    for expected, body in cases.items():
        response = h.client.post("/events", json=body)
        assert response.status_code == 422, expected
        assert expected in response.json()["error"]
    assert h.client.post("/events", content=b"{oops").status_code == 400
    assert h.client.post("/events", content=b"{" + b" " * 70_000 + b"}").status_code == 413
    assert h.store.events == {}


def test_timelines_need_a_known_profile_and_a_sane_limit(harness):
    h = harness()
    assert h.client.get("/profiles/999/events").status_code == 404
    assert h.client.get("/profiles/x1/events").status_code == 404
    assert h.client.get("/profiles/0/events").status_code == 404
    for limit in ("0", "101", "-1", "ten"):
        assert h.client.get(f"/profiles/1/events?limit={limit}").status_code == 422
    assert h.client.get("/profiles/1/events").json()["limit"] == 20


def test_a_cart_comes_from_the_session_and_unknown_sessions_are_not_found(harness):
    h = harness()
    h.cache.sessions["ab12"] = {"session_id": "ab12", "profile_id": 1, "account_id": 10, "cart": {"cart_id": 3}}
    assert h.client.get("/sessions/ab12/cart").json()["cart"] == {"cart_id": 3}
    assert h.client.get("/sessions/ffff/cart").status_code == 404


def test_health_names_each_dependency_that_is_down(harness):
    h = harness()
    ok = h.client.get("/health")
    assert ok.status_code == 200
    assert ok.json() == {"status": "ok", "shards": 4, "name": "unit", "database": "ok", "cache": "ok"}
    h.cache.down = ConnectionError("connection refused")
    down = h.client.get("/health")
    assert down.status_code == 503
    assert down.json() == {
        "status": "unavailable",
        "down": ["cache"],
        "name": "unit",
        "database": "ok",
        "cache": "ConnectionError: connection refused",
    }
    h.store.down = OSError("gone")
    assert h.client.get("/health").json()["down"] == ["database", "cache"]


def test_loadgen_keys_sample_profiles_and_sessions(harness):
    h = harness()
    h.cache.sessions = {"a1": {}, "b2": {}}
    keys = h.client.get("/loadgen/keys?n=2").json()
    assert keys == {
        "profiles": [{"profile_id": 1, "account_id": 10}, {"profile_id": 2, "account_id": 10}],
        "sessions": ["a1", "b2"],
    }
    assert h.client.get("/loadgen/keys?n=5000").status_code == 422


def test_metrics_are_served_at_the_exact_path_with_route_templates(harness):
    h = harness()
    h.client.get("/profiles/1/events")
    h.client.get("/profiles/2/events")
    h.client.get("/nowhere")
    h.client.delete("/events")
    response = h.client.get("/metrics", follow_redirects=False)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    counts = {
        (s.labels["route"], s.labels["method"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
        if s.name == "shopapp_requests_total"
    }
    assert counts[("/profiles/{id}/events", "GET", "200")] == 2
    assert counts[("unmatched", "GET", "404")] == 1
    assert counts[("/events", "DELETE", "405")] == 1
    assert "shopapp_request_duration_seconds_bucket" in response.text
    assert 'le="0.001"' in response.text and 'le="5.0"' in response.text


def test_cached_bodies_are_served_as_stored(harness):
    h = harness()
    h.cache.events[(7, 20)] = json.dumps({"profile_id": 7, "limit": 20, "events": ["cached"]}).encode()
    assert h.client.get("/profiles/7/events").json()["events"] == ["cached"]
    assert h.store.reads == 0
