"""Shared unit-test fixtures: AWS in moto's memory (the moto *server* fixture is in tests/conftest.py),
and a fake Airflow api-server on 127.0.0.1 for loadstack.rest_client and `loadstack run`.

The fake answers the few endpoints loadstack calls with JSON shaped like Airflow 3.3's REST API v2 (the
official client validates every answer against its models, so the shapes must be right), checks
the bearer token from `POST /auth/token`, and plays a scripted run: each poll of the run moves it
one frame further. Each task instance of the current frame has a task state store
(`GET/PUT .../taskInstances/{task}/state-store/{key}`), kept in `FakeAirflow.task_state`.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from loadstack.ramp.capacity import CapacityParams, CapacitySearch
from loadstack.ramp.clock import FakeClock
from loadstack.ramp.params import AbortRule
from loadstack.ramp.runner import run_ramp
from loadstack.ramp.simulator import PlantConfig, Simulator

STAMP = "2026-01-02T03:04:05.123456Z"


def dag_json(dag_id: str, *, is_paused: bool = True, has_import_errors: bool = False) -> dict[str, Any]:
    return {
        "dag_id": dag_id, "dag_display_name": dag_id, "is_paused": is_paused, "is_stale": False,
        "last_parsed_time": STAMP, "last_parse_duration": 0.2, "last_expired": None, "bundle_name": "dags-folder",
        "bundle_version": None, "relative_fileloc": f"{dag_id}.py", "fileloc": f"/srv/dags/{dag_id}.py",
        "description": None, "timetable_summary": None, "timetable_description": "Never, external triggers only",
        "timetable_partitioned": False, "timetable_periodic": False, "tags": [], "max_active_tasks": 8,
        "max_active_runs": 1, "max_consecutive_failed_dag_runs": 0, "has_task_concurrency_limits": False,
        "has_import_errors": has_import_errors, "next_dagrun_logical_date": None,
        "next_dagrun_data_interval_start": None, "next_dagrun_data_interval_end": None,
        "next_dagrun_run_after": None, "allowed_run_types": None, "owners": ["loadstack"], "is_backfillable": False,
        "file_token": "Ii9zcnYvZGFncy9zaG9wLnB5Ig",
    }


def run_json(dag_id: str, run_id: str, state: str, conf: dict) -> dict[str, Any]:
    return {
        "dag_run_id": run_id, "dag_id": dag_id, "logical_date": None, "queued_at": STAMP,
        "start_date": STAMP if state != "queued" else None, "end_date": STAMP if state in ("success", "failed") else None,
        "duration": None, "data_interval_start": None, "data_interval_end": None, "run_after": STAMP,
        "last_scheduling_decision": None, "run_type": "manual", "state": state, "triggered_by": "rest_api",
        "triggering_user_name": "admin", "conf": conf, "note": None, "dag_versions": [], "bundle_version": None,
        "dag_display_name": dag_id, "partition_key": None, "partition_date": None,
    }


def ti_json(dag_id: str, run_id: str, task_id: str, state: str | None, *, map_index: int = -1, try_number: int = 1) -> dict:
    finished = state in ("success", "failed", "upstream_failed")
    return {
        "id": f"0190c0de-0000-7000-8000-{abs(hash((task_id, map_index))) % 10**12:012d}", "task_id": task_id,
        "dag_id": dag_id, "dag_run_id": run_id, "map_index": map_index, "logical_date": None, "run_after": STAMP,
        "start_date": STAMP if state not in (None, "scheduled", "queued", "upstream_failed") else None,
        "end_date": STAMP if finished else None, "duration": 1.25 if finished and state != "upstream_failed" else None,
        "state": state, "try_number": try_number, "max_tries": 0, "task_display_name": task_id,
        "dag_display_name": dag_id, "hostname": "", "unixname": "root", "pool": "default_pool", "pool_slots": 1,
        "queue": "default", "priority_weight": 1, "operator": "PythonOperator", "operator_name": "@task",
        "queued_when": None, "scheduled_when": None, "pid": None, "executor": None, "executor_config": "{}",
        "note": None, "rendered_map_index": None, "rendered_fields": {}, "trigger": None, "triggerer_job": None,
        "dag_version": None,
    }


def import_error_json(error_id: int, filename: str, trace: str) -> dict[str, Any]:
    return {"import_error_id": error_id, "timestamp": STAMP, "filename": filename, "bundle_name": "dags-folder",
            "stack_trace": trace}


@dataclass
class FakeAirflow:
    """What the fake server knows; tests set it up and read `requests` afterwards."""

    url: str = ""
    password: str = "s3cret-pw"
    dags: dict[str, dict] = field(default_factory=dict)
    import_errors: list[dict] = field(default_factory=list)
    # DAG ids hidden from GET /dags/{id} for this many more polls (the dag-processor has not got there yet).
    parse_delay: dict[str, int] = field(default_factory=dict)
    # The run's frames: (run state, {(task_id, map_index): (state, try_number)}); one per poll of the run.
    frames: list[tuple[str, dict[tuple[str, int], tuple[str | None, int]]]] = field(default_factory=list)
    logs: dict[str, list] = field(default_factory=dict)
    refuse_conf_key: str = "forbidden"
    valid_tokens: set[str] = field(default_factory=set)
    runs: dict[str, dict] = field(default_factory=dict)
    # Extra links by task id: {task_id: {link name: url or None}}.
    links: dict[str, dict[str, str | None]] = field(default_factory=dict)
    # {(task_id, key): value}: what `GET .../taskInstances/{task}/xcomEntries/{key}` answers (native JSON).
    xcoms: dict[tuple[str, str], Any] = field(default_factory=dict)
    # Task state stores: {(dag_id, run_id, task_id, key): JSON value}.
    task_state: dict[tuple[str, str, str, str], Any] = field(default_factory=dict)
    requests: list[tuple[str, str, Any, str | None]] = field(default_factory=list)
    _frame: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_dag(self, dag_id: str, **fields: Any) -> dict:
        self.dags[dag_id] = dag_json(dag_id, **fields)
        return self.dags[dag_id]

    def add_run(self, dag_id: str, run_id: str, state: str, conf: dict | None = None) -> dict:
        """A run listed by GET dagRuns (newest added first); GET of the run itself plays `frames`."""
        self.runs[run_id] = run_json(dag_id, run_id, state, conf or {})
        return self.runs[run_id]

    def add_import_error(self, filename: str, stack_trace: str) -> None:
        self.import_errors.append(import_error_json(len(self.import_errors) + 1, filename, stack_trace))

    def expire_tokens(self) -> None:
        self.valid_tokens.clear()

    def calls(self, method: str, pattern: str) -> list[tuple[str, str, Any, str | None]]:
        return [r for r in self.requests if r[0] == method and re.fullmatch(pattern, r[1])]

    # --- dispatch ------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict, body: Any, auth: str | None) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((method, path, body, auth))
            if (method, path) == ("POST", "/auth/token"):
                if body == {"username": "admin", "password": self.password}:
                    token = f"jwt-{len(self.requests)}"
                    self.valid_tokens.add(token)
                    return 201, {"access_token": token}
                return 401, {"detail": "Invalid credentials"}
            if not auth or auth.removeprefix("Bearer ") not in self.valid_tokens:
                return 401, {"detail": "Not authenticated"}
            return self._api(method, path, query, body)

    def _api(self, method: str, path: str, query: dict, body: Any) -> tuple[int, Any]:
        limit, offset = int(query.get("limit", ["50"])[0]), int(query.get("offset", ["0"])[0])
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:2] != ["api", "v2"]:
            return 404, {"detail": "Not Found"}
        parts = parts[2:]
        if parts == ["importErrors"]:
            return 200, {"import_errors": self.import_errors[offset: offset + limit], "total_entries": len(self.import_errors)}
        if parts == ["dags"]:
            dags = list(self.dags.values())
            return 200, {"dags": dags[offset: offset + limit], "total_entries": len(dags)}
        if len(parts) >= 2 and parts[0] == "dags":
            dag_id = parts[1]
            if dag_id not in self.dags or self.parse_delay.get(dag_id, 0) > 0:
                if self.parse_delay.get(dag_id, 0) > 0:
                    self.parse_delay[dag_id] -= 1
                return 404, {"detail": f"Dag with id {dag_id} was not found"}
            dag = self.dags[dag_id]
            if len(parts) == 2 and method == "GET":
                return 200, dag
            if len(parts) == 2 and method == "PATCH":
                assert query.get("update_mask") == ["is_paused"], query
                dag["is_paused"] = body["is_paused"]
                return 200, dag
            if parts[2:] == ["dagRuns"] and method == "POST":
                conf = body.get("conf") or {}
                if "logical_date" not in body:
                    return 422, {"detail": [{"type": "missing", "loc": ["body", "logical_date"], "msg": "Field required"}]}
                if self.refuse_conf_key in conf:
                    return 400, {"detail": f"Invalid input for param {self.refuse_conf_key}: not allowed"}
                run_id = f"manual__2026-01-02T03:04:05.{len(self.runs):06d}+00:00"
                self.runs[run_id] = run_json(dag_id, run_id, "queued", conf)
                return 200, self.runs[run_id]
            if parts[2:] == ["dagRuns"] and method == "GET":
                runs = [r for r in self.runs.values() if r["dag_id"] == dag_id][::-1]
                return 200, {"dag_runs": runs[:limit], "total_entries": len(runs)}
            if len(parts) >= 4 and parts[2] == "dagRuns" and parts[3] in self.runs:
                return self._run_api(dag_id, parts[3], parts[4:], query, limit, offset, method=method, body=body)
        return 404, {"detail": "Not Found"}

    def _run_api(
        self, dag_id: str, run_id: str, rest: list[str], query: dict, limit: int, offset: int, *, method: str = "GET",
        body: Any = None,
    ) -> tuple[int, Any]:
        if not rest:
            state, _ = self.frames[min(self._frame, len(self.frames) - 1)]
            self._frame += 1
            self.runs[run_id] = run_json(dag_id, run_id, state, self.runs[run_id]["conf"])
            return 200, self.runs[run_id]
        _, tasks = self.frames[min(max(self._frame - 1, 0), len(self.frames) - 1)]
        if rest == ["taskInstances"]:
            tis = [ti_json(dag_id, run_id, task, state, map_index=index, try_number=tries)
                   for (task, index), (state, tries) in tasks.items()]
            return 200, {"task_instances": tis[offset: offset + limit], "total_entries": len(tis)}
        if len(rest) == 4 and rest[0] == "taskInstances" and rest[2] == "logs":
            return 200, {"content": self.logs.get(rest[1], []), "continuation_token": None}
        if len(rest) == 3 and rest[0] == "taskInstances" and rest[2] == "links":
            links = self.links.get(rest[1], {})
            return 200, {"extra_links": links, "total_entries": len(links)}
        if len(rest) == 4 and rest[0] == "taskInstances" and rest[2] == "xcomEntries":
            if (rest[1], rest[3]) not in self.xcoms:
                return 404, {"detail": f"XCom entry with key: `{rest[3]}` not found"}
            return 200, {
                "key": rest[3], "timestamp": STAMP, "logical_date": STAMP, "run_after": STAMP, "map_index": -1,
                "task_id": rest[1], "dag_id": dag_id, "run_id": run_id, "dag_display_name": dag_id,
                "task_display_name": rest[1], "value": self.xcoms[(rest[1], rest[3])],
            }
        if len(rest) == 4 and rest[0] == "taskInstances" and rest[2] == "state-store":
            return self._state_store(dag_id, run_id, rest[1], rest[3], tasks, method, body)
        return 404, {"detail": "Not Found"}

    def _state_store(self, dag_id: str, run_id: str, task_id: str, key: str, tasks: dict, method: str,
                     body: Any) -> tuple[int, Any]:
        # Like Airflow 3.3: 404 for a task instance the run does not have or a key never set; PUT answers 204.
        if (task_id, -1) not in tasks:
            return 404, {"detail": f"Task instance {dag_id}/{run_id}/{task_id} not found"}
        where = (dag_id, run_id, task_id, key)
        if method == "GET":
            if where not in self.task_state:
                return 404, {"detail": f"Task state store key {key!r} not found"}
            return 200, {"key": key, "value": self.task_state[where], "updated_at": STAMP, "expires_at": None}
        if method == "PUT":
            if not isinstance(body, dict) or set(body) - {"value", "expires_at"} or body.get("value") is None:
                return 422, {"detail": [{"type": "value_error", "loc": ["body", "value"], "msg": "value cannot be null"}]}
            self.task_state[where] = body["value"]
            return 204, None
        return 405, {"detail": "Method Not Allowed"}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAirflow

    def _answer(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        status, payload = self.fake.handle(method, parts.path, parse_qs(parts.query), body, self.headers.get("Authorization"))
        data = b"" if status == 204 else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._answer("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._answer("PATCH")

    def do_PUT(self) -> None:
        self._answer("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._answer("DELETE")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_airflow(tmp_path):
    """A running fake api-server (127.0.0.1, free port) and a passwords file for it: (FakeAirflow, path)."""
    fake = FakeAirflow()
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="fake-airflow", daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"admin": fake.password}))
    try:
        yield fake, passwords
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- AWS in moto's memory ---------------------------------------------------------------------
REGION = "us-east-1"
ENGINE = "aurora-mysql"


@pytest.fixture
def aws_env(monkeypatch):
    """Static moto credentials for boto3's default chain (hooks with aws_conn_id=None use it)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def mocked_aws(aws_env):
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def two_homes(tmp_path, mocked_aws):
    """Two workers' local profiles (LOADSTACK_HOME a and b) on one state bucket and one Secrets Manager in moto."""
    from loadstack.profiles import Profile

    made = tuple(
        Profile(name="local", region="us-east-1", state_bucket="state", home=tmp_path / home, terraform_bin="terraform",
                plugin_mirror=tmp_path)
        for home in ("a", "b")
    )
    made[0].client("s3").create_bucket(Bucket="state")
    return made


@pytest.fixture
def rds(mocked_aws):
    import boto3

    return boto3.client("rds", region_name=REGION)


@pytest.fixture
def elasticache(mocked_aws):
    import boto3

    return boto3.client("elasticache", region_name=REGION)


def make_source_snapshot(rds, snapshot_id: str = "shop-snap", source_cluster: str = "shop-src") -> str:
    """A source Aurora cluster and a manual cluster snapshot of it (what the snapshot DAG makes)."""
    rds.create_db_cluster(
        DBClusterIdentifier=source_cluster,
        Engine=ENGINE,
        MasterUsername="admin",
        MasterUserPassword="not-a-real-password",
    )
    rds.create_db_cluster_snapshot(DBClusterIdentifier=source_cluster, DBClusterSnapshotIdentifier=snapshot_id)
    return snapshot_id


@pytest.fixture
def source_snapshot():
    """`source_snapshot(rds, snapshot_id, source_cluster)` -> snapshot id (see make_source_snapshot)."""
    return make_source_snapshot


@pytest.fixture(scope="session")
def capacity_run():
    """A finished capacity search on a small quiet simulated plant (knee 100 QPS; capacity ~102 QPS at 0.8 x the
    error-ratio limit): its params, state, result and the checkpoints the runner handed over (for the ramp kind's
    mode wiring, checks, report and live view)."""
    plant = PlantConfig(
        organic_qps=0.0, organic_swing_qps=0.0, organic_walk_qps=0.0, noise=0.0, knee_qps=100.0, window_s=2, settle_s=1.0
    )
    params = CapacityParams(
        start_qps=10.0, abort_rules=(AbortRule("error_ratio", 0.05, 2.0), AbortRule("p99_ms", 1000.0, 0.0)),
        precision_ratio=0.05, dwell_s=4.0, confirm_s=6.0, max_qps=400.0, max_staleness_s=15.0, no_data_limit_s=30.0,
    )  # fmt: skip
    clock = FakeClock()
    sim = Simulator(plant, clock)
    search = CapacitySearch(params)
    checkpoints: list[dict] = []
    outcome = run_ramp(search, sim.driver, sim.source, None, clock, checkpoints.append, max_ticks=2000)
    return SimpleNamespace(
        plant=plant, params=params, state=search.state, result=search.result(clock.now()), outcome=outcome,
        checkpoints=checkpoints, clock=clock,
    )  # fmt: skip
