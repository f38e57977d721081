"""The Airflow plugin: the ramp app on the api-server, a "Ramp" tab on task instances, a link for the ramp task.

- `fastapi_apps`: the ramp app (loadstack.airflow.ui.app) mounted at /loadstack;
- `external_views`: a "Ramp" tab on every task instance's page (Airflow 3.3 cannot limit a tab to one
  operator; on a task that is not a ramp the page says so), showing the page in the UI's iframe;
- `RampPageLink`: an operator extra link to the same page, for the RampOperator to declare.

Every Airflow process loads plugins (a task, to integrate macros, at every start), and the app needs
Airflow's API security, its ORM and FastAPI: the mounted app is a `LazyRampApp`, which builds the real one
at the api-server's first request, so this module imports nothing heavy.

Airflow finds the plugin through plugins/loadstack_ramp_ui.py (the plugins folder's .airflowignore keeps
the library itself out of its file scan).
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import BaseOperatorLink

from loadstack.airflow.ui.paths import URL_PREFIX, ramp_page_path

RAMP_TAB_ROUTE = "loadstack-ramp"


class LazyRampApp:
    """An ASGI app that builds the ramp app (with the api-server's sources) on its first request."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            # Heavy (Airflow's API security and ORM, FastAPI): only the api-server imports it, when first asked.
            from loadstack.airflow.ui.app import create_app  # noqa: PLC0415
            from loadstack.airflow.ui.sources import AirflowRampSources  # noqa: PLC0415

            self._app = create_app(AirflowRampSources())
        await self._app(scope, receive, send)


class RampPageLink(BaseOperatorLink):
    """'Ramp page' on a ramp task: the live page of that task instance (path relative to the api-server)."""

    name = "Ramp page"

    def get_link(self, operator, *, ti_key) -> str:
        return ramp_page_path(ti_key.dag_id, ti_key.run_id, ti_key.task_id)


class LoadstackRampPlugin(AirflowPlugin):
    name = "loadstack_ramp"
    fastapi_apps = [{"app": LazyRampApp(), "url_prefix": URL_PREFIX, "name": "loadstack ramp"}]
    external_views = [
        {
            "name": "Ramp",
            "href": URL_PREFIX + "/ramps/{DAG_ID}/{RUN_ID}/{TASK_ID}/page",
            "destination": "task_instance",
            "url_route": RAMP_TAB_ROUTE,
        }
    ]
