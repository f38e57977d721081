"""A Locust master with its workers on 127.0.0.1, started and stopped by PID; or an existing master.

The master runs with its web UI on and serves `POST /loadstack/rate` and `GET /loadstack/counters`
(include/locust/shop.py); the first rate posted once workers are connected starts the locustfile's
`RateShape`, which then applies every rate change within its ~1 s tick. Not `--headless` (it turns
the web UI, and so the routes, off) nor `--autostart` (its wait for `--expect-workers` only counts
idle workers and never ends once the shape has set them running). Each worker is a separate process: Locust's
gevent users use one core per process.

Everything lives in one run directory, so any later process can stop the cluster knowing only
that directory:

    run_dir/ports.json  the master's worker and web ports (a second start() finds the running master)
    run_dir/master.pid  master.log (Locust's log)  master.out (stdout and stderr)
    run_dir/worker-<i>.pid  worker-<i>.log  worker-<i>.out

Each process is a `SupervisedProcess` known by its executable (`locust`) and its own log file
path on its command line. `LocustCluster.attach(url)` stands for a master somebody else runs: it
starts nothing and stops nothing.

A cluster with no `target_url` is a standing one (`python -m loadstack.locust.service`): its master
starts without `--host` and each ramp attached to it names its app with `POST /loadstack/target`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from loadstack.locust import master_api
from loadstack.profiles import PROJECT_ROOT
from loadstack.supervisor import LOOPBACK, NotReady, SupervisedProcess, SupervisorError, free_port

DEFAULT_LOCUSTFILE = PROJECT_ROOT / "include" / "locust" / "shop.py"
DEFAULT_USER_MAX_QPS = 2.0  # include/locust/shop.py's default, passed explicitly so runs show it
LOG_LEVEL = "INFO"


class LocustClusterError(SupervisorError):
    """The Locust master or a worker could not be started, reached or stopped."""


class TooFewWorkers(LocustClusterError):
    """A master somebody else runs has fewer workers connected than a ramp asks for."""

    def __init__(self, url: str, connected: int, wanted: int) -> None:
        self.url, self.connected, self.wanted = url, connected, wanted
        super().__init__(
            f"the Locust master at {url} has {connected} worker(s) connected, {wanted} wanted: "
            "start more workers against it (they dial its --master-bind-port)"
        )


def default_locust_bin() -> str:
    """The `locust` script next to this interpreter (the project's venv)."""
    return str(Path(sys.executable).parent / "locust")


# --- command lines (pure) ------------------------------------------------------------------------
def master_argv(
    *,
    locust_bin: str,
    locustfile: Path,
    target_url: str | None,
    master_port: int,
    web_port: int,
    logfile: Path,
    user_max_qps: float = DEFAULT_USER_MAX_QPS,
    quit_on_lease_expiry: bool = False,
) -> list[str]:
    """The master's command line: web UI and worker port on 127.0.0.1, users sent to `target_url`.

    No `target_url`: a standing master, whose target each ramp sets at run time (`POST /loadstack/target`).
    `quit_on_lease_expiry`: the master (and with it its workers) quits once a rate lease runs out unrenewed,
    for a master a ramp starts: if the ramp's task dies without stopping it, nothing is left running.
    """
    host = [] if target_url is None else ["--host", target_url]
    lease = ["--loadstack-quit-on-lease-expiry"] if quit_on_lease_expiry else []
    return [
        locust_bin,
        "-f",
        str(locustfile),
        "--master",
        "--master-bind-host",
        LOOPBACK,
        "--master-bind-port",
        str(master_port),
        "--web-host",
        LOOPBACK,
        "--web-port",
        str(web_port),
        # Neither --headless nor --autostart: see the module docstring.
        *host,
        "--user-max-qps",
        repr(float(user_max_qps)),
        *lease,
        "--logfile",
        str(logfile),
        "--loglevel",
        LOG_LEVEL,
    ]


def worker_argv(
    *, locust_bin: str, locustfile: Path, master_port: int, logfile: Path, master_host: str = LOOPBACK
) -> list[str]:
    """A worker's command line: the same locustfile, dialling the master at `master_host` (another host's
    address when the worker runs on a load-generator host of its own)."""
    return [
        locust_bin,
        "-f",
        str(locustfile),
        "--worker",
        "--master-host",
        master_host,
        "--master-port",
        str(master_port),
        "--logfile",
        str(logfile),
        "--loglevel",
        LOG_LEVEL,
    ]


@dataclass(frozen=True)
class Ports:
    master: int  # where workers dial the master
    web: int  # the master's web UI and loadstack's routes


# --- the cluster ---------------------------------------------------------------------------------
class LocustCluster:
    """A master and `workers` worker processes whose files live in `run_dir`; or an attached master.

    `target_url` is the app under test (Locust's --host); None for a standing cluster, whose ramps set
    it. Ports are picked at `start()` when not given. `quit_on_lease_expiry`: see `master_argv` (a ramp's own
    cluster: `LocustDriver.start` sets it). `url` is the master's web UI, where a driver and
    a metric source talk to it.
    """

    def __init__(
        self,
        *,
        run_dir: Path | str,
        target_url: str | None,
        workers: int = 1,
        locustfile: Path | str = DEFAULT_LOCUSTFILE,
        ports: Ports | None = None,
        user_max_qps: float = DEFAULT_USER_MAX_QPS,
        locust_bin: str | None = None,
        quit_on_lease_expiry: bool = False,
    ) -> None:
        if workers < 1:
            raise ValueError(f"LocustCluster needs workers >= 1, got {workers}")
        self.run_dir = Path(run_dir).resolve()
        self.target_url = target_url
        self.workers = workers
        self.locustfile = Path(locustfile).resolve()
        self.ports = ports
        self.user_max_qps = user_max_qps
        self.locust_bin = locust_bin or default_locust_bin()
        self.quit_on_lease_expiry = quit_on_lease_expiry

    @staticmethod
    def attach(url: str, *, workers: int = 1) -> AttachedMaster:
        """A master somebody else runs at `url`, with at least `workers` workers: owned by nobody here."""
        return AttachedMaster(url, workers=workers)

    def __repr__(self) -> str:
        return f"LocustCluster(run_dir={str(self.run_dir)!r}, workers={self.workers})"

    owned = True

    @property
    def url(self) -> str:
        if self.ports is None:
            raise LocustClusterError(f"{self!r} has no web port yet: start() it first")
        return f"http://{LOOPBACK}:{self.ports.web}"

    # --- processes ------------------------------------------------------------------------------
    @property
    def ports_path(self) -> Path:
        return self.run_dir / "ports.json"

    def recorded_ports(self) -> Ports:
        """The ports the last `start()` in this run directory used."""
        try:
            data = json.loads(self.ports_path.read_text())
            return Ports(master=int(data["master"]), web=int(data["web"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LocustClusterError(
                f"{self.ports_path}: cannot read the running master's ports ({exc}); stop() the cluster and start again"
            ) from None

    def master_process(self) -> SupervisedProcess:
        return self._process("Locust master", self.run_dir / "master")

    def worker_process(self, index: int) -> SupervisedProcess:
        return self._process(f"Locust worker {index}", self.run_dir / f"worker-{index}")

    def _process(self, name: str, stem: Path) -> SupervisedProcess:
        return SupervisedProcess(
            name=f"{name} in {stem.parent}",
            pid_path=stem.with_suffix(".pid"),
            executable=self.locust_bin,
            output_path=stem.with_suffix(".out"),
            marker_arg=str(stem.with_suffix(".log")),
            logs=(stem.with_suffix(".log"),),
            error=LocustClusterError,
        )

    def processes(self) -> list[SupervisedProcess]:
        """The master and every worker with a PID file in the run directory (for stopping)."""
        indexes = {int(p.stem[7:]) for p in self.run_dir.glob("worker-*.pid") if p.stem[7:].isdigit()}
        indexes.update(range(self.workers))
        return [self.master_process(), *(self.worker_process(i) for i in sorted(indexes))]

    def start(self) -> str:
        """Start the master, then the workers; returns the master's URL. Does not wait: `wait_ready`."""
        run_dir = self.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self._check_locustfile()
        master = self.master_process()
        if master.is_running():
            # Started before (a retried task): its ports are the ones it listens on, whatever was asked.
            self.ports = self.recorded_ports()
        elif self.ports is None:
            self.ports = Ports(master=free_port(), web=free_port())
        self.ports_path.write_text(json.dumps({"master": self.ports.master, "web": self.ports.web}) + "\n")
        master.start(
            master_argv(
                locust_bin=self.locust_bin,
                locustfile=self.locustfile,
                target_url=self.target_url,
                master_port=self.ports.master,
                web_port=self.ports.web,
                logfile=run_dir / "master.log",
                user_max_qps=self.user_max_qps,
                quit_on_lease_expiry=self.quit_on_lease_expiry,
            )
        )
        for index in range(self.workers):
            self.start_worker(index, master_port=self.ports.master)
        return self.url

    def start_worker(self, index: int, *, master_port: int, master_host: str = LOOPBACK) -> int:
        """Start worker `index` (its files in the run directory) dialling the master at master_host:master_port;
        returns its PID. A worker on a load-generator host of its own gets the master's address."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._check_locustfile()
        return self.worker_process(index).start(
            worker_argv(
                locust_bin=self.locust_bin,
                locustfile=self.locustfile,
                master_port=master_port,
                master_host=master_host,
                logfile=self.run_dir / f"worker-{index}.log",
            )
        )

    def _check_locustfile(self) -> None:
        if not self.locustfile.is_file():
            raise LocustClusterError(f"locustfile {self.locustfile} does not exist: pass locustfile= an existing file")

    def wait_ready(self, timeout: float = 60) -> float:
        """Wait until the master answers and every worker has connected; returns the seconds waited."""

        def all_connected() -> None:
            for index in range(self.workers):
                if not self.worker_process(index).is_running():
                    raise LocustClusterError(
                        f"Locust worker {index} exited; log tail:\n{self.worker_process(index).log_tail()}"
                    )
            try:
                state = master_api.rate_state(self.url, timeout=2)
            except master_api.LocustMasterError as exc:
                raise NotReady(str(exc)) from None
            if state.get("workers", 0) < self.workers:
                raise NotReady(f"{state.get('workers', 0)} of {self.workers} workers connected")

        return self.master_process().wait_ready(all_connected, timeout, interval=0.2)

    def lost_workers(self) -> list[str]:
        """Workers of this cluster that no longer run, e.g. ["Locust worker 1 (PID 1234, exited)"] (cheap: no HTTP)."""
        lost = []
        for index in range(self.workers):
            process = self.worker_process(index)
            if not process.is_running():
                pid = process.read_pid_file()
                lost.append(f"Locust worker {index} (PID {pid}, exited; log {process.output_path})")
        return lost

    def worker_cpu_seconds(self) -> float:
        """CPU time the running workers have used so far (what generating the load cost)."""
        return sum(self.worker_process(i).cpu_seconds() or 0.0 for i in range(self.workers))

    def is_running(self) -> bool:
        """The master and all workers run."""
        return all(p.is_running() for p in self.processes())

    def stop(self, timeout: float = 20) -> list[str]:
        """Stop the master, then every worker, by PID; returns the names of those that were running.

        The master goes first: its shutdown tells the workers to quit cleanly.
        """
        stopped = []
        errors = []
        for process in self.processes():
            try:
                if process.stop(timeout):
                    stopped.append(process.name)
            except SupervisorError as exc:
                errors.append(str(exc))
        if errors:
            raise LocustClusterError("; ".join(errors))
        return stopped


class AttachedMaster:
    """A Locust master somebody else started at `url`: nothing here starts or stops it."""

    owned = False

    def __init__(self, url: str, *, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"an attached Locust master needs workers >= 1, got {workers}")
        self.url = url.rstrip("/")
        self.workers = workers

    def __repr__(self) -> str:
        return f"LocustCluster.attach({self.url!r})"

    def start(self) -> str:
        return self.url

    def wait_ready(self, timeout: float = 60) -> float:
        """The master answers and has `workers` workers connected; fails at once otherwise (they are not
        ours to wait for): `TooFewWorkers`."""
        state = master_api.rate_state(self.url, timeout=min(timeout, 10))
        connected = int(state.get("workers", 0))
        if connected < self.workers:
            raise TooFewWorkers(self.url, connected, self.workers)
        return 0.0

    def lost_workers(self) -> list[str]:
        return []  # its workers run elsewhere: the master's worker count tells

    def is_running(self) -> bool:
        try:
            master_api.rate_state(self.url, timeout=5)
        except master_api.LocustMasterError:
            return False
        return True

    def stop(self, timeout: float = 20) -> list[str]:
        return []  # not ours
