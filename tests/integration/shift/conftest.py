"""A real HAProxy splitting traffic between a production pool (p1, p2: the other data centres) and the
stack's pool (s1), all small real HTTP backends (tests/integration/haproxy/backend.py) on 127.0.0.1,
every process stopped by its PID at teardown."""

from __future__ import annotations

import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadstack.haproxy.config import LoadBalancerConfig, Server
from loadstack.haproxy.server import HAProxyServer
from loadstack.supervisor import NotReady, SupervisedProcess, free_port

# The same backend as the HAProxy tests: answers every path with its name, /health 503 while NAME.down exists.
BACKEND_SCRIPT = Path(__file__).resolve().parents[1] / "haproxy" / "backend.py"
PRODUCTION = ("p1", "p2")
STACK = ("s1",)


class Backend:
    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.root = root
        self.port = free_port()
        self.process = SupervisedProcess(
            name=f"shift test backend {name}",
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


@dataclass
class ShiftProxy:
    proxy: HAProxyServer
    backends: dict[str, Backend]
    production: tuple[str, ...] = PRODUCTION
    stack: tuple[str, ...] = STACK

    @property
    def url(self) -> str:
        assert self.proxy.config is not None
        return self.proxy.config.url

    def wait_until(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not happen within {timeout} s: {self.proxy.servers()}")
            time.sleep(0.1)

    def all_up(self) -> bool:
        return all(row.is_up for row in self.proxy.servers())


@pytest.fixture
def shift_proxy(tmp_path_factory) -> ShiftProxy:
    """One HAProxy whose backend `app` holds p1, p2 (production) and s1 (the stack), weight 100 each, all UP."""
    root = tmp_path_factory.mktemp("shx")  # short: the admin socket path must fit in 107 bytes
    backends = {name: Backend(root, name) for name in (*PRODUCTION, *STACK)}
    config = LoadBalancerConfig(
        base_dir=root / "lb",
        port=free_port(),
        exporter_port=free_port(),
        servers=tuple(Server(b.name, b.port) for b in backends.values()),
    )
    proxy = HAProxyServer(config.base_dir, config)
    try:
        for backend in backends.values():
            backend.start()
        proxy.start()
        proxy.wait_ready(20)
        found = ShiftProxy(proxy, backends)
        found.wait_until(found.all_up, 10, "every server UP")
        yield found
    finally:
        proxy.stop()
        for backend in backends.values():
            backend.process.stop(5)
