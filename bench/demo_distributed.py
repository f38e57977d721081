"""The demo stack on the distributed profile (PostgreSQL, Celery, two workers): its wall time next to the single machine's.

`python -m bench demo demo_distributed` measures both in one run: the same measurement as the demo part
(`bench_demo_stack`: the snapshots, the shop stack brought up to date and torn down, then shop from nothing)
against the distributed profile's Airflow, which this part starts (`scripts/distributed.sh up`) when it is not
running, and stops again when it started it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadstack.rest_client.client import ApiSettings

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "distributed.sh"


def _script(action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), action], cwd=ROOT, capture_output=True, text=True, check=False)


def settings() -> ApiSettings:
    """The distributed profile's API as scripts/distributed.sh sets it up (its defaults, or LOADSTACK_DIST_*)."""
    directory = Path(os.environ.get("LOADSTACK_DIST_DIR") or ROOT / "var" / "distributed")
    port = os.environ.get("LOADSTACK_DIST_API_PORT", "8180")
    return ApiSettings.from_environment(base_url=f"http://127.0.0.1:{port}",
                                        password_file=directory / "airflow" / "passwords.json")


def bench_demo_distributed(timeout: float, measure: Callable[[float, ApiSettings], dict[str, Any]]) -> dict[str, Any]:
    started_here = _script("status").returncode != 0
    if started_here:
        up = _script("up")
        if up.returncode != 0:
            raise SystemExit(f"scripts/distributed.sh up failed:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}")
    try:
        return {**measure(timeout, settings()), "started_profile": started_here}
    finally:
        if started_here:
            _script("down")


def table_rows(results: dict[str, Any]) -> list[str]:
    distributed, single = results.get("demo_distributed"), results.get("demo_stack")
    if not distributed:
        return []
    ratio = f", {distributed['wall_s'] / single['wall_s']:.2f} x the single machine's {single['wall_s']} s" \
        if single else ""
    return [
        f"| shop DAG run, wall time on the distributed profile (PostgreSQL, Celery, workers infra + load) "
        f"| **{distributed['wall_s']} s**{ratio} | |",
        f"| the same, wall / critical path | {distributed['wall_over_critical']} | |",
    ]
