"""A private HAProxy: its own directory, config, ports on 127.0.0.1 and PID file.

Debian's haproxy, never its system service: loadstack starts one per load balancer it needs, in the
foreground under `loadstack.supervisor` (detached, its own session), so it outlives the task that
started it and any later process stops it by the PID in its PID file, knowing nothing but its
directory: ``HAProxyServer(base_dir).stop()``. Weights and server states change through the runtime
API (`runtime_api()`), never by a reload.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

from loadstack.haproxy.config import LoadBalancerConfig, render_config
from loadstack.haproxy.runtime import HAProxyRuntime, RuntimeAPIError, StatRow
from loadstack.supervisor import NotReady, SupervisedProcess, SupervisorError

HAPROXY = "haproxy"
# Debian installs it in /usr/sbin, which is not on every user's PATH.
_FALLBACK_PATHS = ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")


class HAProxyError(SupervisorError):
    """The proxy could not be started, reached or stopped; the message says why."""


def haproxy_binary(name: str = HAPROXY) -> str:
    found = shutil.which(name) or next((p for p in _FALLBACK_PATHS if name == HAPROXY and os.access(p, os.X_OK)), None)
    if found is None:
        raise HAProxyError(f"{name} not found on PATH or in /usr/sbin: install Debian's haproxy package")
    return found


class HAProxyServer:
    """One haproxy whose files all live in `base_dir` (see `LoadBalancerConfig` for their names).

    `config` is needed to start the proxy; finding, querying and stopping it need only `base_dir`.
    """

    def __init__(self, base_dir: Path | str, config: LoadBalancerConfig | None = None, *, haproxy_bin: str = HAPROXY):
        self.base_dir = Path(base_dir).resolve()
        if config is not None and Path(config.base_dir).resolve() != self.base_dir:
            raise ValueError(f"config is for {config.base_dir}, not {self.base_dir}")
        self.config = config
        self.haproxy_bin = haproxy_bin
        self.process = SupervisedProcess(
            name=f"haproxy for {self.base_dir}",
            pid_path=self.pid_path,
            executable=haproxy_bin,
            # The config path is on its command line; no other process runs with this one.
            marker_arg=str(self.config_path),
            output_path=self.log_path,
            error=HAProxyError,
        )

    def __repr__(self) -> str:
        return f"HAProxyServer({str(self.base_dir)!r})"

    @property
    def config_path(self) -> Path:
        return self.base_dir / "haproxy.cfg"

    @property
    def pid_path(self) -> Path:
        return self.base_dir / "haproxy.pid"

    @property
    def socket_path(self) -> Path:
        return self.base_dir / "admin.sock"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "haproxy.log"

    def runtime_api(self, timeout: float = 5.0) -> HAProxyRuntime:
        return HAProxyRuntime(self.socket_path, timeout=timeout)

    # --- process ----------------------------------------------------------------------------
    def pid(self) -> int | None:
        return self.process.pid()

    def is_running(self) -> bool:
        return self.process.is_running()

    def write_config(self) -> Path:
        if self.config is None:
            raise HAProxyError(f"{self!r} was given no config: starting it needs one")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.config_path.with_name(f".haproxy.cfg.{os.getpid()}")
        tmp.write_text(render_config(self.config))
        tmp.replace(self.config_path)
        return self.config_path

    def check_config(self) -> None:
        """Let haproxy itself validate the written config (`-c`), naming the line it refuses."""
        result = subprocess.run(
            [haproxy_binary(self.haproxy_bin), "-c", "-q", "-f", str(self.config_path)],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise HAProxyError(f"haproxy refused {self.config_path}:\n{(result.stdout + result.stderr).strip()}")

    def start(self) -> int:
        """Write the config and start the proxy detached; a proxy already running is left as is."""
        pid = self.pid()
        if pid is not None:
            return pid
        binary = haproxy_binary(self.haproxy_bin)
        self.write_config()
        self.check_config()
        # A socket file left by a killed proxy would make the new one fail to bind it.
        self.socket_path.unlink(missing_ok=True)
        # -db: stay in the foreground (the supervisor detaches it and owns the PID file).
        return self.process.start([binary, "-db", "-f", str(self.config_path)])

    def _probe(self) -> None:
        try:
            info = self.runtime_api(timeout=1.0).info()
        except (OSError, RuntimeAPIError) as error:
            raise NotReady(f"admin socket {self.socket_path}: {error}") from error
        pid = self.pid()
        if info.get("Pid") != str(pid):
            raise HAProxyError(
                f"{self.socket_path} is answered by haproxy pid {info.get('Pid')}, not by ours (pid {pid})"
            )
        if self.config is not None:
            for port in (self.config.port, self.config.exporter_port):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
                except OSError as error:
                    raise NotReady(f"port {port}: {error}") from error

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Wait until the admin socket answers for our PID (and, given the config, both ports accept)."""
        return self.process.wait_ready(self._probe, timeout, interval=0.05)

    def servers(self) -> list[StatRow]:
        return self.runtime_api().servers()

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM the proxy by its PID (a hard stop), SIGKILL after `timeout`; False if it was not running."""
        stopped = self.process.stop(timeout)
        self.socket_path.unlink(missing_ok=True)
        return stopped

    def remove(self, timeout: float = 10.0) -> None:
        """Stop the proxy and delete base_dir with everything in it."""
        self.stop(timeout)
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def log_tail(self, lines: int = 25) -> str:
        return self.process.log_tail(lines)
