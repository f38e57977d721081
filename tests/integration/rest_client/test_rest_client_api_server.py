"""loadstack.rest_client against a real `airflow api-server` (Airflow 3.3, simple auth manager).

The server gets its own AIRFLOW_HOME under tmp_path (SQLite, a DAGs folder with one good and one
broken file), binds 127.0.0.1 on a free port and is stopped by its PID. No dag-processor runs:
`airflow dags reserialize` parses the folder once and writes the DAG and the import error to the
database, which is all the API reads. Start-up costs about 30 s on two cores.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from loadstack.rest_client.client import AirflowRestClient, ApiSettings, RestError
from loadstack.rest_client.run import Narrator, wait_for_dag
from loadstack.supervisor import free_port

pytestmark = pytest.mark.integration

GOOD_DAG = '''
from airflow.sdk import Param, dag, task


@dag(dag_id="rest_probe", schedule=None, params={"users": Param(1, type="integer", minimum=1)})
def rest_probe():
    @task
    def hello(): ...

    hello()


rest_probe()
'''
BROKEN_DAG = "from airflow.sdk import dag\n\ndef broken(:\n    pass\n"
# Shaped like a stack with a ramp step: its ramp task is `surge.ramp`.
RAMP_DAG = '''
from airflow.sdk import DAG, TaskGroup
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(dag_id="ramp_probe", schedule=None):
    with TaskGroup("surge"):
        EmptyOperator(task_id="ramp")
'''


def _airflow_env(home: Path, port: int, password_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONFIG": str(home / "airflow.cfg"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
    })
    return env


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the api-server exited with code {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"the api-server did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)


@pytest.fixture(scope="module")
def api_server(tmp_path_factory):
    """A real api-server over a parsed DAGs folder; yields (base URL, admin password)."""
    home = tmp_path_factory.mktemp("airflow-api")
    (home / "dags").mkdir()
    (home / "plugins").mkdir()
    (home / "dags" / "rest_probe.py").write_text(GOOD_DAG)
    (home / "dags" / "broken.py").write_text(BROKEN_DAG)
    (home / "dags" / "ramp_probe.py").write_text(RAMP_DAG)
    password = secrets.token_urlsafe(16)
    password_file = home / "passwords.json"
    password_file.write_text(json.dumps({"admin": password}))
    port = free_port()
    env = _airflow_env(home, port, password_file)
    airflow = str(Path(sys.executable).parent / "airflow")
    for command in (["db", "migrate"], ["dags", "reserialize"]):
        done = subprocess.run([airflow, *command], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"airflow {' '.join(command)}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    log = home / "api-server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log, timeout=180)
        yield url, password
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_lists_dags_and_reads_import_errors(api_server):
    url, password = api_server
    with AirflowRestClient(ApiSettings(base_url=url, user="admin", password=password)) as client:
        assert [d.dag_id for d in client.dags()] == ["ramp_probe", "rest_probe"]
        dag = client.dag("rest_probe")
        assert dag.is_paused and not dag.has_import_errors and dag.relative_fileloc == "rest_probe.py"
        assert client.dag("missing") is None
        (error,) = client.import_errors()
        assert error.filename.endswith("broken.py") and "SyntaxError" in error.stack_trace

        err = io.StringIO()
        assert wait_for_dag(client, "broken", timeout=30, narrator=Narrator(io.StringIO(), err), poll=0.2) is None
        assert "--- import error in " in err.getvalue() and "broken.py" in err.getvalue()


def test_unpause_trigger_and_read_the_run(api_server):
    url, password = api_server
    with AirflowRestClient(ApiSettings(base_url=url, user="admin", password=password)) as client:
        assert client.unpause("rest_probe").is_paused is False
        run = client.trigger("rest_probe", {"users": 7})
        assert run.logical_date is None and run.conf == {"users": 7}
        assert client.run("rest_probe", run.dag_run_id).dag_run_id == run.dag_run_id
        assert [r.dag_run_id for r in client.runs("rest_probe")] == [run.dag_run_id]
        client.task_instances("rest_probe", run.dag_run_id)  # no scheduler here: maybe none yet, but the call works
        with pytest.raises(RestError, match=r"HTTP 400: .*users"):  # the params' JSON schema, checked by Airflow
            client.trigger("rest_probe", {"users": "not a number"})


def test_a_wrong_password_is_refused(api_server):
    url, _ = api_server
    with pytest.raises(RestError, match=r"HTTP 401"):
        AirflowRestClient(ApiSettings(base_url=url, user="admin", password="wrong")).login()


def test_loadstack_ramp_pauses_resumes_terminates_and_reads_status_through_the_task_state_store(api_server, tmp_path, capsys):
    from loadstack.cli import main
    from loadstack.ramp.control import CONTROL_KEY, STATUS_KEY

    url, password = api_server
    password_file = tmp_path / "passwords.json"
    password_file.write_text(json.dumps({"admin": password}))
    flags = ["--api-url", url, "--password-file", str(password_file)]
    with AirflowRestClient(ApiSettings(base_url=url, user="admin", password=password)) as client:
        client.unpause("ramp_probe")
        run_id = client.trigger("ramp_probe").dag_run_id
        assert [ti.task_id for ti in client.task_instances("ramp_probe", run_id)] == ["surge.ramp"]

        assert main(["ramp", "pause", "ramp_probe", "--run", run_id, "--reason", "checking an alert", *flags]) == 0
        assert "pause sent to ramp_probe run" in capsys.readouterr().out
        record = client.task_state("ramp_probe", run_id, "surge.ramp", CONTROL_KEY)
        assert record["action"] == "pause" and record["seq"] == 1 and record["reason"] == "checking an alert"

        assert main(["ramp", "resume", "ramp_probe", "--run", run_id, *flags]) == 0
        assert main(["ramp", "terminate", "ramp_probe", "--run", run_id, "--reason", "db CPU at 95 %", *flags]) == 0
        record = client.task_state("ramp_probe", run_id, "surge.ramp", CONTROL_KEY)
        assert (record["action"], record["seq"], record["reason"]) == ("terminate", 3, "db CPU at 95 %")

        # What a running ramp publishes, as the CLI shows it.
        client.set_task_state("ramp_probe", run_id, "surge.ramp", STATUS_KEY, {"phase": "holding", "stage": 3})
        capsys.readouterr()
        assert main(["ramp", "status", "ramp_probe", "--run", run_id, *flags]) == 0
        out = capsys.readouterr().out
        assert '"phase": "holding"' in out and '"action": "terminate"' in out

        other = client.trigger("rest_probe", {"users": 1}).dag_run_id
    assert main(["ramp", "pause", "rest_probe", "--run", other, *flags]) == 1
    assert f"run {other} of rest_probe has no ramp task" in capsys.readouterr().err
