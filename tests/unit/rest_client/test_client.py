"""loadstack.rest_client.client against a fake api-server (tests/unit/conftest.py) speaking Airflow 3.3's REST v2."""

from __future__ import annotations

import json
import socket

import pytest

from loadstack.rest_client.client import AirflowRestClient, ApiSettings, RestError, password_file_path


def _client(fake, **overrides) -> AirflowRestClient:
    return AirflowRestClient(ApiSettings(base_url=fake.url, user="admin", password=overrides.get("password", fake.password)))


def test_login_gets_a_jwt_and_every_call_carries_it(fake_airflow):
    fake, _ = fake_airflow
    fake.add_dag("shop")
    with _client(fake) as client:
        assert [d.dag_id for d in client.dags()] == ["shop"]
        assert client.dag("shop").is_paused is True
    token_calls = fake.calls("POST", "/auth/token")
    assert len(token_calls) == 1 and token_calls[0][2] == {"username": "admin", "password": fake.password}
    token = "Bearer " + f"jwt-{fake.requests.index(token_calls[0]) + 1}"
    assert [r[3] for r in fake.requests[1:]] == [token, token]


def test_a_wrong_password_is_refused_with_airflows_detail(fake_airflow):
    fake, _ = fake_airflow
    with pytest.raises(RestError, match=r"POST .*/auth/token \(user admin\) -> HTTP 401: Invalid credentials") as info:
        _client(fake, password="wrong").login()
    assert info.value.status == 401


def test_a_refused_token_means_one_new_login(fake_airflow):
    fake, _ = fake_airflow
    fake.add_dag("shop")
    client = _client(fake)
    client.login()
    fake.expire_tokens()  # e.g. the api-server restarted with another key
    assert client.dag("shop").dag_id == "shop"
    assert len(fake.calls("POST", "/auth/token")) == 2


def test_lists_are_read_page_by_page(fake_airflow):
    fake, _ = fake_airflow
    for i in range(230):
        fake.add_import_error(f"dag_{i}.py", "SyntaxError")
    errors = _client(fake).import_errors()
    assert [e.filename for e in errors] == [f"dag_{i}.py" for i in range(230)]
    assert len(fake.calls("GET", "/api/v2/importErrors")) == 3


def test_a_missing_dag_is_none_but_other_errors_raise(fake_airflow):
    fake, _ = fake_airflow
    client = _client(fake)
    assert client.dag("nope") is None
    fake.add_dag("shop")
    with pytest.raises(RestError, match=r"GET /api/v2/dags/shop/dagRuns/r1 -> HTTP 404: Not Found"):
        client.run("shop", "r1")


def test_trigger_sends_a_null_logical_date_and_the_conf(fake_airflow):
    fake, _ = fake_airflow
    fake.add_dag("shop")
    client = _client(fake)
    run = client.trigger("shop", {"users": 50})
    assert run.dag_run_id.startswith("manual__") and run.conf == {"users": 50}
    assert fake.calls("POST", "/api/v2/dags/shop/dagRuns")[0][2] == {"logical_date": None, "conf": {"users": 50}}
    with pytest.raises(RestError, match=r"HTTP 400: Invalid input for param forbidden"):
        client.trigger("shop", {"forbidden": 1})
    client.unpause("shop")
    assert fake.calls("PATCH", "/api/v2/dags/shop")[0][2] == {"is_paused": False} and fake.dags["shop"]["is_paused"] is False


def test_task_log_records_come_back_as_dicts_or_text(fake_airflow):
    fake, _ = fake_airflow
    fake.add_dag("shop")
    fake.frames = [("failed", {("load", -1): ("failed", 1), ("report", -1): ("failed", 1)})]
    fake.logs["load"] = [{"event": "boom", "timestamp": "2026-01-02T03:04:05Z", "level": "error", "logger": "task",
                          "error_detail": [{"exc_type": "ValueError", "exc_value": "bad row", "frames": []}]}]
    fake.logs["report"] = ["plain line", "another"]  # unstructured logs come as strings
    client = _client(fake)
    run_id = client.trigger("shop").dag_run_id
    client.run("shop", run_id)
    (record,) = client.task_log("shop", run_id, "load", try_number=1)
    assert (record["event"], record["level"], record["logger"]) == ("boom", "error", "task")
    assert record["error_detail"][0]["exc_value"] == "bad row"  # kept: the failure report shows it
    assert client.task_log("shop", run_id, "report", try_number=1) == ["plain line", "another"]
    with pytest.raises(RestError, match="HTTP 404"):
        client.task_log("shop", "no-such-run", "report", try_number=1)


def test_an_unreachable_server_is_a_clear_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        client = AirflowRestClient(ApiSettings(base_url=f"http://127.0.0.1:{port}", user="admin", password="x"), timeout=5)
        with pytest.raises(RestError, match="cannot reach the api-server"):
            client.dags()


def test_settings_come_from_the_environment_of_env_sh(tmp_path):
    (tmp_path / "passwords.json").write_text(json.dumps({"admin": "pw-from-file"}))
    settings = ApiSettings.from_environment({"LOADSTACK_API_URL": "http://127.0.0.1:9999/", "AIRFLOW_HOME": str(tmp_path)})
    assert (settings.base_url, settings.user, settings.password) == ("http://127.0.0.1:9999", "admin", "pw-from-file")
    assert "pw-from-file" not in repr(settings)
    explicit = tmp_path / "other.json"
    assert password_file_path({"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(explicit)}) == explicit


def test_a_missing_password_says_which_file_and_what_to_do(tmp_path):
    with pytest.raises(RestError, match=rf"password file {tmp_path}/passwords.json: cannot read .*scripts/services.sh up"):
        ApiSettings.from_environment({"AIRFLOW_HOME": str(tmp_path)})
    (tmp_path / "passwords.json").write_text('{"someone": "x"}')
    with pytest.raises(RestError, match=r"no entry for 'admin'"):
        ApiSettings.from_environment({"AIRFLOW_HOME": str(tmp_path)})
    with pytest.raises(RestError, match="source scripts/env.sh first, or pass --password-file"):
        ApiSettings.from_environment({})


def test_task_state_store_values_are_read_and_written(fake_airflow):
    fake, _ = fake_airflow
    fake.add_dag("shop")
    run_id = fake.add_run("shop", "manual__1", "running")["dag_run_id"]
    fake.frames = [("running", {("surge.ramp", -1): ("running", 1)})]
    client = _client(fake)
    assert client.task_state("shop", run_id, "surge.ramp", "control") is None  # never set: None, not an error
    client.set_task_state("shop", run_id, "surge.ramp", "control", {"action": "pause", "seq": 1, "at": 5.0})
    assert client.task_state("shop", run_id, "surge.ramp", "control") == {"action": "pause", "seq": 1, "at": 5.0}
    [(_, path, body, _)] = fake.calls("PUT", r"/api/v2/dags/shop/dagRuns/.*/state-store/control")
    assert path == f"/api/v2/dags/shop/dagRuns/{run_id}/taskInstances/surge.ramp/state-store/control"
    # Kept for the configured retention, like the task's own writes.
    assert body == {"value": {"action": "pause", "seq": 1, "at": 5.0}, "expires_at": "default"}


def test_writing_the_state_of_a_task_the_run_does_not_have_names_the_call(fake_airflow):
    fake, _ = fake_airflow
    fake.add_dag("shop")
    fake.add_run("shop", "manual__1", "running")
    fake.frames = [("running", {("surge.ramp", -1): ("running", 1)})]
    with pytest.raises(RestError, match=r"PUT /api/v2/dags/shop/dagRuns/manual__1/taskInstances/other.ramp/state-store/"
                                        r"control -> HTTP 404: Task instance shop/manual__1/other.ramp not found"):
        _client(fake).set_task_state("shop", "manual__1", "other.ramp", "control", {"action": "pause"})


def test_an_xcom_value_is_read_as_json_and_a_missing_one_is_none(fake_airflow):
    fake, _ = fake_airflow
    fake.add_dag("shop")
    run_id = fake.add_run("shop", "manual__1", "success")["dag_run_id"]
    fake.frames = [("success", {("surge.ramp", -1): ("success", 1)})]
    fake.xcoms[("surge.ramp", "return_value")] = {"phase": "done", "in_band_s": 121.5}
    client = _client(fake)
    assert client.xcom("shop", run_id, "surge.ramp") == {"phase": "done", "in_band_s": 121.5}
    assert client.xcom("shop", run_id, "surge.ramp", "report_url") is None
