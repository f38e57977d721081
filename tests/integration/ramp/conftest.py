"""What the ramp stacks' integration tests share: the snapshots their data steps restore, and a stack's DAG
whose local services (app pools, organic users, HAProxy, Prometheus, MariaDB, Redis) are stopped by PID after
the test, whatever happened."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadstack.spec import load_stack

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture(scope="module")
def snapshots(local_env):
    from loadstack.profiles import load_profile
    from loadstack.snapshots.build_local import build_mariadb_snapshot, build_redis_snapshot
    from loadstack.snapshots.catalog import load_definitions

    profile = load_profile(local_env)
    definitions = load_definitions(FIXTURES / "snapshots")
    build_mariadb_snapshot(profile, "fx-seeded", definitions["fx-seeded"])
    build_redis_snapshot(profile, "fx-cache-seeded", definitions["fx-cache-seeded"])


@pytest.fixture
def stack_dag(snapshots, loadstack_env, local_profile):
    """`stack_dag(name)`: the DAG of tests/fixtures/it_stacks/<name>.yaml (steps db, cache, app), torn down after."""
    from loadstack.airflow.render import build_dag
    from loadstack.backends import backends_for

    built: list[str] = []

    def build(name: str):
        built.append(name)
        return build_dag(load_stack(FIXTURES / "it_stacks" / f"{name}.yaml", modules_dir=FIXTURES / "tf_modules"))

    yield build
    backends = backends_for(local_profile)
    for name in built:
        backends.app(name, "app").teardown()
        backends.cache(name, "cache").teardown()
        backends.database(name, "db").teardown()
