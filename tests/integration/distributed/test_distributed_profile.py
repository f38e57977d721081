"""The distributed profile (scripts/distributed.sh, `make up-distributed`) runs each task on its queue's worker.

The fixture starts the whole profile (moto, ZooKeeper, PostgreSQL, Redis, the four Airflow components with the
CeleryExecutor, two Celery workers, each with its own working directory and LOADSTACK_HOME) through the script
itself, in a directory of its own and on free ports. Its dags folder holds a tiny DAG (one task queued on `infra`,
one on `load`; each returns what tells its worker apart) and the demo's own DAG files. The long test runs the demo
stack end to end through `distributed.sh demo`, as `make demo-distributed` does. Stopped by the script's `down`,
then by PID whatever it left.
"""

from __future__ import annotations

import json
import os
import secrets
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
    password = secrets.token_urlsafe(16)
    (directory / "airflow").mkdir()
    (directory / "airflow" / "passwords.json").write_text(json.dumps({"admin": password}))
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
        up = _script("up", env, timeout=420)
        assert up.returncode == 0, f"distributed.sh up failed:\n{up.stdout[-4000:]}\n{up.stderr[-4000:]}"
        print(f"distributed profile up in {time.monotonic() - began:.1f} s")
        yield DistributedProfile(directory=directory, url=f"http://127.0.0.1:{api_port}", password=password,
                                 log_ports=log_ports, env=env)
    finally:
        down = _script("down", env, timeout=180)
        print(down.stdout[-2000:], down.stderr[-2000:])
        _stop_leftovers(directory / "run")
        subprocess.run([sys.executable, "-m", "loadstack.locust.service", "down", "--dir", str(directory / "locust")],
                       capture_output=True, timeout=60, check=False)
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
            left.append(f"{proc.name}: {cmdline[:200]}")
    return left


@pytest.mark.long
def test_the_demo_stack_runs_end_to_end_on_two_workers(distributed_profile: DistributedProfile) -> None:
    """`make demo-distributed`: the snapshots, then the demo stack with its teardown, each step on its queue's worker.

    Every hand-off between the two workers' homes goes through the state bucket or Airflow's stores (the ramp on
    `load` reads what the restore and deploy on `infra` published; the teardown stops what `infra` started), so
    the run succeeds only if nothing is passed through a local disk. keep_up=false: the run tears the stack down.
    """
    profile = distributed_profile
    began = time.monotonic()
    demo = _script("demo", profile.env, 2400, "--first", "loadstack_snapshots", "--dag-id", DEMO_STACK,
                   "--conf", json.dumps({"keep_up": False}), "--timeout", "2100")
    wall = time.monotonic() - began
    print(demo.stdout[-6000:])
    assert demo.returncode == 0, f"the demo failed after {wall:.0f} s:\n{demo.stdout[-6000:]}\n{demo.stderr[-3000:]}"
    print(f"demo (snapshots + {DEMO_STACK}) on the distributed profile: {wall:.1f} s")

    with profile.client() as client:
        run = client.runs(DEMO_STACK, limit=1)[0]
        instances = client.task_instances(DEMO_STACK, run.dag_run_id)
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
    assert _processes_under(homes) == []
