"""A stack's local servers belong to the worker (LOADSTACK_HOME) that started them, and every other worker says so.

Issue 11: Celery workers each have their own LOADSTACK_HOME. The stack DAG restores its database and
cache under home A; the teardown DAG then runs under home B (`task_profile()` re-reads the environment
for every task). B can neither signal A's PIDs nor see A's datadirs, so its destroy must fail and keep
the step's secret and server record (before the fix it reported "nothing to remove", deleted the
secret and succeeded while A's mariadbd and redis-server kept running). A restore under B is refused
too (it would start a second server and overwrite the secret). The teardown under A then stops both.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from loadstack.cache.redis_server import RedisServer
from loadstack.credentials import get_json_secret
from loadstack.data.mariadb import MariaDBServer
from loadstack.profiles import Profile, load_profile
from loadstack.server_record import ServerRecords
from loadstack.spec import load_stack

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
STACK = "it_data"
SERVERS = (("db", "mariadb"), ("cache", "redis"))


def servers_under(home: Path) -> list[int]:
    """PIDs of mariadbd and redis-server processes whose command line or working directory is under `home`."""
    found = []
    marker = str(home).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            cwd = str((proc / "cwd").resolve()).encode()
        except OSError:
            continue
        program = cmdline.split(b"\0")[0]
        if (b"mariadbd" in program or b"redis-server" in program) and (marker in cmdline or cwd.startswith(marker)):
            found.append(int(proc.name))
    return found


@pytest.fixture
def homes(local_env):
    """Two worker homes, A and B (short paths: a server's unix socket lives under them), and their profiles;
    whatever a failed test left running under either is stopped by its PID file."""
    made = [Path(tempfile.mkdtemp(prefix="lsA")), Path(tempfile.mkdtemp(prefix="lsB"))]
    profiles = [load_profile({**local_env, "LOADSTACK_HOME": str(home)}) for home in made]
    yield profiles
    for profile in profiles:
        for base in profile.data_dir.glob("mariadb/*/"):
            MariaDBServer(base_dir=base).stop()
        for base in profile.data_dir.glob("redis/*/"):
            RedisServer(base).stop()
        from loadstack.appservice.local import stop_deployment

        for base in profile.data_dir.glob("app/*/"):
            stop_deployment(base)
        shutil.rmtree(profile.home, ignore_errors=True)


def secret_ids(profile: Profile) -> dict[str, str]:
    return {step: get_json_secret(profile, f"loadstack/{STACK}/{step}/{engine}")["password"] for step, engine in SERVERS}


def test_a_teardown_on_another_home_fails_and_keeps_what_the_owner_needs(run_dag, loadstack_env, local_profile, homes,
                                                                       monkeypatch, capsys):
    from airflow.utils.state import DagRunState, TaskInstanceState

    from loadstack.airflow.render import build_dag, build_teardown_dag
    from loadstack.snapshots.build_local import build_mariadb_snapshot, build_redis_snapshot
    from loadstack.snapshots.catalog import load_definitions

    home_a, home_b = homes
    definitions = load_definitions(FIXTURES / "snapshots")
    for name in ("fx-seeded", "fx-migrated"):
        build_mariadb_snapshot(local_profile, name, definitions[name])
    build_redis_snapshot(local_profile, "fx-cache", definitions["fx-cache"])
    stack = load_stack(FIXTURES / "it_stacks" / f"{STACK}.yaml", modules_dir=FIXTURES / "tf_modules")

    monkeypatch.setenv("LOADSTACK_HOME", str(home_a.home))
    assert run_dag(build_dag(stack)).state == DagRunState.SUCCESS
    running = servers_under(home_a.home)
    assert len(running) == 2, running  # the step's mariadbd and redis-server
    passwords = secret_ids(home_a)

    monkeypatch.setenv("LOADSTACK_HOME", str(home_b.home))
    capsys.readouterr()
    elsewhere = run_dag(build_teardown_dag(stack))
    assert elsewhere.state == DagRunState.FAILED
    states = {ti.task_id: ti.state for ti in elsewhere.get_task_instances()}
    assert states["db.destroy"] == states["cache.destroy"] == TaskInstanceState.FAILED
    task_log = capsys.readouterr().out  # dag.test() logs the tasks' errors to stdout
    for step, engine in SERVERS:  # failed for the one reason: the server is A's
        assert f"{STACK}/{step}: the {engine} server is owned by LOADSTACK_HOME={home_a.home.resolve()}" in task_log
    assert "refusing to destroy it here. The step's secret and its server record are kept." in task_log
    assert sorted(servers_under(home_a.home)) == sorted(running)  # still running, still A's
    assert secret_ids(home_a) == passwords  # the owner can still log in and stop them
    for step, engine in SERVERS:
        record = ServerRecords(home_a, STACK, step, engine).load()
        assert record is not None and record.owner.home == str(home_a.home)

    # A restore under B would start a second server and overwrite the secret: refused.
    again = run_dag(build_dag(stack))
    assert again.state == DagRunState.FAILED
    states = {ti.task_id: ti.state for ti in again.get_task_instances()}
    assert states["db.restore"] == states["cache.restore"] == TaskInstanceState.FAILED
    assert "refusing to restore it here. No second server was started" in capsys.readouterr().out
    assert servers_under(home_b.home) == [] and not (home_b.data_dir / "mariadb").exists()
    assert secret_ids(home_a) == passwords

    monkeypatch.setenv("LOADSTACK_HOME", str(home_a.home))
    assert run_dag(build_teardown_dag(stack)).state == DagRunState.SUCCESS
    assert servers_under(home_a.home) == []
    for step, engine in SERVERS:
        assert ServerRecords(home_a, STACK, step, engine).load() is None
