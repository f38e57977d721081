"""The Locust driver against the real app (app/shopapp over the seeded MariaDB and a restored Redis):
the asked rate arrives, counted by the app itself, and every request succeeds."""

from __future__ import annotations

import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadstack.metrics.locust import LocustSource

pytestmark = pytest.mark.integration

ROUTES = ("/events", "/profiles/{id}/events", "/sessions/{sid}/cart")


def served(app_url: str) -> tuple[float, dict[str, float]]:
    """(now, {status: requests}) to the locustfile's three routes, from the app's /metrics."""
    with urllib.request.urlopen(f"{app_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    now = time.time()
    by_status: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "shopapp_requests_total" and sample.labels.get("route") in ROUTES:
                by_status[sample.labels["status"]] = by_status.get(sample.labels["status"], 0) + sample.value
    return now, by_status


def test_the_asked_rate_reaches_the_real_app_without_errors(start_app, start_driver):
    app = start_app()
    driver = start_driver(app.url)
    source = LocustSource(url=driver.url, window_s=10)
    qps = 60.0
    changed_at = time.time()
    assert driver.set_rate(qps) == pytest.approx(qps)
    time.sleep(driver.settle_s + 1.0)
    t0, before = served(app.url)
    time.sleep(6.0)
    t1, after = served(app.url)
    statuses = {status: after[status] - before.get(status, 0) for status in after}
    rate = sum(statuses.values()) / (t1 - t0)
    assert rate == pytest.approx(qps, rel=0.05), f"asked {qps} QPS, the app served {rate:.1f}: {statuses}"
    assert set(statuses) <= {"200", "201"}, f"the app answered errors: {statuses}\n{app.log()}"

    deadline = time.time() + 20
    sample = None
    while time.time() < deadline and (sample is None or sample.at < changed_at + driver.settle_s):
        time.sleep(0.5)
        sample = source.read(time.time())
    assert sample is not None and sample.at >= changed_at + driver.settle_s, source.last_problem
    assert sample.qps == pytest.approx(qps, rel=0.05)
    assert sample.error_ratio == 0.0
    assert 0 < sample.p99_ms < 2000
    driver.close()
    assert not any(p.is_running() for p in driver.cluster.processes())
