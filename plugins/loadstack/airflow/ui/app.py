"""The ramp app: the page, its JSON and the Pause / Resume / Terminate commands, under `/loadstack`.

    GET  /ramps/{dag_id}/{run_id}/{task_id}/page                 the page (HTML, script and style inline)
    GET  /ramps/{dag_id}/{run_id}/{task_id}/live?samples_from=N&decisions_from=M   what the page polls
    POST /ramps/{dag_id}/{run_id}/{task_id}/{pause|resume|terminate}   body {"reason": "..."}

A command writes the same control record `loadstack ramp pause|resume|terminate` writes (the ramp task's
task state store, CONTROL_KEY, numbered by `command_after`), by the logged-in user. Every route depends on
`auth.ramp_user`: reading needs read access to the DAG's task instances, a command needs write access.
A command's body must be JSON: a cross-site HTML form (text/plain or form encoded) cannot send one.
"""

from __future__ import annotations

import html
import json
import time
from importlib import resources
from typing import Annotated, Any, Literal

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from fastapi import Depends, FastAPI, HTTPException, Query, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from loadstack.airflow.ui.auth import ramp_user
from loadstack.airflow.ui.live_view import NotARampTask, RampAddress, live_view, ramp_step
from loadstack.airflow.ui.paths import RAMP_ROUTE, URL_PREFIX
from loadstack.airflow.ui.sources import NoTaskInstance, RampSources
from loadstack.ramp.control import CONTROL_KEY, STATUS_KEY, ControlAction, command_after

# How often the page polls, seconds: a ramp checkpoints every few seconds and after every action.
POLL_S = 2.0
MAX_REASON = 500

Reader = Annotated[BaseUser, Depends(ramp_user("GET"))]
Steerer = Annotated[BaseUser, Depends(ramp_user("PUT"))]


class Command(BaseModel):
    reason: str = Field(default="", max_length=MAX_REASON)


def create_app(sources: RampSources) -> FastAPI:
    app = FastAPI(title="loadstack ramp", docs_url=None, redoc_url=None, openapi_url=None)

    def address(dag_id: str, run_id: str, task_id: str) -> RampAddress:
        try:
            ramp_step(task_id)
        except NotARampTask as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        return RampAddress(dag_id, run_id, task_id)

    def task_state(where: RampAddress) -> str | None:
        try:
            return sources.task_instance_state(where.dag_id, where.run_id, where.task_id)
        except NoTaskInstance as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None

    @app.get(RAMP_ROUTE + "/page", response_class=HTMLResponse)
    def page(dag_id: str, run_id: str, task_id: str, user: Reader) -> HTMLResponse:
        where = RampAddress(dag_id, run_id, task_id)  # a non-ramp task gets the page, which says so
        return HTMLResponse(render_page(where, user_name=user.get_name()), headers={"Cache-Control": "no-store"})

    @app.get(RAMP_ROUTE + "/live")
    def live(
        dag_id: str,
        run_id: str,
        task_id: str,
        user: Reader,
        samples_from: Annotated[int, Query(ge=0)] = 0,
        decisions_from: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        where = address(dag_id, run_id, task_id)
        state = task_state(where)
        location, checkpoint = sources.checkpoint(dag_id, run_id, where.step)
        try:
            return live_view(
                where,
                task_state=state,
                checkpoint_location=location,
                checkpoint=checkpoint,
                control=sources.task_state(dag_id, run_id, task_id, CONTROL_KEY),
                status=sources.task_state(dag_id, run_id, task_id, STATUS_KEY),
                samples_from=samples_from,
                decisions_from=decisions_from,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise HTTPException(
                status.HTTP_500_INTERNAL_SERVER_ERROR,
                f"the ramp checkpoint {location} cannot be read ({type(exc).__name__}: {exc}); was it written by "
                "another loadstack version? Upgrade the api-server's loadstack to the workers' version",
            ) from None

    @app.post(RAMP_ROUTE + "/{action}")
    def command(
        dag_id: str,
        run_id: str,
        task_id: str,
        action: Literal["pause", "resume", "terminate"],
        body: Command,
        user: Steerer,
    ) -> dict[str, Any]:
        where = address(dag_id, run_id, task_id)
        task_state(where)
        chosen: ControlAction = action
        record = command_after(
            sources.task_state(dag_id, run_id, task_id, CONTROL_KEY),
            sources.task_state(dag_id, run_id, task_id, STATUS_KEY),
            chosen,
            at=time.time(),
            by=user.get_name(),
            reason=body.reason.strip() or f"{action} from the Airflow UI",
        )
        sources.set_task_state(dag_id, run_id, task_id, CONTROL_KEY, record.to_json())
        return record.to_json()

    return app


def render_page(where: RampAddress, *, user_name: str) -> str:
    """The page: static HTML with its script and style inline, and this ramp's address as JSON data."""
    static = resources.files("loadstack.airflow.ui") / "static"
    config = {
        "dag_id": where.dag_id,
        "run_id": where.run_id,
        "task_id": where.task_id,
        "user": user_name,
        "base": URL_PREFIX + "/ramps/",
        "poll_s": POLL_S,
    }
    # `</` could close the script element that holds the JSON: escape it.
    config_json = json.dumps(config).replace("</", "<\\/")
    return (
        (static / "ramp.html")
        .read_text()
        .replace("{{TITLE}}", html.escape(f"Ramp {where.task_id} - {where.dag_id}"))
        .replace("{{STYLE}}", (static / "ramp.css").read_text())
        .replace("{{SCRIPT}}", (static / "ramp.js").read_text())
        .replace("{{CONFIG}}", config_json)
    )
