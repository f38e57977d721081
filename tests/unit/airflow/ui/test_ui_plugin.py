"""loadstack.airflow.ui.plugin: what Airflow loads from the plugins folder, the app it mounts, the link to the page."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from airflow._shared.plugins_manager import _load_plugins_from_plugin_directory
from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse, FastAPIAppResponse
from fastapi import FastAPI
from fastapi.testclient import TestClient

from loadstack.airflow.ui.plugin import LazyRampApp, LoadstackRampPlugin, RampPageLink

PLUGINS_FOLDER = Path(__file__).resolve().parents[4] / "plugins"


def test_airflow_finds_the_plugin_in_the_projects_plugins_folder_and_nothing_else():
    plugins, errors = _load_plugins_from_plugin_directory(plugins_folder=str(PLUGINS_FOLDER), ignore_file_syntax="glob")
    assert errors == {}
    assert [(p.name, str(p.source)) for p in plugins] == [("loadstack_ramp", "$PLUGINS_FOLDER/loadstack_ramp_ui.py")]


def test_loading_the_plugin_imports_neither_the_app_nor_airflows_api():
    # Every task loads the plugins folder when it starts: the app's imports cost seconds there.
    probe = ("import sys, loadstack_ramp_ui; "
             "print(sorted(m for m in sys.modules if m.startswith(('fastapi', 'airflow.api_fastapi', 'loadstack.airflow.ui.app'))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(PLUGINS_FOLDER)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_app_is_mounted_at_loadstack_and_the_tab_opens_the_page_of_the_task_instance(auth_manager):
    (app,) = LoadstackRampPlugin.fastapi_apps
    FastAPIAppResponse.model_validate({**app, "app": "x"})  # the shape the api-server's /plugins lists
    assert app["url_prefix"] == "/loadstack" and isinstance(app["app"], LazyRampApp)
    (view,) = LoadstackRampPlugin.external_views
    ExternalViewResponse.model_validate(view)
    assert view["destination"] == "task_instance"
    assert view["href"] == "/loadstack/ramps/{DAG_ID}/{RUN_ID}/{TASK_ID}/page"
    # Mounted as the api-server mounts it: the first request builds the app, whose routes refuse strangers.
    host = FastAPI()
    host.mount(app["url_prefix"], LazyRampApp())
    client = TestClient(host)
    assert client.get("/loadstack/ramps/shop/manual__1/surge.ramp/page").status_code == 401
    assert client.get("/loadstack/ramps/shop/manual__1/surge.ramp/live").status_code == 401
    assert client.get("/loadstack/nothing").status_code == 404


def test_the_extra_link_points_at_the_page():
    key = SimpleNamespace(dag_id="shop", run_id="manual__1+x", task_id="surge.ramp", map_index=-1, try_number=1)
    assert RampPageLink().get_link(None, ti_key=key) == "/loadstack/ramps/shop/manual__1%2Bx/surge.ramp/page"
