"""A real running Airflow for integration tests: `start_airflow(dags)` starts one on a temp AIRFLOW_HOME.

Each call writes the given DAG files (one DAG per file, `<dag_id>.py`) into a dags folder of its own, copies a
metadata DB migrated once per session (SQLite) and starts the components asked for (by default all four:
api-server, scheduler with the LocalExecutor, dag-processor, triggerer), each a SupervisedProcess on 127.0.0.1
whose working directory is its marker (Airflow rewrites its processes' command lines). Settings come from the
project's airflow.cfg, paths and secrets from the environment, as scripts/env.sh does; the LOADSTACK_* variables
are the local profile of the test session's moto server, so tasks and the ramp app use the same state bucket as
the test. The simple auth manager has an admin (`admin`) and a viewer (`watcher`) with random passwords.

It waits until every component it started reports healthy and every DAG given is parsed, and says how long
that took (`started_in_s`). All components are stopped by PID at the end of the module that asked for them,
together (SIGTERM, then SIGKILL), and whatever the scheduler's group left (task workers) after them.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from metadata_postgres import MetadataPostgres
from playwright import sync_api

from loadstack.airflow.ui.paths import URL_PREFIX
from loadstack.profiles import Profile, load_profile
from loadstack.rest_client.client import AirflowRestClient, ApiSettings
from loadstack.supervisor import NotReady, SupervisedProcess, free_port

ROOT = Path(__file__).resolve().parents[3]
AIRFLOW = str(Path(sys.executable).parent / "airflow")
ALL_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
USERS = {"admin": "admin", "watcher": "viewer"}
FINISHED_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
# The keys of /api/v2/monitor/health that report each component (the api-server answering is its own health).
HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}
# The browser tests' chromium: Debian's (bootstrap installs it), driven by Playwright.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def airflow_env(home: Path, port: int, local_env: Mapping[str, str]) -> dict[str, str]:
    """The environment of every component (and of the `airflow` commands run before them), as env.sh builds it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LOADSTACK_"))}
    env.update(local_env)
    url = f"http://127.0.0.1:{port}"
    env.update({
        # This worktree's package, not whichever one the venv's editable install points at.
        "PYTHONPATH": str(ROOT / "plugins"),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONFIG": str(ROOT / "airflow.cfg"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{user}:{role}" for user, role in USERS.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(home / "logs" / "dag_processor"),
        # Shared by all components: task tokens the scheduler issues must verify at the api-server.
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
        "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    })
    return env


@dataclass(frozen=True)
class RunningAirflow:
    url: str
    home: Path
    passwords: dict[str, str]
    profile: Profile
    components: tuple[str, ...]
    started_in_s: float
    processes: dict[str, SupervisedProcess] = field(repr=False)
    env: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def dags_folder(self) -> Path:
        return self.home / "dags"

    def client(self, user: str = "admin") -> AirflowRestClient:
        return AirflowRestClient(ApiSettings(base_url=self.url, user=user, password=self.passwords[user]))

    def token(self, user: str = "admin") -> str:
        answer = httpx.post(f"{self.url}/auth/token", json={"username": user, "password": self.passwords[user]})
        answer.raise_for_status()
        return answer.json()["access_token"]

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """A manual run of the DAG (unpaused first: the project's airflow.cfg pauses new DAGs); its run id."""
        with self.client() as client:
            client.unpause(dag_id)
            return client.trigger(dag_id, conf).dag_run_id

    def task_page(self, dag_id: str, run_id: str, task_id: str) -> str:
        """The task instance's page in the UI."""
        return self.client().task_url(dag_id, run_id, task_id)

    def ramp_url(self, dag_id: str, run_id: str, task_id: str, tail: str) -> str:
        """An address of the project's ramp app (plugins/loadstack_ramp_ui.py) for one task instance."""
        parts = "/".join(quote(part, safe="") for part in (dag_id, run_id, task_id))
        return f"{self.url}{URL_PREFIX}/ramps/{parts}/{tail}"

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> Any:
        with self.client() as client:
            found = [ti for ti in client.task_instances(dag_id, run_id) if ti.task_id == task_id]
        assert found, f"no task instance {task_id} in {dag_id} / {run_id}"
        return found[0]

    def wait_for_task(
        self, dag_id: str, run_id: str, task_id: str, states: Iterable[str], *, timeout: float,
        try_number: int | None = None,
    ) -> Any:
        """The task instance once it is in one of `states` (at `try_number`, if given).

        Fails at once, with the log's tail, when it finishes in a state not asked for.
        """
        wanted = set(states)
        deadline = time.monotonic() + timeout
        while True:
            ti = self.task_instance(dag_id, run_id, task_id)
            state = state_name(ti.state)
            if try_number is None or ti.try_number == try_number:
                if state in wanted:
                    return ti
                if state in FINISHED_STATES:
                    pytest.fail(f"{task_id} ended {state} (try {ti.try_number}), not {sorted(wanted)}; log tail:\n"
                                f"{self.log_tail(dag_id, run_id, task_id, ti.try_number)}")
            if time.monotonic() > deadline:
                pytest.fail(f"waited {timeout:.0f} s for {task_id} to be {sorted(wanted)} (try {try_number}); it is "
                            f"{state} (try {ti.try_number}); scheduler log tail:\n{self.component_log('scheduler')}")
            time.sleep(0.5)

    def wait_for_run(self, dag_id: str, run_id: str, states: Iterable[str], *, timeout: float) -> Any:
        """The DAG run once it is in one of `states` (the scheduler sets it a loop after its last task ends)."""
        wanted = set(states)
        deadline = time.monotonic() + timeout
        while True:
            with self.client() as client:
                run = client.run(dag_id, run_id)
            if state_name(run.state) in wanted:
                return run
            if time.monotonic() > deadline:
                pytest.fail(f"waited {timeout:.0f} s for run {run_id} to be {sorted(wanted)}; it is "
                            f"{state_name(run.state)}; scheduler log tail:\n{self.component_log('scheduler')}")
            time.sleep(0.5)

    def log_tail(self, dag_id: str, run_id: str, task_id: str, try_number: int, lines: int = 40) -> str:
        """The last lines of one try's task log, through the REST API (what the log tab shows)."""
        if try_number < 1:
            return "(the task has not run yet)"
        with self.client() as client:
            records = client.task_log(dag_id, run_id, task_id, try_number=try_number)
        return "\n".join(_log_line(record) for record in records[-lines:])

    def component_log(self, name: str, lines: int = 30) -> str:
        process = self.processes.get(name)
        return process.log_tail(lines) if process is not None else f"({name} was not started)"

    def crash(self, name: str, *, spare: Iterable[int] = ()) -> list[int]:
        """SIGKILL a component with every process it started (its group and its descendants: the scheduler's
        task workers, their tasks, whatever they started in sessions of their own), except `spare`, as a host
        dying would: no drain, no `finally`, no on_kill. All are stopped first, so none sees another die and
        reacts. The PIDs it killed."""
        leader = self.processes[name].pid()
        assert leader is not None, f"airflow {name} is not running"
        spared = set(spare)
        doomed = [pid for pid in _descendants(leader) if pid not in spared]
        for signum in (signal.SIGSTOP, signal.SIGKILL):
            for pid in doomed:
                try:
                    os.kill(pid, signum)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 30
        # is_running() reaps the leader (our child); the rest are reparented and reaped by init.
        while (self.processes[name].is_running() or any(_alive(pid) for pid in doomed)) and time.monotonic() < deadline:
            time.sleep(0.2)
        return doomed

    def restart(self, name: str, timeout: float = 120) -> None:
        """Start a stopped component again, as its service manager would, and wait until it reports healthy."""
        process = self.processes[name]
        assert not process.is_running(), f"airflow {name} still runs"
        process.start(_argv(name, int(self.url.rsplit(":", 1)[1])), env=self.env)
        process.wait_ready(_health_probe(self.url, {name: process}), timeout=timeout, interval=0.5)


def _descendants(leader: int) -> list[int]:
    """`leader`, the members of its process group and every descendant of any of them."""
    parents: dict[int, int] = {}
    groups: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            parents[int(entry.name)], groups[int(entry.name)] = int(fields[1]), int(fields[2])
    found = {leader} | {pid for pid, group in groups.items() if group == leader}
    while True:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        if not more:
            return sorted(found)
        found |= more


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _log_line(record: Any) -> str:
    """A structured log record as the log tab shows it: its event, then the exceptions it carries."""
    if not isinstance(record, dict):
        return str(record)
    errors = [f"{error.get('exc_type')}: {error.get('exc_value')}" for error in record.get("error_detail") or []
              if isinstance(error, dict)]
    return " | ".join([str(record.get("event", "")), *errors])


def state_name(state: Any) -> str | None:
    """A task instance's state as text (the REST client answers an enum)."""
    return None if state is None else str(getattr(state, "value", state))


def _run_airflow(command: list[str], env: Mapping[str, str], home: Path) -> None:
    done = subprocess.run([AIRFLOW, *command], check=False, env=dict(env), cwd=home, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"airflow {' '.join(command)}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


def _argv(component: str, port: int) -> list[str]:
    # The console script run by our interpreter: /proc/<pid>/exe then names it, whatever the command line says.
    tail = {
        "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(port)],
        "scheduler": ["scheduler", "--skip-serve-logs"],
        "dag-processor": ["dag-processor"],
        "triggerer": ["triggerer", "--skip-serve-logs"],
    }[component]
    return [sys.executable, AIRFLOW, *tail]


def _health_probe(url: str, processes: Mapping[str, SupervisedProcess]) -> Callable[[], None]:
    def probe() -> None:
        for name, process in processes.items():
            if not process.is_running():
                pytest.fail(f"airflow {name} exited during start-up; log tail:\n{process.log_tail()}")
        try:
            health = json.loads(urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2).read())
        except OSError as exc:
            raise NotReady(f"api-server: {exc}") from None
        waiting = [name for name in processes if name in HEALTH_KEYS
                   and (health.get(HEALTH_KEYS[name]) or {}).get("status") != "healthy"]
        if waiting:
            raise NotReady(f"not healthy yet: {', '.join(waiting)}")

    return probe


def _stop(process: SupervisedProcess) -> None:
    pid = process.pid()
    # 10 s, not a production shutdown's patience: the test is over, and a component finishing its work (the
    # api-server draining connections, a task worker its task) cost every module half a minute.
    process.stop(timeout=10)
    if pid is None:
        return
    # The component led a session of its own (SupervisedProcess starts it so): children it left behind, such as
    # the scheduler's task workers, are still in the group named by its PID.
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            return
        time.sleep(1)


@pytest.fixture(scope="session")
def migrated_airflow_db(local_env, tmp_path_factory) -> Path:
    """An empty metadata DB migrated once per session: each Airflow starts from a copy (a migration costs 5-10 s)."""
    home = tmp_path_factory.mktemp("airflow-db")
    _run_airflow(["db", "migrate"], airflow_env(home, free_port(), local_env), home)
    return home / "airflow.db"


@pytest.fixture(scope="session")
def metadata_postgres(local_env, tmp_path_factory):
    """The PostgreSQL server of the test Airflows started with `database="postgres"` (started on first use)."""

    def migrate(url: str) -> None:
        home = tmp_path_factory.mktemp("airflow-postgres-migrate")
        _run_airflow(["db", "migrate"], {**airflow_env(home, free_port(), local_env),
                                         "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url}, home)

    server = MetadataPostgres(migrate)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def start_airflow(local_env, migrated_airflow_db, metadata_postgres, tmp_path_factory):
    """Factory: `start_airflow(dags={dag_id: source}, components=ALL_COMPONENTS, settings={}, database="sqlite")
    -> RunningAirflow`.

    `settings`: more environment for every component, such as `AIRFLOW__STATE_STORE__CLEAR_ON_SUCCESS`.
    `database`: "sqlite" (a copy of a migrated file, as on the local profile) or "postgres" (a fresh database on
    the session's PostgreSQL), for paths Airflow refuses on SQLite under concurrent writers, such as creating a
    backfill.
    Without a dag-processor the DAGs are serialized once before the start (`airflow dags reserialize`).
    Everything started is stopped when the module's tests are done.
    """
    started: list[SupervisedProcess] = []

    def start(
        dags: Mapping[str, str], *, components: Iterable[str] = ALL_COMPONENTS, settings: Mapping[str, str] = {},
        database: str = "sqlite",
    ) -> RunningAirflow:
        components = tuple(components)
        unknown = set(components) - set(ALL_COMPONENTS)
        assert not unknown and "api-server" in components, f"components: api-server plus any of {ALL_COMPONENTS}"
        assert database in ("sqlite", "postgres"), f"database: sqlite or postgres, not {database!r}"
        began = time.monotonic()
        home = tmp_path_factory.mktemp("airflow")
        (home / "dags").mkdir()
        for dag_id, source in dags.items():
            (home / "dags" / f"{dag_id}.py").write_text(source)
        passwords = {user: secrets.token_urlsafe(16) for user in USERS}
        (home / "passwords.json").write_text(json.dumps(passwords))
        port = free_port()
        env = {**airflow_env(home, port, local_env), **settings}
        if database == "postgres":
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = metadata_postgres.new_database()
        else:
            shutil.copyfile(migrated_airflow_db, home / "airflow.db")
        if "dag-processor" not in components:
            _run_airflow(["dags", "reserialize"], env, home)
        prepared = time.monotonic()
        url = f"http://127.0.0.1:{port}"
        processes = {}
        for name in components:
            (home / "run" / name).mkdir(parents=True)
            process = SupervisedProcess(
                name=f"airflow {name} in {home}", pid_path=home / "run" / f"{name}.pid", executable=sys.executable,
                cwd=home / "run" / name, output_path=home / "run" / f"{name}.log",
            )
            started.append(process)
            process.start(_argv(name, port), env=env)
            processes[name] = process
        deadline = time.monotonic() + 240
        processes["api-server"].wait_ready(_health_probe(url, processes), timeout=240, interval=0.5)
        healthy = time.monotonic()
        airflow = RunningAirflow(
            url=url, home=home, passwords=passwords, profile=load_profile(local_env), components=components,
            started_in_s=0.0, processes=processes, env=env,
        )
        _wait_for_dags(airflow, dags, deadline)
        airflow = replace(airflow, started_in_s=round(time.monotonic() - began, 1))
        print(f"airflow ({', '.join(components)}, {database}) at {url} ready in {airflow.started_in_s} s: DB copy (and reserialize) "
              f"{prepared - began:.1f} s, components healthy {healthy - prepared:.1f} s, DAGs parsed "
              f"{time.monotonic() - healthy:.1f} s")
        return airflow

    try:
        yield start
    finally:
        with ThreadPoolExecutor(max_workers=max(1, len(started))) as pool:
            list(pool.map(_stop, started))


def _wait_for_dags(airflow: RunningAirflow, dags: Mapping[str, str], deadline: float) -> None:
    with airflow.client() as client:
        while True:
            missing = [dag_id for dag_id in dags if client.dag(dag_id) is None]
            if not missing:
                return
            errors = [f"{e.filename}: {e.stack_trace}" for e in client.import_errors()]
            if errors:
                pytest.fail("the test DAGs do not import:\n" + "\n".join(errors))
            if time.monotonic() > deadline:
                pytest.fail(f"DAGs {missing} not parsed in time; dag-processor log tail:\n"
                            f"{airflow.component_log('dag-processor')}")
            time.sleep(0.5)


@pytest.fixture
def browser():
    """Debian's chromium, headless, through Playwright; closed after the test."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (Playwright drives Debian's chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def _log_in(page, airflow: RunningAirflow, url: str, *, back_to_url: bool = True) -> None:
    """Open `url`, log in as admin through Airflow's form, and (unless told not to) come back to `url` if the
    login landed elsewhere."""
    page.goto(url)
    page.locator("input[name=username]").fill("admin")
    page.locator("input[name=password]").fill(airflow.passwords["admin"])
    page.locator("button[type=submit]").click()
    page.wait_for_url(lambda address: "/auth/" not in address, timeout=30_000)
    if back_to_url and not page.url.rstrip("/").endswith(url.removeprefix(airflow.url).rstrip("/")):
        page.goto(url)


@pytest.fixture
def log_in():
    """`log_in(page, airflow, url, back_to_url=True)`: log in through the UI's form (see _log_in)."""
    return _log_in


def _wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s for {what}")
        time.sleep(interval)


@pytest.fixture
def wait_for():
    """`wait_for(condition, timeout, what, interval=0.25)`: condition()'s first truthy value, or the test fails."""
    return _wait_for
