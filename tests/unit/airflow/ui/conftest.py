"""The ramp app under TestClient: Airflow's simple auth manager signing real JWTs, and fake sources.

The auth manager's two database look-ups (revoked tokens, a DAG's team) are stubbed: the check itself
(token → user → role against the method) is Airflow's own. tests/integration/airflow/ui runs it all
against a real api-server.
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow.api_fastapi import app as airflow_app
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from airflow.models.dag import DagModel
from airflow.models.revoked_token import RevokedToken
from fastapi.testclient import TestClient

from loadstack.airflow.ui.app import create_app
from loadstack.airflow.ui.sources import NoTaskInstance, RampSources
from loadstack.ramp.clock import FakeClock
from loadstack.ramp.control import MemoryControl
from loadstack.ramp.controller import RampController
from loadstack.ramp.params import AbortRule, RampParams
from loadstack.ramp.runner import run_ramp
from loadstack.ramp.simulator import PlantConfig, SimulatedDriver, SimulatedSource, Simulator


class FakeSources(RampSources):
    """Task instances (dag, run, task) -> state, checkpoints by (dag, run, step), task state store values."""

    def __init__(self) -> None:
        self.task_instances: dict[tuple[str, str, str], str | None] = {}
        self.checkpoints: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.store: dict[tuple[str, str, str, str], Any] = {}
        self.writes: list[tuple[str, str, str, str, Any]] = []

    def task_instance_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        if (dag_id, run_id, task_id) not in self.task_instances:
            raise NoTaskInstance(f"no task instance {task_id!r} in run {run_id!r} of DAG {dag_id!r}")
        return self.task_instances[(dag_id, run_id, task_id)]

    def checkpoint(self, dag_id: str, run_id: str, step: str) -> tuple[str, dict[str, Any] | None]:
        return f"s3://state/ramps/{dag_id}/{run_id}/{step}/state.json", self.checkpoints.get((dag_id, run_id, step))

    def task_state(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        return self.store.get((dag_id, run_id, task_id, key))

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, key: str, value: Any) -> None:
        self.store[(dag_id, run_id, task_id, key)] = value
        self.writes.append((dag_id, run_id, task_id, key, value))


@pytest.fixture
def auth_manager(monkeypatch) -> SimpleAuthManager:
    manager = SimpleAuthManager()
    monkeypatch.setattr(airflow_app._AuthManagerState, "instance", manager)
    monkeypatch.setattr(RevokedToken, "is_revoked", classmethod(lambda cls, jti, **_: False))
    monkeypatch.setattr(DagModel, "get_team_name", staticmethod(lambda dag_id, **_: None))
    return manager


@pytest.fixture
def token(auth_manager):
    """`token(name, role)`: a JWT the api-server would have issued (roles: viewer, user, op, admin)."""

    def make(name: str, role: str) -> str:
        return auth_manager.generate_jwt(SimpleAuthManagerUser(username=name, role=role))

    return make


@pytest.fixture
def sources() -> FakeSources:
    return FakeSources()


@pytest.fixture
def client(auth_manager, sources) -> TestClient:
    return TestClient(create_app(sources))


PARAMS = RampParams(
    target_qps=600.0, threshold_qps=40.0, bucket_qps=10.0, bucket_group=10, group_interval_s=10.0,
    bucket_interval_s=4.0, hold_s=30.0, organic_qps=100.0,
    abort_rules=(AbortRule("error_ratio", 0.05, 5.0), AbortRule("p99_ms", 800.0, 0.0)),
)


@pytest.fixture(scope="session")
def finished_checkpoint() -> dict[str, Any]:
    """What the RampOperator checkpoints, for a ramp the simulator took to its end (done), on a fake clock."""
    clock = FakeClock()
    sim = Simulator(
        PlantConfig(seed=3, organic_qps=100.0, organic_swing_qps=0.0, organic_walk_qps=0.0, noise=0.0, window_s=5),
        clock,
    )
    controller = RampController(PARAMS)
    saved: list[dict[str, Any]] = []
    outcome = run_ramp(controller, SimulatedDriver(sim), SimulatedSource(sim), MemoryControl(), clock,
                       saved.append, 1.0, max_ticks=2000)
    assert outcome.succeeded
    return {"stack": "shop", "run_id": "manual__1", "step": "surge", "params": PARAMS.to_json(), "state": saved[-1]}
