"""`down SERVICE` restarts one service and leaves running stacks alone; a bare `down` stops their servers too.

Found on the distributed profile: `distributed.sh down scheduler` (to restart the scheduler mid-ramp) also
stopped every server of the running stack (the app behind HAProxy, its Prometheus, MariaDB, Redis), and the
ramp aborted on a dead metric source. The servers belong to stacks, not to a service.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from loadstack.cache.redis_server import RedisServer
from loadstack.supervisor import free_port

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "distributed.sh"

pytestmark = pytest.mark.integration


def _down(directory: Path, *services: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LOADSTACK_"))}
    env.update({"LOADSTACK_DIST_DIR": str(directory), "LOADSTACK_STOP_TIMEOUT": "5"})
    done = subprocess.run(["bash", str(SCRIPT), "down", *services], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, f"down {' '.join(services)}:\n{done.stdout}\n{done.stderr}"
    return done


def test_stopping_one_service_leaves_a_stacks_servers_running_and_a_full_down_stops_them(tmp_path):
    profile_dir = tmp_path / "distributed"
    # A stack step's server, where a task on the infra worker starts it (the worker's var/data).
    server = RedisServer(profile_dir / "workers" / "infra" / "var" / "data" / "redis" / "shop-cache", free_port())
    server.start()
    try:
        server.wait_ready(30)

        for service in ("scheduler", "worker-infra"):
            done = _down(profile_dir, service)
            assert server.is_running() and server.execute("PING") is True, f"down {service} stopped it:\n{done.stdout}"

        done = _down(profile_dir)
        assert "stopped redis-server in" in done.stdout, done.stdout
        assert not server.is_running()
    finally:
        server.stop()
