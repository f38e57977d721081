"""A real exporter (exporter.py) and a real Prometheus scraping it, on 127.0.0.1, stopped by PID."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import httpx
import pytest

from loadstack.prometheus.config import ScrapeJob, ScrapeTarget
from loadstack.prometheus.server import PrometheusServer
from loadstack.supervisor import NotReady, SupervisedProcess, free_port

EXPORTER_SCRIPT = Path(__file__).with_name("exporter.py")
SCRAPE_INTERVAL_S = 1.0


class Exporter:
    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.marker = str(root / "exporter")
        self.process = SupervisedProcess(
            name="test exporter",
            pid_path=root / "exporter.pid",
            executable=sys.executable,
            marker_arg=self.marker,
            output_path=root / "exporter.log",
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process.start([sys.executable, str(EXPORTER_SCRIPT), str(self.port), self.marker])
        self.process.wait_ready(self._probe, 15)

    def _probe(self) -> None:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
        except OSError as error:
            raise NotReady(str(error)) from error

    def set(self, **traffic: float) -> None:
        """qps, errors (share of 500s), latency (seconds)."""
        httpx.get(f"http://{self.address}/set", params=traffic, timeout=5).raise_for_status()


# Module-scoped: Prometheus lists a new target only ~5 s after it starts, too long to pay per test.
@pytest.fixture(scope="module")
def exporter(tmp_path_factory):
    started = Exporter(tmp_path_factory.mktemp("exporter"))
    try:
        started.start()
        yield started
    finally:
        started.process.stop(5)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory, exporter):
    """A running Prometheus scraping the exporter every second, its target up; stopped by PID afterwards."""
    server = PrometheusServer(
        tmp_path_factory.mktemp("prom"),
        free_port(),
        [ScrapeJob("app", (ScrapeTarget(exporter.address, {"name": "exporter"}),))],
        scrape_interval_s=SCRAPE_INTERVAL_S,
    )
    try:
        server.start()
        server.wait_ready(30)
        server.wait_targets_up(15)
        yield server
    finally:
        server.stop()
