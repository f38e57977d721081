"""Local profile: N app processes on 127.0.0.1 behind a private HAProxy, scraped by a private Prometheus.

Every process of one step keeps its files under ``profile.data_dir/app/<stack>-<step>/`` on the worker
that deployed it, its owner; the deployment's state (ports, config) is its server record in the state
bucket (`loadstack.server_record`, engine "app"), like the local MariaDB and Redis steps:

    apps/<name>.pid, <name>.log   one `python -m shopapp --name <name>` each (<name> = <stack>-<step>-<i>)
    lb/                            HAProxy: haproxy.cfg, admin.sock (runtime API), PID file, log
    prometheus/                    Prometheus: prometheus.yml, TSDB, PID file, log
    organic/                       live traffic only: the organic generator (a Locust master and worker)

The <name> is the process's marker on its command line, its HAProxy server name and its `name` label
in Prometheus, so one word follows an instance through all three.

Live traffic (`AppConfig.live`): production's processes (<stack>-<step>-prod-<i>, the same app on the
same data) join the stack's in HAProxy's one backend, production's weights summing to 256 and the
stack's at 0, the split `loadstack.shift.haproxy` moves; Prometheus labels each app process with its
pool (`pool="stack"` / `pool="production"`); and a Locust master with one worker (include/locust/shop.py)
sends `organic_qps` through HAProxy's frontend from the moment the deployment is up until it stops.

Idempotent like the restores: deploying the same config again reuses what runs and restarts, on
their ports, any of its processes that died (reported in the log); a different config replaces the
whole deployment. Every process is stopped by its PID file, which only the owner can do: a deploy or
teardown on another worker (another host or LOADSTACK_HOME) raises `ForeignServerError` and changes nothing.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from loadstack.appservice.base import AppConfig, AppService, AppServiceError
from loadstack.haproxy.config import BACKEND, MAX_WEIGHT, LoadBalancerConfig, Server
from loadstack.haproxy.server import HAProxyServer
from loadstack.locust import master_api
from loadstack.locust.cluster import LocustCluster, Ports
from loadstack.profiles import PROJECT_ROOT
from loadstack.prometheus.config import ScrapeJob, ScrapeTarget
from loadstack.prometheus.server import PrometheusServer
from loadstack.server_record import ServerRecords
from loadstack.shift.haproxy import spread
from loadstack.supervisor import LOOPBACK, NotReady, SupervisedProcess, SupervisorError, free_port

log = logging.getLogger(__name__)

APP_DIR_ENV = "LOADSTACK_APP_DIR"
APP_PACKAGE = "shopapp"
APP_JOB, HAPROXY_JOB = "app", "haproxy"
# The deployment's name in the state bucket's server records (loadstack/servers/<stack>/<step>/app.json).
ENGINE = "app"
# An app process imports Starlette, uvicorn and boto3 and reads two secrets before it binds: seconds.
APP_READY_TIMEOUT_S = 90.0
SERVERS_UP_TIMEOUT_S = 30.0
TARGETS_UP_TIMEOUT_S = 30.0
ORGANIC_READY_TIMEOUT_S = 90.0
# The Prometheus label telling the stack's processes from production's (live traffic only).
POOL_LABEL, STACK_POOL, PRODUCTION_POOL = "pool", "stack", "production"


def app_dir() -> Path:
    """The folder holding the app's package (`shopapp/`): $LOADSTACK_APP_DIR, else <repo>/app."""
    configured = os.environ.get(APP_DIR_ENV)
    folder = Path(configured) if configured else PROJECT_ROOT / "app"
    if not (folder / APP_PACKAGE / "__main__.py").is_file():
        raise AppServiceError(
            f"no app package at {folder / APP_PACKAGE} (from {'$' + APP_DIR_ENV if configured else 'the repository'}): "
            f"set {APP_DIR_ENV} to the folder that holds {APP_PACKAGE}/"
        )
    return folder.resolve()


class AppProcess:
    """One `python -m shopapp` known by its PID file and its name (its marker); stopping needs only those."""

    def __init__(self, apps_dir: Path, name: str, port: int | None = None) -> None:
        self.name = name
        self.port = port
        self.process = SupervisedProcess(
            name=f"app process {name}",
            pid_path=apps_dir / f"{name}.pid",
            executable=sys.executable,
            marker_arg=name,
            output_path=apps_dir / f"{name}.log",
            error=AppServiceError,
        )

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, env: dict[str, str]) -> int:
        argv = [sys.executable, "-m", APP_PACKAGE, "--host", LOOPBACK, "--port", str(self.port), "--name", self.name]
        return self.process.start(argv, env=env)

    def probe(self) -> None:
        """Ready when /health answers 200: it serves, and reaches its database and Redis."""
        try:
            response = httpx.get(f"{self.url}/health", timeout=2.0)
        except httpx.HTTPError as error:
            raise NotReady(f"{type(error).__name__}: {error}") from error
        if response.status_code != 200:
            raise NotReady(f"/health answered {response.status_code}: {response.text[:200]}")


class LocalAppService(AppService):
    # --- where everything is ----------------------------------------------------------------
    @property
    def base_dir(self) -> Path:
        # Short on purpose: HAProxy's admin socket path must stay under 108 bytes.
        return self.profile.data_dir / "app" / f"{self.stack}-{self.step}"[:60]

    @property
    def records(self) -> ServerRecords:
        return ServerRecords(self.profile, self.stack, self.step, ENGINE)

    @property
    def apps_dir(self) -> Path:
        return self.base_dir / "apps"

    @property
    def organic_dir(self) -> Path:
        return self.base_dir / "organic"

    def _lb(self, state: dict[str, Any] | None = None) -> HAProxyServer:
        config = None
        if state is not None:
            config = LoadBalancerConfig(
                base_dir=self.base_dir / "lb",
                port=state["lb"]["port"],
                exporter_port=state["lb"]["exporter_port"],
                servers=self._servers(state),
            )
        return HAProxyServer(self.base_dir / "lb", config)

    @staticmethod
    def _servers(state: dict[str, Any]) -> tuple[Server, ...]:
        """Without live traffic every process at the same weight; with it, production's processes first with
        all the weight (summing to 256, as a shift keeps it) and the stack's at 0: no live traffic on the stack."""
        production = state.get("production", [])
        if not production:
            return tuple(Server(i["name"], i["port"]) for i in state["instances"])
        weights = spread(MAX_WEIGHT, [p["name"] for p in production])
        return (
            *(Server(p["name"], p["port"], weights[p["name"]]) for p in production),
            *(Server(i["name"], i["port"], 0) for i in state["instances"]),
        )

    def _organic(self, state: dict[str, Any]) -> LocustCluster | None:
        """The organic traffic generator, when the deployment has live traffic."""
        if "organic" not in state:
            return None
        return LocustCluster(
            run_dir=self.organic_dir,
            target_url=self._lb(state).config.url,
            workers=1,
            ports=Ports(master=state["organic"]["master_port"], web=state["organic"]["web_port"]),
        )

    def _prometheus(self, state: dict[str, Any] | None = None) -> PrometheusServer:
        if state is None:
            return PrometheusServer(self.base_dir / "prometheus")
        live = bool(state.get("production"))

        def target(instance: dict[str, Any], pool: str) -> ScrapeTarget:
            labels = {"name": instance["name"], **({POOL_LABEL: pool} if live else {})}
            return ScrapeTarget(f"{LOOPBACK}:{instance['port']}", labels)

        apps = [target(i, STACK_POOL) for i in state["instances"]]
        apps += [target(p, PRODUCTION_POOL) for p in state.get("production", [])]
        jobs = [
            ScrapeJob(APP_JOB, tuple(apps)),
            ScrapeJob(HAPROXY_JOB, (ScrapeTarget(f"{LOOPBACK}:{state['lb']['exporter_port']}"),)),
        ]
        return PrometheusServer(
            self.base_dir / "prometheus",
            state["prometheus"]["port"],
            jobs,
            scrape_interval_s=state["config"]["scrape_interval_s"],
        )

    def _apps(self, state: dict[str, Any]) -> list[AppProcess]:
        """The stack's processes, then production's (live traffic only)."""
        return [AppProcess(self.apps_dir, i["name"], i["port"]) for i in (*state["instances"], *state.get("production", []))]

    def _state(self, action: str) -> dict[str, Any] | None:
        """The deployment's state if this worker owns one; raises `ForeignServerError` if another worker does."""
        record = self.records.claim(action)
        return record.state if record else None

    def instance_name(self, index: int) -> str:
        return f"{self.stack}-{self.step}-{index}"

    def production_name(self, index: int) -> str:
        return f"{self.stack}-{self.step}-prod-{index}"

    # --- outputs ----------------------------------------------------------------------------
    def outputs(self, state: dict[str, Any]) -> dict[str, Any]:
        lb = self._lb(state)
        url = lb.config.url
        return {
            "url": url,
            "health_url": f"{url}/health",
            "prometheus_url": f"http://{LOOPBACK}:{state['prometheus']['port']}",
            "instances": len(state["instances"]),
            "instance_names": [i["name"] for i in state["instances"]],
            "instance_urls": [f"http://{LOOPBACK}:{i['port']}" for i in state["instances"]],
            "admin_socket": str(lb.socket_path),
            "haproxy_backend": BACKEND,
            "haproxy_exporter_url": lb.config.exporter_url,
            "scrape_interval_s": state["config"]["scrape_interval_s"],
            **self._live_outputs(state),
        }

    def _live_outputs(self, state: dict[str, Any]) -> dict[str, Any]:
        """What a traffic-shift ramp needs: the live rate and the backend's two pools (HAProxy server names)."""
        if "organic" not in state:
            return {}
        return {
            "live_qps": float(state["config"]["organic_qps"]),
            "stack_servers": [i["name"] for i in state["instances"]],
            "production_servers": [p["name"] for p in state["production"]],
            "production_instance_urls": [f"http://{LOOPBACK}:{p['port']}" for p in state["production"]],
            "organic_url": f"http://{LOOPBACK}:{state['organic']['web_port']}",
        }

    # --- what runs --------------------------------------------------------------------------
    def dead(self) -> dict[str, str]:
        """The deployment's processes that are not running: {what: its log tail}. Empty when all run
        (or when nothing is deployed)."""
        state = self._state("inspect")
        return {} if state is None else self._dead(state)

    def _dead(self, state: dict[str, Any]) -> dict[str, str]:
        found = {f"app process {a.name}": a.process for a in self._apps(state)}
        found["haproxy"] = self._lb(state).process
        found["prometheus"] = self._prometheus(state).process
        organic = self._organic(state)
        if organic is not None:
            found.update({process.name: process for process in organic.processes()})
        return {what: process.log_tail() for what, process in found.items() if not process.is_running()}

    def _env(self, config: AppConfig) -> dict[str, str]:
        """The process's own environment (AWS settings it already has), the profile's AWS endpoint and
        credentials on top (the app's boto3 must reach the same Secrets Manager), then the app's config."""
        env = dict(os.environ)
        env["PYTHONPATH"] = str(app_dir())
        env["AWS_DEFAULT_REGION"] = self.profile.region
        if self.profile.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.profile.endpoint_url
        if self.profile.is_local:
            env.update(self.profile.aws_credentials())
        env.update(config.app_env())
        return env

    # --- deploy -----------------------------------------------------------------------------
    def deploy(self, config: AppConfig) -> dict[str, Any]:
        self._check(config)
        state = self._state("deploy")
        if state is not None and state.get("config") == config.to_json():
            dead = self._dead(state)
            if not dead:
                log.info(
                    "reusing %s/%s's %d app processes behind %s",
                    self.stack,
                    self.step,
                    config.instances,
                    self.outputs(state)["url"],
                )
                return self.outputs(state)
            for what, tail in dead.items():
                log.warning(
                    "%s/%s: %s is not running; restarting it. Its log ends:\n%s", self.stack, self.step, what, tail
                )
            try:
                self._start(state, config)
                return self.outputs(state)
            except (AppServiceError, SupervisorError) as error:
                log.warning(
                    "%s/%s: restarting on the same ports failed (%s); deploying afresh", self.stack, self.step, error
                )
        if state is not None or self.base_dir.exists():
            log.info("%s/%s: the app config changed; replacing the running deployment", self.stack, self.step)
        self.teardown()
        state = {
            "config": config.to_json(),
            "instances": [{"name": self.instance_name(i), "port": free_port()} for i in range(config.instances)],
            "lb": {"port": free_port(), "exporter_port": free_port()},
            "prometheus": {"port": free_port()},
        }
        if config.live:
            state["production"] = [
                {"name": self.production_name(i), "port": free_port()} for i in range(config.production_instances)
            ]
            state["organic"] = {"master_port": free_port(), "web_port": free_port()}
        # Recorded first: a deploy that fails half-way is still torn down, and no other worker deploys beside it.
        self.records.create(self.base_dir, state, host=LOOPBACK, action="deploy")
        try:
            self.base_dir.mkdir(parents=True, exist_ok=True)
            self._start(state, config)
        except BaseException:
            self.teardown()
            raise
        outputs = self.outputs(state)
        log.info(
            "%s/%s: %d app processes behind %s, Prometheus on %s",
            self.stack,
            self.step,
            config.instances,
            outputs["url"],
            outputs["prometheus_url"],
        )
        if config.live:
            log.info(
                "%s/%s: live traffic: %g QPS organic through %s, all on production's %d processes (weight 0 on the stack's)",
                self.stack,
                self.step,
                config.organic_qps,
                outputs["url"],
                config.production_instances,
            )
        return outputs

    def _start(self, state: dict[str, Any], config: AppConfig) -> None:
        """Start whatever of the deployment is not running (all of it on a fresh deploy) and wait for it."""
        started = time.monotonic()
        env = self._env(config)
        # Built first: a config HAProxy or Prometheus cannot take fails before any process starts.
        apps, lb, prometheus = self._apps(state), self._lb(state), self._prometheus(state)
        # All processes start before any is waited for: their imports overlap.
        for app in apps:
            app.start(env)
        for app in apps:
            app.process.wait_ready(app.probe, APP_READY_TIMEOUT_S, interval=0.1)
        lb.start()
        lb.wait_ready()
        self._wait_servers_up(lb)
        prometheus.start()
        prometheus.wait_ready()
        prometheus.wait_targets_up(TARGETS_UP_TIMEOUT_S)
        organic = self._organic(state)
        if organic is not None:
            # Last: live users arrive once the proxy has healthy servers to send them to.
            organic.start()
            organic.wait_ready(ORGANIC_READY_TIMEOUT_S)
            try:
                master_api.set_rate(organic.url, config.organic_qps)
            except master_api.LocustMasterError as error:
                raise AppServiceError(
                    f"the organic traffic generator at {organic.url} refused {config.organic_qps:g} QPS: {error}; "
                    f"its log is in {self.organic_dir}"
                ) from None
        log.info("%s/%s: up in %.1f s", self.stack, self.step, time.monotonic() - started)

    def _wait_servers_up(self, lb: HAProxyServer) -> None:
        """HAProxy sends traffic to a server only once its /health check passed."""
        deadline = time.monotonic() + SERVERS_UP_TIMEOUT_S
        while True:
            servers = lb.servers()
            down = [s for s in servers if not s.is_up]
            if not down:
                return
            if time.monotonic() > deadline:
                raise AppServiceError(
                    f"HAProxy ({lb.base_dir}) still has servers failing their /health check after "
                    f"{SERVERS_UP_TIMEOUT_S:.0f} s: " + "; ".join(f"{s.name} {s.status} ({s.check})" for s in down)
                )
            time.sleep(0.1)

    # --- teardown ---------------------------------------------------------------------------
    def teardown(self) -> bool:
        """Stop Prometheus, HAProxy and every app process by their PID files, then delete the directory
        and the record. Stopping reads only the directory: app processes are known by their PID files' names.
        Raises `ForeignServerError`, keeping the record, if another worker owns the deployment."""
        record = self.records.claim("destroy")
        existed = self.base_dir.exists() or record is not None
        if self.base_dir.exists():
            stop_deployment(self.base_dir)
            shutil.rmtree(self.base_dir, ignore_errors=True)
        if record is not None:
            self.records.delete()
        if existed:
            log.info("%s/%s: app, HAProxy, Prometheus (and any organic traffic) stopped and removed", self.stack, self.step)
        return existed


def stop_deployment(base_dir: Path) -> int:
    """Stop a deployment's organic traffic, Prometheus, HAProxy and app processes by their PID files; keep its files.

    What `make down` does to a stack kept up: the next deploy of the same config finds the processes
    dead and starts them again on the same ports. Returns how many processes were running.
    """
    stopped = 0
    if (base_dir / "organic").is_dir():
        # First: live users stop before the servers they reach do. Known by the run directory alone.
        stopped += len(LocustCluster(run_dir=base_dir / "organic", target_url="", workers=1).stop())
    stopped += int(PrometheusServer(base_dir / "prometheus").stop()) + int(HAProxyServer(base_dir / "lb").stop())
    for pid_file in sorted((base_dir / "apps").glob("*.pid")):
        stopped += int(AppProcess(base_dir / "apps", pid_file.stem).process.stop(timeout=20))
    return stopped
