"""Real services for the gate tests, each a process on 127.0.0.1 started and stopped by PID through
SupervisedProcess: a small JSON health server (healthy after a number of health checks, so a sensor
first defers and then passes, whatever the timing) and a Prometheus server scraping it.

The Prometheus server is loadstack's own (loadstack.prometheus.server).
"""

from __future__ import annotations

import sys
import textwrap
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadstack.supervisor import NotReady, SupervisedProcess, free_port

HEALTH_SERVER = textwrap.dedent(
    '''
    """A JSON health endpoint on 127.0.0.1: "ok" from its READY_AFTER-th health request on, "starting" before.

    GET /health -> 200 with the JSON status; GET /down -> 503; GET /metrics -> Prometheus text.
    """
    import json, sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    port, ready_after = int(sys.argv[1]), int(sys.argv[2])
    hits = 0

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            global hits
            if self.path == "/health":
                hits += 1
            ready = hits >= ready_after
            if self.path == "/health":
                status, body = 200, json.dumps({"status": "ok" if ready else "starting", "checks": {"hits": hits}})
            elif self.path == "/metrics":
                status, body = 200, f"health_ready {int(ready)}\\nhealth_hits_total {hits}\\n"
            else:
                status, body = 503, json.dumps({"status": "down"})
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
    '''
)


@dataclass(frozen=True)
class RunningServer:
    url: str
    process: SupervisedProcess


def _probe_http(url: str):
    def probe() -> None:
        try:
            urllib.request.urlopen(url, timeout=1).read()
        except OSError as exc:
            raise NotReady(str(exc)) from None

    return probe


def _start_health_server(directory: Path, ready_after: int) -> RunningServer:
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "health_server.py"
    script.write_text(HEALTH_SERVER)
    port = free_port()
    process = SupervisedProcess(
        name="gate test health server",
        pid_path=directory / "health.pid",
        executable=sys.executable,
        output_path=directory / "health.log",
        marker_arg=str(script),
    )
    process.start([sys.executable, str(script), str(port), str(ready_after)])
    url = f"http://127.0.0.1:{port}"
    try:
        process.wait_ready(_probe_http(f"{url}/metrics"), 30)
    except Exception:
        process.stop()
        raise
    return RunningServer(url, process)


@pytest.fixture
def health_server(tmp_path):
    """A health server that is ready at once."""
    server = _start_health_server(tmp_path / "health", ready_after=0)
    try:
        yield server
    finally:
        server.process.stop(10)


@pytest.fixture
def slow_health_server(tmp_path):
    """A health server that answers "starting" to its first 3 health checks."""
    server = _start_health_server(tmp_path / "slow-health", ready_after=4)
    try:
        yield server
    finally:
        server.process.stop(10)


@pytest.fixture
def prometheus(tmp_path, health_server):
    """loadstack's Prometheus on 127.0.0.1 scraping the health server every second; yields its URL."""
    from loadstack.prometheus.config import ScrapeJob, ScrapeTarget
    from loadstack.prometheus.server import PrometheusServer

    job = ScrapeJob("health", (ScrapeTarget(health_server.url.removeprefix("http://")),))
    server = PrometheusServer(tmp_path / "prometheus", free_port(), [job], scrape_interval_s=1.0)
    server.start()
    try:
        server.wait_ready()
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()
