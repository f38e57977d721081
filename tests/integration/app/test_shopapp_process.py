"""The real app as processes over HTTP: every endpoint against the seeded database and the restored
cache, a dynamic fault burst, metrics that count it, health when Redis is down, ids across processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration

BURST_REQUESTS, BURST_RATIO = 300, 0.5


def wait_until(condition, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(interval)


def samples(client: httpx.Client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def requests_total(found, route: str, method: str, status: int) -> float:
    key = ("shopapp_requests_total", frozenset({"route": route, "method": method, "status": str(status)}.items()))
    return found.get(key, 0.0)


def query(params, sql: str, args=()):
    with params.connect() as conn:
        cursor = conn.cursor()
        cursor.execute(sql, args)
        return cursor.fetchall()


@pytest.fixture(scope="module")
def app(start_app):
    return start_app("shopapp-it-main")


def test_reads_serve_the_seeded_database_and_the_restored_cache(app, writable_seeded_database, shop_cache):
    params, seed, _ = writable_seeded_database
    keys = app.client.get("/loadgen/keys", params={"n": 20}).json()
    assert len(keys["profiles"]) == 20 and len(keys["sessions"]) == 20
    for profile in keys["profiles"]:
        assert query(params, "SELECT account_id FROM profiles WHERE id = %s", (profile["profile_id"],)) == [
            (profile["account_id"],)
        ]
    assert set(keys["sessions"]) <= set(shop_cache["sessions"])

    # The busiest profile of a shard: its timeline comes from events_<id % shards>, newest first.
    ((profile_id, count),) = query(
        params, "SELECT profile_id, COUNT(*) AS n FROM events_03 GROUP BY profile_id ORDER BY n DESC LIMIT 1"
    )
    assert profile_id % seed.shards == 3 and count > 5
    first = app.client.get(f"/profiles/{profile_id}/events", params={"limit": 5})
    assert first.status_code == 200 and first.headers["x-cache"] == "miss"
    expected = query(
        params,
        "SELECT id FROM events_03 WHERE profile_id = %s ORDER BY occurred_at DESC, id DESC LIMIT 5",
        (profile_id,),
    )
    assert [e["id"] for e in first.json()["events"]] == [row[0] for row in expected]
    again = app.client.get(f"/profiles/{profile_id}/events", params={"limit": 5})
    assert again.headers["x-cache"] == "hit" and again.json() == first.json()
    assert app.client.get("/profiles/99999999/events").status_code == 404
    assert app.client.get("/profiles/abc/events").status_code == 404
    assert app.client.get(f"/profiles/{profile_id}/events", params={"limit": 0}).status_code == 422

    with_cart = next(sid for sid, s in shop_cache["sessions"].items() if s["cart_id"] != "")
    cart = app.client.get(f"/sessions/{with_cart}/cart").json()
    session = shop_cache["sessions"][with_cart]
    assert cart["profile_id"] == session["profile_id"] and cart["account_id"] == session["account_id"]
    assert cart["cart"] == json.loads(shop_cache["carts"][f"cart:{session['cart_id']}"])
    browsing = next(sid for sid, s in shop_cache["sessions"].items() if s["cart_id"] == "")
    assert app.client.get(f"/sessions/{browsing}/cart").json()["cart"] is None
    assert app.client.get("/sessions/00000000000000000000000000000000/cart").status_code == 404

    health = app.client.get("/health")
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "shards": seed.shards,
        "name": "shopapp-it-main",
        "database": "ok",
        "cache": "ok",
    }


def test_an_event_is_written_to_its_shard_and_invalidates_the_cached_timeline(app, writable_seeded_database):
    params, seed, _ = writable_seeded_database
    ((profile_id, account_id),) = query(params, "SELECT id, account_id FROM profiles WHERE id = 1234")
    url = f"/profiles/{profile_id}/events"
    assert app.client.get(url, params={"limit": 3}).status_code == 200
    assert app.client.get(url, params={"limit": 3}).headers["x-cache"] == "hit"
    seeded_max = max(
        row[0]
        for row in query(
            params, " UNION ALL ".join(f"SELECT COALESCE(MAX(id), 0) FROM events_{s:02d}" for s in range(16))
        )
    )

    posted = app.client.post(
        "/events",
        json={
            "account_id": account_id,
            "profile_id": profile_id,
            "event_type": "page_view",
            "payload": {"path": "/cart", "n": 1},
        },
    )
    assert posted.status_code == 201, posted.text
    event = posted.json()
    table = f"events_{profile_id % seed.shards:02d}"
    assert event["table"] == table and event["id"] > seeded_max
    assert query(
        params, f"SELECT profile_id, account_id, event_type, payload FROM {table} WHERE id = %s", (event["id"],)
    ) == [(profile_id, account_id, "page_view", '{"path":"/cart","n":1}')]
    timeline = app.client.get(url, params={"limit": 3})
    assert timeline.headers["x-cache"] == "miss" and timeline.json()["events"][0]["id"] == event["id"]

    wrong_account = {"account_id": account_id + 1, "profile_id": profile_id, "event_type": "x", "payload": {}}
    assert app.client.post("/events", json=wrong_account).status_code == 404
    invalid = app.client.post("/events", json={"account_id": account_id, "profile_id": profile_id, "payload": {}})
    assert invalid.status_code == 422 and "missing event_type" in invalid.json()["error"]
    assert app.client.post("/events", content=b"{not json").status_code == 400


def test_a_dynamic_fault_burst_fails_its_share_and_metrics_count_every_500(app, shop_cache):
    redis = shop_cache["server"]
    sid = next(iter(shop_cache["sessions"]))
    route = "/sessions/{sid}/cart"
    before = requests_total(samples(app.client), route, "GET", 500)
    redis.execute(
        "SET", "shopapp:fault", json.dumps({"latency_ms": 0, "error_ratio": BURST_RATIO, "until": time.time() + 60})
    )
    try:
        wait_until(
            lambda: samples(app.client).get(("shopapp_fault_dynamic", frozenset())) == 1.0,
            5,
            "the app reading shopapp:fault",
        )
        assert samples(app.client)[("shopapp_fault_error_ratio", frozenset())] == BURST_RATIO
        statuses = [app.client.get(f"/sessions/{sid}/cart").status_code for _ in range(BURST_REQUESTS)]
        # Exempt from faults: the health check still passes and the load generators' keys still come.
        assert all(app.client.get("/health").status_code == 200 for _ in range(20))
        assert app.client.get("/loadgen/keys", params={"n": 5}).status_code == 200
    finally:
        redis.execute("DEL", "shopapp:fault")
    failed = statuses.count(500)
    assert set(statuses) == {200, 500}
    # Binomial(300, 0.5): the standard deviation of the share is 0.029; 0.1 is more than 3 of them.
    assert abs(failed / BURST_REQUESTS - BURST_RATIO) < 0.1, failed
    found = samples(app.client)
    assert requests_total(found, route, "GET", 500) - before == failed
    assert found[("shopapp_request_duration_seconds_count", frozenset({"route": route}.items()))] >= BURST_REQUESTS
    wait_until(
        lambda: samples(app.client).get(("shopapp_fault_dynamic", frozenset())) == 0.0,
        5,
        "the app seeing the fault removed",
    )
    assert all(app.client.get(f"/sessions/{sid}/cart").status_code == 200 for _ in range(20))


def test_metrics_label_routes_by_template_at_the_exact_path(app):
    app.client.get("/no/such/path")
    response = app.client.get("/metrics", follow_redirects=False)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    routes = {dict(labels).get("route") for name, labels in samples(app.client) if name == "shopapp_requests_total"}
    assert {
        "/profiles/{id}/events",
        "/sessions/{sid}/cart",
        "/events",
        "/health",
        "/loadgen/keys",
        "unmatched",
    } <= routes
    assert not any(r and r.startswith("/profiles/") and "{" not in r for r in routes)


def test_ids_stay_unique_across_processes(app, start_app, writable_seeded_database):
    params, seed, _ = writable_seeded_database
    other = start_app("shopapp-it-second")
    profiles = query(params, "SELECT id, account_id FROM profiles ORDER BY id LIMIT 40")

    def post(args):
        client, (profile_id, account_id) = args
        response = httpx.post(
            f"{client.url}/events",
            json={"account_id": account_id, "profile_id": profile_id, "event_type": "click", "payload": {}},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    jobs = [(process, profile) for profile in profiles for process in (app, other)]
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(post, jobs))
    assert len(set(ids)) == len(jobs)
    placeholders = ",".join(["%s"] * len(ids))
    stored = sum(
        query(params, f"SELECT COUNT(*) FROM events_{s:02d} WHERE id IN ({placeholders})", ids)[0][0]
        for s in range(seed.shards)
    )
    assert stored == len(jobs)


def test_health_names_redis_when_it_is_down_and_writes_recover_after_it_returns(app, shop_cache, writable_seeded_database):
    params = writable_seeded_database[0]
    redis = shop_cache["server"]
    redis.stop()
    try:
        health = app.client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unavailable" and health.json()["down"] == ["cache"]
        assert health.json()["database"] == "ok"
    finally:
        redis.start()
        redis.wait_ready(30)
    wait_until(lambda: app.client.get("/health").status_code == 200, 10, "health back to 200")
    # The app first uses up the block it holds (taken before the restart: still its own alone).
    ids = []
    while redis.execute("GET", "shopapp:event_id") is None:
        assert len(ids) <= 100, "no new block taken after 100 events"
        event = {"account_id": 1, "profile_id": 1, "event_type": "login", "payload": {}}
        posted = app.client.post("/events", json=event)
        assert posted.status_code == 201, f"{posted.text}\n{app.log()}"
        ids.append(posted.json()["id"])
    assert len(set(ids)) == len(ids)
    # The restarted Redis lost the id counter: it restarted past the database's highest id, beyond any
    # block another process may still hold.
    highest = max(
        row[0]
        for row in query(
            params,
            " UNION ALL ".join(f"SELECT COALESCE(MAX(id), 0) FROM events_{s:02d} WHERE id < %s" for s in range(16)),
            [ids[-1]] * 16,
        )
    )
    assert ids[-1] == highest + 10**9 + 1
    assert int(redis.execute("GET", "shopapp:event_id")) == highest + 10**9 + 100


def test_a_missing_or_unreadable_configuration_stops_the_process_naming_the_variable(app_env):
    def run(env):
        return subprocess.run(
            [sys.executable, "-m", "shopapp", "--port", "9", "--name", "shopapp-it-bad"],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    missing = run({k: v for k, v in app_env.items() if k != "SHOPAPP_DB_NAME"})
    assert missing.returncode == 2 and "SHOPAPP_DB_NAME is not set" in missing.stderr
    unknown = run({**app_env, "SHOPAPP_CACHE_SECRET_ID": "shopapp-test/no-such-secret"})
    assert unknown.returncode == 2
    assert "SHOPAPP_CACHE_SECRET_ID" in unknown.stderr and "ResourceNotFoundException" in unknown.stderr
    no_database = run({**app_env, "SHOPAPP_DB_NAME": "no_such_database"})
    assert no_database.returncode == 3 and "check SHOPAPP_DB_NAME" in no_database.stderr
    bad_fault = run({**app_env, "SHOPAPP_FAULT_ERROR_RATIO": "1.5"})
    assert bad_fault.returncode == 2 and "SHOPAPP_FAULT_ERROR_RATIO='1.5'" in bad_fault.stderr


def test_sigterm_finishes_and_exits_without_errors(start_app):
    app = start_app("shopapp-it-stopped")
    assert app.client.get("/health").status_code == 200
    pid = app.process.pid()
    started = time.monotonic()
    app.stop()
    # SupervisedProcess sends SIGKILL only after 20 s: a quicker exit was the app's own, on SIGTERM.
    assert time.monotonic() - started < 15 and not app.process.is_ours(pid)
    log = app.log()
    assert "Traceback" not in log and "ERROR" not in log, log
