"""A private Prometheus: its own directory, config, TSDB, port on 127.0.0.1 and PID file.

Debian's /usr/bin/prometheus, never its system service: loadstack runs one per stack step that needs
monitoring, under `loadstack.supervisor` (detached, its own session), so it outlives the task that
started it and any later process stops it by the PID in its PID file, knowing only its directory:
``PrometheusServer(base_dir).stop()``. Ready in ~0.1 s; reading it goes through the HTTP API
(`loadstack.prometheus.query`, `loadstack.metrics.prometheus`).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from loadstack.prometheus.config import DEFAULT_SCRAPE_INTERVAL_S, ScrapeJob, render_config
from loadstack.supervisor import NotReady, SupervisedProcess, SupervisorError

HOST = "127.0.0.1"
PROMETHEUS = "prometheus"
# Samples older than this are dropped: a stack lives hours, not weeks.
DEFAULT_RETENTION = "2d"


class PrometheusError(SupervisorError):
    """The server could not be started, reached or stopped, or its targets did not come up."""


class PrometheusServer:
    """One prometheus whose files all live in `base_dir`.

    base_dir/prometheus.yml  written by `start()` from `jobs` and `scrape_interval_s`
    base_dir/data/           the TSDB
    base_dir/prometheus.pid  the PID file `stop()` reads
    base_dir/prometheus.log  what it printed

    `port` and `jobs` are needed to start it (and `port` to reach it); stopping needs only `base_dir`.
    """

    def __init__(
        self,
        base_dir: Path | str,
        port: int | None = None,
        jobs: Sequence[ScrapeJob] = (),
        *,
        scrape_interval_s: float = DEFAULT_SCRAPE_INTERVAL_S,
        retention: str = DEFAULT_RETENTION,
        prometheus_bin: str = PROMETHEUS,
    ) -> None:
        if port is not None and not 0 < int(port) < 65536:
            raise ValueError(f"port {port} is not a TCP port")
        self.base_dir = Path(base_dir).resolve()
        self.port = None if port is None else int(port)
        self.jobs = tuple(jobs)
        self.scrape_interval_s = scrape_interval_s
        self.retention = retention
        self.prometheus_bin = prometheus_bin
        self.process = SupervisedProcess(
            name=f"prometheus for {self.base_dir}",
            pid_path=self.pid_path,
            executable=prometheus_bin,
            marker_arg=self._config_arg,
            output_path=self.log_path,
            error=PrometheusError,
        )

    def __repr__(self) -> str:
        return f"PrometheusServer({str(self.base_dir)!r}, port={self.port})"

    # --- paths ------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.base_dir / "prometheus.yml"

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def pid_path(self) -> Path:
        return self.base_dir / "prometheus.pid"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "prometheus.log"

    @property
    def _config_arg(self) -> str:
        # On its command line as one argument: the marker that tells our process from any other.
        return f"--config.file={self.config_path}"

    @property
    def url(self) -> str:
        if self.port is None:
            raise PrometheusError(f"{self!r} was given no port: reaching it needs one")
        return f"http://{HOST}:{self.port}"

    # --- process ----------------------------------------------------------------------------
    def pid(self) -> int | None:
        return self.process.pid()

    def is_running(self) -> bool:
        return self.process.is_running()

    def write_config(self) -> Path:
        if not self.jobs:
            raise PrometheusError(f"{self!r} was given no scrape jobs: starting it needs them")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.config_path.with_name(f".prometheus.yml.{os.getpid()}")
        tmp.write_text(render_config(self.jobs, self.scrape_interval_s))
        tmp.replace(self.config_path)
        return self.config_path

    def start(self) -> int:
        """Write the config and start the server detached; a server already running is left as is."""
        pid = self.pid()
        if pid is not None:
            return pid
        binary = shutil.which(self.prometheus_bin)
        if binary is None:
            raise PrometheusError(
                f"{self.prometheus_bin} not found on PATH: install Debian's prometheus package "
                "(apt-get install --no-install-recommends prometheus; its service is not used)"
            )
        url = self.url  # fails early without a port
        self.write_config()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.process.start(
            [
                binary,
                self._config_arg,
                f"--web.listen-address={url.removeprefix('http://')}",
                f"--storage.tsdb.path={self.data_dir}",
                f"--storage.tsdb.retention.time={self.retention}",
            ]
        )

    def _get(self, path: str, timeout: float) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=timeout)

    def _probe(self) -> None:
        try:
            ready = self._get("/-/ready", 1.0)
            if ready.status_code != 200:
                raise NotReady(f"/-/ready answered {ready.status_code}")
            flags = self._get("/api/v1/status/flags", 1.0).json()["data"]
        except httpx.HTTPError as error:
            raise NotReady(f"{type(error).__name__}: {error}") from error
        if flags.get("config.file") != str(self.config_path):
            raise PrometheusError(
                f"port {self.port} is answered by a Prometheus reading {flags.get('config.file')}, "
                f"not by the one started from {self.base_dir}"
            )

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Wait until /-/ready answers 200 from this server (its own config file); returns the seconds waited."""
        return self.process.wait_ready(self._probe, timeout, interval=0.05)

    def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets: each with `labels` (job, instance, ...), `health` (up, down,
        unknown), `lastError` and `scrapeUrl`, as the API gives them."""
        body = self._get("/api/v1/targets?state=active", 5.0).raise_for_status().json()
        return list(body["data"]["activeTargets"])

    def wait_targets_up(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until every configured target has been scraped successfully; the error names those that were not."""
        expected = sum(len(job.targets) for job in self.jobs)
        deadline = time.monotonic() + timeout
        while True:
            targets = self.targets()
            if len(targets) >= expected and all(t["health"] == "up" for t in targets):
                return targets
            if time.monotonic() > deadline:
                bad = [
                    f"{t['scrapeUrl']} ({t['health']}: {t.get('lastError') or 'not scraped yet'})"
                    for t in targets
                    if t["health"] != "up"
                ]
                raise PrometheusError(
                    f"{self!r}: {len(targets)} of {expected} targets known, not up after {timeout:.0f} s: "
                    f"{'; '.join(bad) or 'none listed yet (Prometheus lists targets up to 5 s after it starts)'}"
                )
            time.sleep(0.2)

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM by PID (Prometheus closes its TSDB), SIGKILL after `timeout`; False if it was not running."""
        return self.process.stop(timeout)

    def remove(self, timeout: float = 10.0) -> None:
        """Stop the server and delete base_dir with everything in it."""
        self.stop(timeout)
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def log_tail(self, lines: int = 25) -> str:
        return self.process.log_tail(lines)
