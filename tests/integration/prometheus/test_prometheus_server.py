"""loadstack.prometheus.server with Debian's prometheus: starts from its config, scrapes, stops by PID."""

from __future__ import annotations

import httpx
import pytest

from loadstack.prometheus.config import ScrapeJob, ScrapeTarget
from loadstack.prometheus.server import PrometheusError, PrometheusServer
from loadstack.supervisor import free_port, pid_alive

pytestmark = pytest.mark.integration


def test_it_scrapes_its_targets_with_their_labels(prometheus, exporter):
    (target,) = prometheus.targets()
    assert target["health"] == "up" and target["labels"]["name"] == "exporter"
    assert target["scrapeUrl"] == f"http://{exporter.address}/metrics"
    body = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": 'up{job="app"}'}, timeout=5).json()
    assert [r["value"][1] for r in body["data"]["result"]] == ["1"]
    assert prometheus.start() == prometheus.pid()  # already running: left as is


def test_stop_is_by_pid_from_the_directory_alone(prometheus):  # last here: it stops the module's server
    pid = prometheus.pid()
    assert PrometheusServer(prometheus.base_dir).stop() is True
    assert not pid_alive(pid) and not prometheus.pid_path.exists()
    assert PrometheusServer(prometheus.base_dir).stop() is False


def test_a_target_that_never_answers_is_named(tmp_path):
    dead = f"127.0.0.1:{free_port()}"
    server = PrometheusServer(
        tmp_path / "p", free_port(), [ScrapeJob("gone", (ScrapeTarget(dead),))], scrape_interval_s=0.5
    )
    try:
        server.start()
        server.wait_ready(30)
        with pytest.raises(PrometheusError, match=f"http://{dead}/metrics"):
            server.wait_targets_up(8)  # Prometheus lists new targets up to 5 s after start
    finally:
        server.stop()
