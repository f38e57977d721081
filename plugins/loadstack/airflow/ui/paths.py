"""Where the ramp app lives on the api-server: its mount point and the page of one ramp task instance.

Kept apart from the app so the plugin, which every Airflow process loads, imports nothing heavy.
"""

from __future__ import annotations

from urllib.parse import quote

URL_PREFIX = "/loadstack"
RAMP_ROUTE = "/ramps/{dag_id}/{run_id}/{task_id}"


def ramp_page_path(dag_id: str, run_id: str, task_id: str) -> str:
    """The page's path on the api-server (each part URL-encoded)."""
    parts = (quote(part, safe="") for part in (dag_id, run_id, task_id))
    return f"{URL_PREFIX}/ramps/" + "/".join(parts) + "/page"
