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

