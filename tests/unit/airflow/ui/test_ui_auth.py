"""loadstack.airflow.ui.auth.ramp_user: the one access check of the ramp app, with Airflow's simple auth manager."""

from __future__ import annotations

from typing import Annotated

import pytest
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from loadstack.airflow.ui.auth import ramp_user


@pytest.fixture
def probe(auth_manager) -> TestClient:
    app = FastAPI()

    @app.get("/see/{dag_id}")
    def see(dag_id: str, user: Annotated[BaseUser, Depends(ramp_user("GET"))]) -> dict:
        return {"user": user.get_name(), "dag_id": dag_id}

    @app.post("/steer/{dag_id}")
    def steer(dag_id: str, user: Annotated[BaseUser, Depends(ramp_user("PUT"))]) -> dict:
        return {"user": user.get_name(), "dag_id": dag_id}

    return TestClient(app)


def test_an_anonymous_request_is_refused(probe):
    assert probe.get("/see/shop").status_code == 401
    assert probe.post("/steer/shop").status_code == 401


def test_a_forged_or_expired_token_is_refused(probe, auth_manager):
    assert probe.get("/see/shop", headers={"Authorization": "Bearer not.a.jwt"}).status_code == 403
    expired = auth_manager.generate_jwt(SimpleAuthManagerUser(username="ana", role="admin"), expiration_time_in_seconds=-60)
    assert probe.get("/see/shop", headers={"Authorization": f"Bearer {expired}"}).status_code == 401


@pytest.mark.parametrize(
    ("role", "see", "steer"),
    [("viewer", 200, 403), ("user", 200, 200), ("op", 200, 200), ("admin", 200, 200)],
)
def test_reading_needs_read_access_and_steering_needs_write_access_to_the_dag(probe, token, role, see, steer):
    headers = {"Authorization": f"Bearer {token('ana', role)}"}
    assert probe.get("/see/shop", headers=headers).status_code == see
    answer = probe.post("/steer/shop", headers=headers)
    assert answer.status_code == steer
    if steer == 200:
        assert answer.json() == {"user": "ana", "dag_id": "shop"}


def test_the_ui_login_cookie_is_accepted(probe, token):
    probe.cookies.set("_token", token("vic", "viewer"))
    assert probe.get("/see/shop").json() == {"user": "vic", "dag_id": "shop"}
    assert probe.post("/steer/shop").status_code == 403


def test_the_decision_is_the_auth_managers_for_that_dag(probe, token, auth_manager, monkeypatch):
    asked = []

    def is_authorized_dag(*, method, user, access_entity=None, details=None):
        asked.append((method, access_entity.name, details.id, user.get_name()))
        return details.id == "shop"

    monkeypatch.setattr(auth_manager, "is_authorized_dag", is_authorized_dag)
    headers = {"Authorization": f"Bearer {token('ana', 'admin')}"}
    assert probe.get("/see/shop", headers=headers).status_code == 200
    assert probe.get("/see/payroll", headers=headers).status_code == 403
    assert probe.post("/steer/shop", headers=headers).status_code == 200
    assert asked == [("GET", "TASK_INSTANCE", "shop", "ana"), ("GET", "TASK_INSTANCE", "payroll", "ana"),
                     ("PUT", "TASK_INSTANCE", "shop", "ana")]
