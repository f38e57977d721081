"""An haproxy.cfg for one load balancer: a frontend, one backend of N health-checked servers, an exporter.

HAProxy stands for the load balancer of the local profile. Everything a running proxy needs lives
in one directory: its PID file, its admin socket (the runtime API, `loadstack.haproxy.runtime`, that
changes server weights and states without a reload) and its config. Its own metrics come from the
built-in Prometheus exporter on a frontend of its own, so scraping never counts as application traffic.

Pure: `render_config` only builds text; `loadstack.haproxy.server` writes and runs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
BACKEND = "app"
FRONTEND = "app"
EXPORTER_FRONTEND = "prometheus"
EXPORTER_PATH = "/metrics"
MAX_WEIGHT = 256
# Linux's sun_path holds 108 bytes, the terminating NUL included.
MAX_SOCKET_PATH = 107
# HAProxy's identifiers (proxy and server names): letters, digits and - _ . :
_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")


class HAProxyConfigError(ValueError):
    """The load balancer cannot be described as given; the message names the field and the fix."""


def check_name(name: str, what: str) -> str:
    if not _NAME.fullmatch(name):
        raise HAProxyConfigError(f"{what} {name!r} is not an HAProxy name: use letters, digits and - _ . : only")
    return name


def check_weight(weight: int, what: str = "weight") -> int:
    """A server weight HAProxy accepts: an int in 0..256 (0 takes the server out of the rotation)."""
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= MAX_WEIGHT:
        raise HAProxyConfigError(f"{what} {weight!r} is not an integer in 0..{MAX_WEIGHT}")
    return weight


def check_port(port: int, what: str) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise HAProxyConfigError(f"{what} {port!r} is not a TCP port (1..65535)")
    return port


@dataclass(frozen=True)
class Server:
    """One backend server on 127.0.0.1:`port`, named `name` in the runtime API (BACKEND/name)."""

    name: str
    port: int
    weight: int = 100

    def __post_init__(self) -> None:
        check_name(self.name, "server name")
        check_port(self.port, f"server {self.name}'s port")
        check_weight(self.weight, f"server {self.name}'s weight")


@dataclass(frozen=True)
class HealthCheck:
    """`path` must answer 200 for a server to take traffic; `fall` failures in a row take it out, `rise`
    successes bring it back. One check a second per server keeps a dead process's share of errors small."""

    path: str = "/health"
    interval_ms: int = 1000
    fall: int = 2
    rise: int = 1

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or any(c.isspace() for c in self.path):
            raise HAProxyConfigError(f"health check path {self.path!r} must start with / and hold no spaces")
        for what in ("interval_ms", "fall", "rise"):
            value = getattr(self, what)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise HAProxyConfigError(f"health check {what} {value!r} must be a positive integer")


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `server` bounds one response: longer than the slowest injected fault latency."""

    connect: float = 5
    client: float = 60
    server: float = 60
    http_request: float = 10
    http_keep_alive: float = 10
    queue: float = 10
    check: float = 2


@dataclass(frozen=True)
class LoadBalancerConfig:
    """What `render_config` needs: the directory of the proxy's files, its ports and its servers."""

    base_dir: Path
    port: int
    exporter_port: int
    servers: tuple[Server, ...]
    health_check: HealthCheck = field(default_factory=HealthCheck)
    timeouts: Timeouts = field(default_factory=Timeouts)
    maxconn: int = 4096

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_dir", Path(self.base_dir))
        object.__setattr__(self, "servers", tuple(self.servers))
        check_port(self.port, "frontend port")
        check_port(self.exporter_port, "exporter port")
        if self.port == self.exporter_port:
            raise HAProxyConfigError(f"the frontend and the exporter both want port {self.port}: give two ports")
        if not self.servers:
            raise HAProxyConfigError("a backend needs at least one server")
        names = [s.name for s in self.servers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise HAProxyConfigError(f"server names must be unique; repeated: {', '.join(duplicates)}")
        if len(str(self.socket_path)) > MAX_SOCKET_PATH:
            raise HAProxyConfigError(
                f"the admin socket path {self.socket_path} is {len(str(self.socket_path))} bytes, over the "
                f"{MAX_SOCKET_PATH} a unix socket allows: use a shorter base directory"
            )

    @property
    def socket_path(self) -> Path:
        return self.base_dir / "admin.sock"

    @property
    def pid_path(self) -> Path:
        return self.base_dir / "haproxy.pid"

    @property
    def config_path(self) -> Path:
        return self.base_dir / "haproxy.cfg"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def exporter_url(self) -> str:
        return f"http://{HOST}:{self.exporter_port}{EXPORTER_PATH}"


def _quote(value: str) -> str:
    """A config argument in double quotes (paths may hold spaces)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ms(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def render_config(config: LoadBalancerConfig) -> str:
    """The haproxy.cfg text for `config`.

    No request log: in the foreground HAProxy writes its warnings and alerts (a server going DOWN and
    why) to stderr, which the supervisor keeps in the proxy's log file; that is what a failure needs.
    """
    t, check = config.timeouts, config.health_check
    lines = [
        "# Written by loadstack (loadstack.haproxy.config); rewritten at every start.",
        "global",
        # Run in the foreground, HAProxy leaves the PID file to loadstack's supervisor (with -D it writes it).
        f"    pidfile {_quote(str(config.pid_path))}",
        # The runtime API: weights and server states change here, without a reload.
        f"    stats socket {_quote(str(config.socket_path))} mode 600 level admin",
        "    stats timeout 30s",
        f"    maxconn {config.maxconn}",
        "",
        "defaults",
        "    mode http",
        # A request that found its server down is sent to another one instead of failing.
        "    option redispatch",
        "    retries 2",
        f"    timeout connect {_ms(t.connect)}",
        f"    timeout client {_ms(t.client)}",
        f"    timeout server {_ms(t.server)}",
        f"    timeout http-request {_ms(t.http_request)}",
        f"    timeout http-keep-alive {_ms(t.http_keep_alive)}",
        f"    timeout queue {_ms(t.queue)}",
        f"    timeout check {_ms(t.check)}",
        "",
        f"frontend {FRONTEND}",
        f"    bind {HOST}:{config.port}",
        f"    default_backend {BACKEND}",
        "",
        f"backend {BACKEND}",
        # roundrobin honours weight changes at run time (static-rr would not).
        "    balance roundrobin",
        f"    option httpchk GET {check.path}",
        "    http-check expect status 200",
        f"    default-server check inter {check.interval_ms}ms fall {check.fall} rise {check.rise}",
        *(f"    server {s.name} {HOST}:{s.port} weight {s.weight}" for s in config.servers),
        "",
        f"frontend {EXPORTER_FRONTEND}",
        f"    bind {HOST}:{config.exporter_port}",
        f"    http-request use-service prometheus-exporter if {{ path {EXPORTER_PATH} }}",
        "    http-request return status 404",
        "",
    ]
    return "\n".join(lines)
