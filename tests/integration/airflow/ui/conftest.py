"""A real `airflow api-server` with the project's plugins folder, for the ramp page's integration tests.

The server gets its own AIRFLOW_HOME under the test's temp dir (SQLite, one DAG shaped like a stack with
a ramp step: `ramp_probe`, task `surge.ramp`), the simple auth manager with an admin and a viewer, and
the local profile of the test moto server, so the ramp app reads checkpoints from the same state bucket
the tests write. No scheduler: triggering a run creates its task instances, which is all the task state
store needs. The server binds 127.0.0.1 on a free port, runs as a SupervisedProcess (its working
directory is the marker: the api-server rewrites its command line) and is stopped by PID.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from loadstack.profiles import Profile, load_profile
from loadstack.rest_client.client import AirflowRestClient, ApiSettings
from loadstack.supervisor import NotReady, SupervisedProcess, free_port

ROOT = Path(__file__).resolve().parents[4]
STACK = "ramp_probe"
STEP = "surge"
RAMP_TASK = f"{STEP}.ramp"
RAMP_DAG = f'''
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, TaskGroup

with DAG(dag_id="{STACK}", schedule=None):
    with TaskGroup("{STEP}"):
        EmptyOperator(task_id="ramp")
'''


@dataclass(frozen=True)
class ApiServer:
    url: str
    passwords: dict[str, str]
    profile: Profile

    def client(self, user: str = "admin") -> AirflowRestClient:
        return AirflowRestClient(ApiSettings(base_url=self.url, user=user, password=self.passwords[user]))

    def ramp_url(self, run_id: str, tail: str, task_id: str = RAMP_TASK) -> str:
        return f"{self.url}/loadstack/ramps/{STACK}/{quote(run_id, safe='')}/{quote(task_id, safe='')}/{tail}"

    def new_run(self) -> str:
        """A fresh run of the probe DAG (its task instances exist at once); returns its run id."""
        with self.client() as client:
            client.unpause(STACK)
            return client.trigger(STACK).dag_run_id


def _env(home: Path, port: int, password_file: Path, local_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LOADSTACK_"))}
    env.update(local_env)
    env.update({
        # This worktree's package, not whichever one the venv's editable install points at.
        "PYTHONPATH": str(ROOT / "plugins"),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONFIG": str(home / "airflow.cfg"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,watcher:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
    })
    return env


@pytest.fixture(scope="module")
def api_server(local_env, tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow-ui")
    (home / "dags").mkdir()
    (home / "dags" / f"{STACK}.py").write_text(RAMP_DAG)
    passwords = {"admin": secrets.token_urlsafe(16), "watcher": secrets.token_urlsafe(16)}
    password_file = home / "passwords.json"
    password_file.write_text(json.dumps(passwords))
    port = free_port()
    env = _env(home, port, password_file, local_env)
    airflow = str(Path(sys.executable).parent / "airflow")
    for command in (["db", "migrate"], ["dags", "reserialize"]):
        done = subprocess.run([airflow, *command], env=env, cwd=home, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"airflow {' '.join(command)}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    server = SupervisedProcess(
        name=f"airflow api-server in {home}", pid_path=home / "api-server.pid", executable=sys.executable,
        cwd=home, output_path=home / "api-server.log",
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> None:
        try:
            urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2).read()
        except OSError as exc:
            raise NotReady(str(exc)) from None

    try:
        server.start([sys.executable, airflow, "api-server", "--host", "127.0.0.1", "--port", str(port)], env=env)
        server.wait_ready(healthy, timeout=180, interval=0.5)
        yield ApiServer(url=url, passwords=passwords, profile=load_profile(local_env))
    finally:
        server.stop(timeout=30)
