"""The distributed profile (scripts/distributed.sh, `make up-distributed`) runs each task on its queue's worker.

The fixture starts the whole profile (moto, ZooKeeper, PostgreSQL, Redis, the four Airflow components with the
CeleryExecutor, two Celery workers, each with its own working directory and LOADSTACK_HOME) through the script
itself, in a directory of its own and on free ports. Its dags folder holds a tiny DAG (one task queued on `infra`,
one on `load`; each returns what tells its worker apart) and the demo's own DAG files. The long test runs the demo
stack end to end through `distributed.sh demo`, as `make demo-distributed` does. Stopped by the script's `down`,
then by PID whatever it left.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest

from loadstack.locust import master_api
from loadstack.profiles import load_profile
from loadstack.rest_client.client import AirflowRestClient, ApiSettings
from loadstack.stack_registry import StackRegistry
from loadstack.supervisor import SupervisedProcess, free_port


pytestmark = pytest.mark.integration


def _helper(name: str):
    """A helper module beside this file (tests import by path: --import-mode=importlib, no packages)."""
    spec = importlib.util.spec_from_file_location(f"distributed_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


exposure = _helper("exposure")

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "distributed.sh"
DAG_ID = "distributed_queues"
# Each task reports where it ran: the worker's name, its working directory and its LOADSTACK_HOME.
DAG_SOURCE = f'''
import os

from airflow.sdk import dag, task


def where() -> dict:
    print("ran on worker", os.environ.get("WORKER_NAME"))
    return {{"worker": os.environ.get("WORKER_NAME"), "cwd": os.getcwd(), "home": os.environ.get("LOADSTACK_HOME")}}


@dag(dag_id="{DAG_ID}", schedule=None, catchup=False)
def distributed_queues():
    @task(queue="infra")
    def on_infra() -> dict:
        return where()

    @task(queue="load")
    def on_load() -> dict:
        return where()

    on_infra()
    on_load()


distributed_queues()
'''
# What each PID file's process runs, so that a recycled PID is never signalled.
EXECUTABLES = {"postgres": "postgres", "redis": "redis-server", "moto": "moto_server", "zookeeper": "java"}
# The demo's DAG files (linked into the profile's dags folder): the stack and the snapshots it restores.
DEMO_DAG_FILES = ("shop.py", "loadstack_snapshots.py")
DEMO_STACK = "shop"



@dataclass(frozen=True)
class DistributedProfile:
    directory: Path
    url: str
    password: str
    log_ports: dict[str, int]
    env: dict[str, str]
    pids_before: frozenset[int]  # processes that were there before the profile came up: not its own

    def client(self) -> AirflowRestClient:
        return AirflowRestClient(ApiSettings(base_url=self.url, user="admin", password=self.password))

    def worker_dir(self, name: str) -> Path:
        return self.directory / "workers" / name

    def log_token(self, relative_path: str) -> str:
        """What the api-server sends a worker's log server: HS512 with the shared API secret, for one file."""
        secret = next(line.split("=", 1)[1] for line in (self.directory / "airflow" / "secrets.env").read_text().split()
                      if line.startswith("AIRFLOW__API__SECRET_KEY="))
        now = int(time.time())
        claims = {"filename": relative_path, "aud": "task-instance-logs", "iat": now, "nbf": now, "exp": now + 60}
        return jwt.encode(claims, secret, algorithm="HS512")


def _script(action: str, env: dict[str, str], timeout: float, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), action, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)


class DemoWatch:
    """Runs `distributed.sh demo` and, while it runs, lists the sockets the profile's processes listen on, collects
    the stack's passwords from Secrets Manager (gone after the teardown) and, once the ramp runs, looks for them in
    every file of the profile's directory; then checks where they went.

    The secrets: the admin password, the API secret, JWT and Fernet keys (secrets.env), and every password-like
    value of every secret in the profile's Secrets Manager (each restored database's and cache's, the snapshot
    builders'). None may be in a log (file or bucket), an XCom, a report, the state bucket's own records (the
    registry, run history, ramp checkpoints; Terraform state is not swept: it is the one store Terraform itself
    keeps them in), or the ramp page; every file that holds one is readable by its owner only.
    """

    def __init__(self, profile: DistributedProfile) -> None:
        self.profile = profile
        self.secrets: set[str] = {profile.password}
        for line in (profile.directory / "airflow" / "secrets.env").read_text().split():
            self.secrets.add(line.split("=", 1)[1])
        self.listeners: dict[tuple[str, int], exposure.Listener] = {}
        self.files_mid_ramp: list = []
        self.ramp_seen = False
        self.ramp_seen_at = 0.0
        self.scheduler_restarted = ""

    def run(self, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        out, err = (tempfile.TemporaryFile("w+") for _ in range(2))
        process = subprocess.Popen(["bash", str(SCRIPT), "demo", *args], env=self.profile.env, cwd=ROOT,
                                   stdout=out, stderr=err, text=True)
        deadline = time.monotonic() + timeout
        try:
            while process.poll() is None:
                assert time.monotonic() < deadline, f"the demo ran over {timeout:.0f} s"
                self._look()
                time.sleep(3)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(process.args, process.returncode, out.read(), err.read())

    def _look(self) -> None:
        ours = exposure.process_ids() - self.profile.pids_before
        for listener in exposure.listening_sockets(ours):
            self.listeners.setdefault((listener.address, listener.port), listener)
        try:
            self.secrets |= self._stack_secrets()
        except Exception as error:  # noqa: BLE001 - moto busy for a moment: the next look reads them
            print(f"(secrets not read this time: {error!r})")
        if not self.ramp_seen and self._ramp_running():
            self.ramp_seen = True
            self.ramp_seen_at = time.monotonic()
            self.files_mid_ramp = list(exposure.files_holding(self.profile.directory, self.secrets))
        elif self.ramp_seen and not self.scheduler_restarted and time.monotonic() - self.ramp_seen_at > 20:
            self.restart_scheduler()

    def restart_scheduler(self) -> None:
        """Mid-ramp, as an operator restarting one service would: `down scheduler`, then `up`. The ramp task runs
        on the load worker and its servers under the infra worker: neither may notice."""
        began = time.monotonic()
        down = _script("down", self.profile.env, 120, "scheduler")
        assert down.returncode == 0, f"down scheduler:\n{down.stdout}\n{down.stderr}"
        up = _script("up", self.profile.env, 420)
        assert up.returncode == 0, f"up after down scheduler:\n{up.stdout[-4000:]}\n{up.stderr[-4000:]}"
        self.scheduler_restarted = f"the scheduler restarted mid-ramp in {time.monotonic() - began:.0f} s"
        print(self.scheduler_restarted)

    def _stack_secrets(self) -> set[str]:
        manager = _profile_aws(self.profile).client("secretsmanager")
        found = set()
        for page in manager.get_paginator("list_secrets").paginate():
            for item in page["SecretList"]:
                body = manager.get_secret_value(SecretId=item["ARN"])["SecretString"]
                try:
                    values = json.loads(body)
                except ValueError:
                    continue  # a handler's published output (a URL, a name): not a secret
                if isinstance(values, dict):
                    found |= {str(v) for k, v in values.items() if any(w in k.lower() for w in ("password", "token"))}
        return found

    def _ramp_running(self) -> bool:
        try:
            with self.profile.client() as client:
                runs = client.runs(DEMO_STACK, limit=1)
                if not runs:
                    return False
                states = {ti.task_id: str(getattr(ti.state, "value", ti.state))
                          for ti in client.task_instances(DEMO_STACK, runs[0].dag_run_id)}
        except Exception:  # noqa: BLE001 - the DAG not parsed yet, the api-server busy: look again later
            return False
        return states.get("surge.ramp") == "running"

    def check_exposure(self) -> None:
        profile = self.profile
        stack_secrets = self.secrets - {profile.password}
        assert len(stack_secrets) >= 5, "the stack's passwords were never read: the sweep would prove nothing"
        assert self.ramp_seen, "the ramp was never seen running: the mid-run sweep did not happen"

        # Only loopback, over every process the profile and its stack started (servers of steps included).
        ports = {port for _, port in self.listeners}
        assert int(profile.url.rsplit(":", 1)[1]) in ports and int(profile.env["LOADSTACK_DIST_MOTO_PORT"]) in ports
        commands = " ".join(listener.command for listener in self.listeners.values())
        assert all(name in commands for name in ("mariadbd", "redis-server", "haproxy", "prometheus")), commands
        exposed = [str(listener) for listener in self.listeners.values() if not listener.loopback]
        assert exposed == [], "listening beyond 127.0.0.1:\n" + "\n".join(exposed)

        # Files: no secret in a log; a file that holds one is its owner's alone.
        found = self.files_mid_ramp + list(exposure.files_holding(profile.directory, self.secrets))
        in_logs = sorted({str(f) for f in found if exposure.is_log(f.where)})
        assert in_logs == [], "secrets in logs:\n" + "\n".join(in_logs)
        readable = sorted({str(f) for f in found if f.mode is not None and f.mode & 0o077})
        assert readable == [], "files holding secrets readable by others:\n" + "\n".join(readable)
        for name in ("passwords.json", "secrets.env"):
            mode = (profile.directory / "airflow" / name).stat().st_mode & 0o777
            assert mode == 0o600, f"{name} is mode {mode:o}"

        # Buckets: the uploaded task logs, the reports, the state bucket's own records.
        aws = _profile_aws(profile)
        s3 = aws.client("s3")
        stored = [*exposure.objects_holding(s3, "loadstack-logs", self.secrets),
                  *exposure.objects_holding(s3, aws.report_bucket, self.secrets),
                  *exposure.objects_holding(s3, aws.state_bucket, self.secrets, skip=(".tfstate", ".tflock"))]
        assert stored == [], "secrets in buckets:\n" + "\n".join(map(str, stored))

        # Airflow: every XCom of the run, every task log through the API, and the ramp page and its data.
        with profile.client() as client:
            run_id = client.runs(DEMO_STACK, limit=1)[0].dag_run_id
            instances = client.task_instances(DEMO_STACK, run_id)
        token = httpx.post(f"{profile.url}/auth/token", json={"username": "admin", "password": profile.password})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        answers = []
        with httpx.Client(base_url=profile.url, headers=headers, timeout=30) as api:
            base = f"/api/v2/dags/{DEMO_STACK}/dagRuns/{run_id}/taskInstances"
            for ti in instances:
                index = f"?map_index={ti.map_index}" if ti.map_index is not None and ti.map_index >= 0 else ""
                listed = api.get(f"{base}/{ti.task_id}/xcomEntries{index}")
                answers.append((f"xcom keys of {ti.task_id}", listed))
                for entry in listed.json().get("xcom_entries", []):
                    answers.append((f"xcom {ti.task_id}/{entry['key']}",
                                    api.get(f"{base}/{ti.task_id}/xcomEntries/{entry['key']}{index}")))
                if ti.try_number:
                    answers.append((f"log of {ti.task_id}", api.get(f"{base}/{ti.task_id}/logs/{ti.try_number}{index}")))
            ramp = f"/loadstack/ramps/{DEMO_STACK}/{run_id}/surge.ramp"
            answers += [("the ramp page", api.get(f"{ramp}/page")), ("the ramp data", api.get(f"{ramp}/live"))]
        failed = [f"{what}: HTTP {answer.status_code}" for what, answer in answers if answer.status_code != 200]
        assert failed == [], failed
        leaked = [f"{what}: {exposure.holding(answer.content, self.secrets)}" for what, answer in answers
                  if exposure.holding(answer.content, self.secrets)]
        assert leaked == [], "secrets in Airflow's answers:\n" + "\n".join(leaked)
        print(f"exposure: {len(self.listeners)} listening sockets, all on loopback; {len(self.secrets)} secrets "
              f"looked for in {len(answers)} API answers, the profile's files and three buckets: none where it must not be")


def _stop_leftovers(run_dir: Path) -> None:
    """Whatever `down` did not stop (it removes the PID files of what it stopped)."""
    for pid_file in sorted(run_dir.glob("*.pid")):
        name = pid_file.stem
        process = SupervisedProcess(name=name, pid_path=pid_file, executable=EXECUTABLES.get(name, sys.executable))
        process.stop(timeout=10)


@pytest.fixture(scope="module")
def distributed_profile() -> Iterator[DistributedProfile]:
    # Not pytest's tmp_path: its parents are mode 0700, and user postgres must reach its data dir.
    directory = Path(tempfile.mkdtemp(prefix="loadstack-distributed-"))
    directory.chmod(0o755)
    (directory / "dags").mkdir()
    (directory / "dags" / f"{DAG_ID}.py").write_text(DAG_SOURCE)
    for dag_file in DEMO_DAG_FILES:
        (directory / "dags" / dag_file).symlink_to(ROOT / "dags" / dag_file)
    api_port = free_port()
    log_ports = {"infra": free_port(), "load": free_port()}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LOADSTACK_"))}
    env.update({
        "LOADSTACK_DIST_DIR": str(directory),
        "LOADSTACK_DAGS_FOLDER": str(directory / "dags"),
        "LOADSTACK_DIST_API_PORT": str(api_port),
        "LOADSTACK_DIST_MOTO_PORT": str(free_port()),
        "LOADSTACK_DIST_ZOOKEEPER_PORT": str(free_port()),
        "LOADSTACK_DIST_PG_PORT": str(free_port()),
        "LOADSTACK_DIST_LOCUST_WEB_PORT": str(free_port()),
        "LOADSTACK_DIST_LOCUST_MASTER_PORT": str(free_port()),
        "LOADSTACK_DIST_REDIS_PORT": str(free_port()),
        "LOADSTACK_DIST_INFRA_LOG_PORT": str(log_ports["infra"]),
        "LOADSTACK_DIST_LOAD_LOG_PORT": str(log_ports["load"]),
        # The demo stack applies two Terraform steps at once; two cores.
        "LOADSTACK_DIST_WORKER_CONCURRENCY": "2",
        "LOADSTACK_START_TIMEOUT": "240",
        "LOADSTACK_STOP_TIMEOUT": "20",
    })
    try:
        began = time.monotonic()
        before = exposure.process_ids()
        up = _script("up", env, timeout=420)
        assert up.returncode == 0, f"distributed.sh up failed:\n{up.stdout[-4000:]}\n{up.stderr[-4000:]}"
        print(f"distributed profile up in {time.monotonic() - began:.1f} s")
        # The script generated the admin password (the tests read it as a user would).
        password = json.loads((directory / "airflow" / "passwords.json").read_text())["admin"]
        yield DistributedProfile(directory=directory, url=f"http://127.0.0.1:{api_port}", password=password,
                                 log_ports=log_ports, env=env, pids_before=frozenset(before))
    finally:
        down = _script("down", env, timeout=180)
        print(down.stdout[-2000:], down.stderr[-2000:])
        _stop_leftovers(directory / "run")
        subprocess.run([sys.executable, "-m", "loadstack.locust.service", "down", "--dir", str(directory / "locust")],
                       capture_output=True, timeout=60, check=False)
        if os.environ.get("KEEP_DISTRIBUTED_DIR"):  # to read the profile's logs after a failure
            print(f"kept: {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


def _wait_for_run(profile: DistributedProfile, run_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    with profile.client() as client:
        while True:
            state = str(getattr(client.run(DAG_ID, run_id).state, "value", ""))
            if state in ("success", "failed") or time.monotonic() > deadline:
                return state
            time.sleep(1)


def test_each_queue_runs_on_its_own_worker(distributed_profile: DistributedProfile) -> None:
    profile = distributed_profile
    with profile.client() as client:
        deadline = time.monotonic() + 120
        while client.dag(DAG_ID) is None:
            errors = [f"{e.filename}: {e.stack_trace}" for e in client.import_errors()]
            assert not errors, "the test DAG does not import:\n" + "\n".join(errors)
            assert time.monotonic() < deadline, "the test DAG was not parsed in 120 s"
            time.sleep(1)
        client.unpause(DAG_ID)
        run_id = client.trigger(DAG_ID).dag_run_id

    state = _wait_for_run(profile, run_id, timeout=180)

    with profile.client() as client:
        instances = {ti.task_id: ti for ti in client.task_instances(DAG_ID, run_id)}
        states = {task_id: str(getattr(ti.state, "value", ti.state)) for task_id, ti in instances.items()}
        assert state == "success", f"run {run_id} is {state}; task states {states}"
        for task_id, worker in (("on_infra", "infra"), ("on_load", "load")):
            assert instances[task_id].queue == worker
            where = client.xcom(DAG_ID, run_id, task_id)
            assert where == {"worker": worker, "cwd": str(profile.worker_dir(worker)),
                             "home": str(profile.worker_dir(worker))}, f"{task_id} ran at {where}"
    # Each try's log went to its own worker's log folder, none to the other's, and that worker's log server (on
    # 127.0.0.1) serves it to a holder of a token signed with the shared secret, and only to one.
    for task_id, worker, other in (("on_infra", "infra", "load"), ("on_load", "load", "infra")):
        logs = profile.worker_dir(worker) / "logs"
        found = list(logs.rglob(f"task_id={task_id}/attempt=1.log"))
        assert found, f"no log of {task_id} under {logs}"
        assert not list((profile.worker_dir(other) / "logs").rglob(f"task_id={task_id}/*")), \
            f"a log of {task_id} under {other}'s folder"
        relative = found[0].relative_to(logs).as_posix()
        own = httpx.get(f"http://127.0.0.1:{profile.log_ports[worker]}/log/{relative}",
                        headers={"Authorization": profile.log_token(relative)})
        assert own.status_code == 200 and own.text == found[0].read_text()
        elsewhere = httpx.get(f"http://127.0.0.1:{profile.log_ports[other]}/log/{relative}",
                              headers={"Authorization": profile.log_token(relative)})
        assert elsewhere.status_code == 404
        anonymous = httpx.get(f"http://127.0.0.1:{profile.log_ports[worker]}/log/{relative}")
        assert anonymous.status_code == 403
    # The api-server serves both workers' logs (what the UI's log tab shows) from the log bucket they upload to.
    with profile.client() as client:
        for task_id, worker in (("on_infra", "infra"), ("on_load", "load")):
            records = client.task_log(DAG_ID, run_id, task_id, try_number=1)
            text = "\n".join(str(record.get("event", "")) if isinstance(record, dict) else record for record in records)
            assert f"ran on worker {worker}" in text, f"{task_id}'s log through the REST API:\n{text[-2000:]}"
    uploaded = _profile_aws(profile).client("s3").list_objects_v2(Bucket="loadstack-logs", Prefix="airflow/")
    keys = [item["Key"] for item in uploaded.get("Contents", [])]
    assert any("task_id=on_infra/" in key for key in keys) and any("task_id=on_load/" in key for key in keys), keys


# What answers without a login, by design: the probes a load balancer needs (health, version), the login
# itself, the API's own description, and the UI's shell (the SPA's index.html and static assets: every datum
# it shows comes from /ui/ and /api/v2/, which need a login).
ANONYMOUS_BY_DESIGN = {
    "/api/v2/monitor/health", "/api/v2/version", "/auth/token", "/auth/token/cli", "/api/v2/auth/login",
    "/api/v2/auth/logout", "/api/v2/auth/refresh", "/openapi.json", "/docs", "/redoc",
}


def _anonymous_answers(base_url: str) -> list[tuple[str, str, int]]:
    """(method, path, status) of an anonymous request to every route the api-server describes, and the plugin's."""
    described = httpx.get(f"{base_url}/openapi.json", timeout=30)
    assert described.status_code == 200, described.text[:300]
    routes = [(method, path) for path, item in described.json()["paths"].items() for method in item]
    # The ramp app describes nothing (openapi_url=None): its routes, from the app itself.
    from fastapi.routing import APIRoute

    from loadstack.airflow.ui.app import create_app
    from loadstack.airflow.ui.paths import URL_PREFIX

    plugin = [route for route in create_app(None).routes if isinstance(route, APIRoute)]
    assert len(plugin) >= 3, plugin
    routes += [(method.lower(), URL_PREFIX + route.path) for route in plugin for method in route.methods]
    answers = []
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for method, path in routes:
            if method.lower() not in ("get", "post", "put", "patch", "delete"):
                continue
            # Path parameters: a name that exists nowhere (a refusal must come before any lookup).
            concrete = "/".join("nothing" if part.startswith("{") else part for part in path.split("/"))
            answer = http.request(method.upper(), concrete, json={})
            answers.append((method.upper(), path, answer.status_code))
    return answers


def test_every_endpoint_refuses_an_anonymous_request(distributed_profile: DistributedProfile) -> None:
    """The UI's and REST API's routes and every route of the project's plugin, called without a login."""
    answers = _anonymous_answers(distributed_profile.url)
    assert len(answers) > 100, f"only {len(answers)} routes found: the API description is not what it was"
    served = [f"{method} {path}: {status}" for method, path, status in answers
              if status not in (401, 403) and path not in ANONYMOUS_BY_DESIGN]
    assert served == [], "answered without a login:\n" + "\n".join(served)
    print(f"{len(answers)} routes called without a login: {sum(s in (401, 403) for *_, s in answers)} refused")
    # The UI's pages load as a shell only; what would show a DAG needs the login.
    shell = httpx.get(f"{distributed_profile.url}/dags/{DEMO_STACK}", timeout=30)
    assert shell.status_code == 200 and DEMO_STACK not in shell.text, shell.text[:500]


def _profile_aws(profile: DistributedProfile):
    """The loadstack profile of the distributed profile's own moto."""
    return load_profile({"LOADSTACK_AWS_ENDPOINT_URL": f"http://127.0.0.1:{profile.env['LOADSTACK_DIST_MOTO_PORT']}"})


def _worker_of(profile: DistributedProfile, task_id: str, run_id: str, try_number: int) -> str | None:
    """The worker whose log folder holds this try's log: which worker ran it."""
    # `**` also matches no directory: mapped tries sit one level deeper (map_index=N/).
    found = [name for name in ("infra", "load") if list((profile.worker_dir(name) / "logs").glob(
        f"dag_id={DEMO_STACK}/run_id={run_id}/task_id={task_id}/**/attempt={try_number}.log"))]
    return found[0] if len(found) == 1 else None


def _processes_under(paths: list[Path]) -> list[str]:
    """Command lines of live processes that name one of these directories (servers a step left running)."""
    left = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(str(path) in cmdline for path in paths) and "celery" not in cmdline and "serve_logs" not in cmdline:
            left.append(f"{proc.name} (up {_age_s(proc):.0f} s): {cmdline[:200]}")
    return left


def _age_s(proc: Path) -> float:
    """How long a process has been running (to tell one started after the teardown from one it missed)."""
    try:
        started = int((proc / "stat").read_text().rpartition(")")[2].split()[19]) / os.sysconf("SC_CLK_TCK")
        return float(Path("/proc/uptime").read_text().split()[0]) - started
    except (OSError, ValueError, IndexError):
        return -1.0


def _log_tails(profile: DistributedProfile, run_id: str, patterns: tuple[str, ...]) -> str:
    """The last lines of the tries' logs of the tasks matching `patterns` (for a failure's message)."""
    tails = []
    for worker in ("infra", "load"):
        for pattern in patterns:
            for log in sorted((profile.worker_dir(worker) / "logs").glob(f"dag_id={DEMO_STACK}/run_id={run_id}/{pattern}")):
                lines = log.read_text(errors="replace").splitlines()[-15:]
                tails.append(f"--- {worker}: {log.relative_to(profile.worker_dir(worker))}\n" + "\n".join(lines))
    return "\n".join(tails)


@pytest.mark.long
def test_the_demo_stack_runs_end_to_end_on_two_workers(distributed_profile: DistributedProfile) -> None:
    """`make demo-distributed`: the snapshots, then the demo stack with its teardown, each step on its queue's worker.

    Every hand-off between the two workers' homes goes through the state bucket or Airflow's stores (the ramp on
    `load` reads what the restore and deploy on `infra` published; the teardown stops what `infra` started), so
    the run succeeds only if nothing is passed through a local disk. keep_up=false: the run tears the stack down.
    20 s into the ramp the scheduler is restarted (`down scheduler`, `up`): the ramp holds on in its first try.
    """
    profile = distributed_profile
    began = time.monotonic()
    watch = DemoWatch(profile)
    demo = watch.run(["--first", "loadstack_snapshots", "--dag-id", DEMO_STACK, "--conf", json.dumps({"keep_up": False}),
                      "--timeout", "2100"], timeout=2400)
    wall = time.monotonic() - began
    print(demo.stdout[-6000:])
    assert demo.returncode == 0, f"the demo failed after {wall:.0f} s:\n{demo.stdout[-6000:]}\n{demo.stderr[-3000:]}"
    print(f"demo (snapshots + {DEMO_STACK}) on the distributed profile: {wall:.1f} s")
    watch.check_exposure()

    with profile.client() as client:
        # The demo's run is the stack's only one: unpausing the nightly stack started no run of a past night.
        [run] = client.runs(DEMO_STACK)
        instances = client.task_instances(DEMO_STACK, run.dag_run_id)
    assert str(getattr(run.run_type, "value", run.run_type)) == "manual"
    # The scheduler restarted mid-ramp: the ramp went on in its first try (no reset, no retry) and held.
    assert watch.scheduler_restarted, "the scheduler was never restarted mid-ramp"
    [ramp] = [ti for ti in instances if ti.task_id == "surge.ramp"]
    assert (str(getattr(ramp.state, "value", ramp.state)), ramp.try_number) == ("success", 1), ramp
    ran = [ti for ti in instances if str(getattr(ti.state, "value", ti.state)) == "success"]
    assert {ti.task_id for ti in ran} >= {"network.apply", "events_db.restore", "app.deploy", "surge.ramp",
                                          "surge.report", "stack-teardown.app.destroy", "run-outcome"}
    by_worker: dict[str, set[str]] = {"infra": set(), "load": set()}
    for ti in ran:
        worker = _worker_of(profile, ti.task_id, run.dag_run_id, ti.try_number)
        assert worker is not None, f"{ti.task_id}: no single worker holds its log"
        if ti.queue != "default":
            assert ti.queue == worker, f"{ti.task_id} was queued on {ti.queue} and ran on {worker}"
        by_worker[worker].add(ti.task_id)
    assert {"surge.ramp", "surge.checks", "surge.report"} <= by_worker["load"]
    assert {"network.apply", "seed_events.seed_base", "events_db.restore", "app.deploy",
            "stack-teardown.events_db.destroy"} <= by_worker["infra"]

    # The ramp attached to the profile's standing Locust (a master and two workers, each its own process) and
    # named its app as the target; both workers sent the stack's requests.
    with profile.client() as client:
        app_url = client.xcom(DEMO_STACK, run.dag_run_id, "app.deploy")["url"]
    master = f"http://127.0.0.1:{profile.env['LOADSTACK_DIST_LOCUST_WEB_PORT']}"
    assert master_api.rate_state(master)["host"] == app_url
    sent = master_api.counters(master)
    assert sent.workers == 2 and len(sent.worker_requests) == 2, sent
    assert all(n > 1000 for n in sent.worker_requests.values()), sent.worker_requests

    # Torn down: nothing listed, no server of a step left running under either worker's home.
    assert StackRegistry(_profile_aws(profile)).list() == []
    homes = [profile.worker_dir("infra"), profile.worker_dir("load")]
    left = _processes_under(homes)
    assert left == [], "\n".join(left) + "\n" + _log_tails(profile, run.dag_run_id, (
        "task_id=*restore*/**/*.log", "task_id=stack-teardown.*.destroy/**/*.log"))
