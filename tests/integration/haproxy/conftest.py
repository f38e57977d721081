"""Real HAProxy in front of small real HTTP backends (backend.py), all on 127.0.0.1, stopped by PID."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from loadstack.haproxy.config import LoadBalancerConfig, Server
from loadstack.haproxy.server import HAProxyServer
from loadstack.supervisor import NotReady, SupervisedProcess, free_port

BACKEND_SCRIPT = Path(__file__).with_name("backend.py")


class Backend:
    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.root = root
        self.port = free_port()
        self.process = SupervisedProcess(
            name=f"test backend {name}",
            pid_path=root / f"{name}.pid",
            executable=sys.executable,
            marker_arg=str(root / name),
            output_path=root / f"{name}.log",
        )

    def start(self) -> None:
        self.process.start(
            [sys.executable, str(BACKEND_SCRIPT), str(self.port), self.name, str(self.root), str(self.root / self.name)]
        )
        self.process.wait_ready(self._probe, 15)

    def _probe(self) -> None:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
        except OSError as error:
            raise NotReady(str(error)) from error

    def fail_checks(self, failing: bool = True) -> None:
        flag = self.root / f"{self.name}.down"
        if failing:
            flag.touch()
        else:
            flag.unlink(missing_ok=True)


@pytest.fixture
def short_dir(tmp_path_factory) -> Path:
    """A directory short enough for an admin socket path."""
    return tmp_path_factory.mktemp("hx")


@pytest.fixture
def backends(short_dir):
    """Two started backends, a and b; stopped by PID afterwards."""
    started = [Backend(short_dir, name) for name in ("a", "b")]
    try:
        for backend in started:
            backend.start()
        yield started
    finally:
        for backend in started:
            backend.process.stop(5)


@pytest.fixture
def proxy(short_dir, backends):
    """A running HAProxy in front of the backends, every server UP; stopped by PID afterwards."""
    config = LoadBalancerConfig(
        base_dir=short_dir / "lb",
        port=free_port(),
        exporter_port=free_port(),
        servers=tuple(Server(b.name, b.port) for b in backends),
    )
    server = HAProxyServer(config.base_dir, config)
    try:
        server.start()
        server.wait_ready(20)
        yield server
    finally:
        server.stop()
