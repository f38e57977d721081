"""A stack run waits for a fresh snapshot, on a real running Airflow (scheduler, LocalExecutor, dag-processor,
triggerer, api-server): `dag.test()` cannot run the DAG run a task triggers.

Two DAG files: the `loadstack_snapshots` DAG built from a temp snapshots directory holding one tiny redis
snapshot definition, and a one-step stack restoring it (a private redis-server on the local profile). The
snapshot is built once, then its definition changes. While the snapshots DAG is paused (new DAGs start paused)
a stack run fails at `snapshots-rebuild`, saying to unpause it, and stands nothing up. Unpaused, a stack run has
it rebuild the snapshot: `snapshots-rebuild` triggers it and waits deferred, the restore takes the rebuilt
snapshot, the run succeeds, and the snapshot's Asset has a new event with the new definition's params_hash.
"""

from __future__ import annotations

import time

import httpx
import pytest

from loadstack.backends import backends_for
from loadstack.snapshots.catalog import Catalog, load_definitions
from loadstack.waits import Ready

pytestmark = [pytest.mark.integration, pytest.mark.long]

STACK, SNAPSHOT, SNAPSHOTS_DAG = "it_rebuilt", "rw-cache", "loadstack_snapshots"
ASSET = f"loadstack-snapshot.{SNAPSHOT}"
DEFINITION = "snapshots:\n  rw-cache: {engine: redis, kind: rdb, seed: {seed: 5, sessions: %d, carts: 2}}\n"
SPEC = ("name: it_rebuilt\ndescription: a cache restored from a snapshot\nowner: sre-test\nretries: 0\n"
        "steps:\n  cache: {kind: redis_restore, snapshot: rw-cache}\n")
SNAPSHOTS_DAG_FILE = '''
from pathlib import Path

from loadstack.airflow.render.snapshots import build_snapshots_dag

dag = build_snapshots_dag(Path("{snapshots}"))
'''
STACK_DAG_FILE = '''
import loadstack.airflow.render.snapshots_current as snapshots_current
from loadstack.airflow.render import build_dag
from loadstack.spec import load_stack

# The test's snapshot builds in seconds: poll its run every 3 s rather than 15 (the rendering tests check the 15).
snapshots_current.REBUILD_POKE_INTERVAL_S = 3
dag = build_dag(load_stack("{spec}"))
'''
# A manual run keeps its stack up by default: this one tears its redis-server down at the end.
RUN_CONF = {"keep_up": False}


def value(enum_or_str) -> str | None:
    return None if enum_or_str is None else str(getattr(enum_or_str, "value", enum_or_str))


def states(airflow, dag_id: str, run_id: str) -> dict[str, str | None]:
    with airflow.client() as client:
        return {ti.task_id: value(ti.state) for ti in client.task_instances(dag_id, run_id)}


def asset_events(airflow) -> list[dict]:
    headers = {"Authorization": f"Bearer {airflow.token()}"}
    assets = httpx.get(f"{airflow.url}/api/v2/assets", params={"name_pattern": ASSET}, headers=headers).json()
    [asset] = [a for a in assets["assets"] if a["name"] == ASSET]
    events = httpx.get(f"{airflow.url}/api/v2/assets/events", params={"asset_id": asset["id"], "order_by": "timestamp"},
                       headers=headers).json()
    return events["asset_events"]


def test_a_stack_run_has_a_changed_snapshot_rebuilt_and_waits_for_it(start_airflow, local_profile, tmp_path):
    snapshots, stacks = tmp_path / "snapshots", tmp_path / "stacks"
    snapshots.mkdir()
    stacks.mkdir()
    definition = snapshots / "rebuilt.yaml"
    (stacks / f"{STACK}.yaml").write_text(SPEC)
    # Built once, here (a snapshots DAG run would cost a scheduling round; tests/integration/snapshots/
    # test_snapshots_dag.py runs that DAG), then the definition changes: the catalogued build is out of date.
    definition.write_text(DEFINITION % 6)
    first_hash = load_definitions(snapshots)[SNAPSHOT].params_hash()
    assert isinstance(backends_for(local_profile).snapshots().build(SNAPSHOT, load_definitions(snapshots)[SNAPSHOT]),
                      Ready)
    definition.write_text(DEFINITION % 9)
    new_hash = load_definitions(snapshots)[SNAPSHOT].params_hash()
    assert new_hash != first_hash == Catalog(local_profile).get(SNAPSHOT).params_hash
    began = time.monotonic()
    airflow = start_airflow({SNAPSHOTS_DAG: SNAPSHOTS_DAG_FILE.format(snapshots=snapshots),
                             STACK: STACK_DAG_FILE.format(spec=stacks / f"{STACK}.yaml")})

    # The snapshots DAG is still paused (new DAGs start so): a run of it would stay queued, so the stack's run
    # fails at once. (A manual run keeps its stack up, and nothing is up: no teardown.)
    refused = airflow.trigger(STACK)
    airflow.wait_for_task(STACK, refused, "snapshots-rebuild", {"failed"}, timeout=120)
    log = airflow.log_tail(STACK, refused, "snapshots-rebuild", try_number=1)
    assert "loadstack_snapshots is paused, so a run of it would wait forever: unpause loadstack_snapshots" in log
    print(f"refused after {time.monotonic() - began:.0f} s")

    with airflow.client() as client:
        assert client.runs(SNAPSHOTS_DAG) == []
        client.unpause(SNAPSHOTS_DAG)
    # Queued until the refused run is done (one run of a stack at a time).
    run_id = airflow.trigger(STACK, RUN_CONF)
    # It waits for the snapshots DAG's run in the triggerer, holding no worker slot.
    airflow.wait_for_task(STACK, run_id, "snapshots-rebuild", {"deferred"}, timeout=120)
    print(f"deferred after {time.monotonic() - began:.0f} s")
    with airflow.client() as client:
        stale = client.xcom(STACK, run_id, "snapshots-current")
    assert stale["current"] == {} and stale["stale"]["cache"]["snapshot"] == SNAPSHOT
    assert "is out of date" in stale["stale"]["cache"]["reason"]

    run = airflow.wait_for_run(STACK, run_id, ["success", "failed"], timeout=300)
    print(f"stack run done after {time.monotonic() - began:.0f} s")
    found = states(airflow, STACK, run_id)
    assert value(run.state) == "success", found
    assert (found["snapshots-rebuild"], found["cache.restore"]) == ("success", "success")
    with airflow.client() as client:
        rebuilt_by = client.xcom(STACK, run_id, "snapshots-rebuild")["rebuilt_by"]
        [snapshot_run] = client.runs(SNAPSHOTS_DAG)
    assert (snapshot_run.dag_run_id, value(snapshot_run.state)) == (rebuilt_by, "success")

    # The rebuild is a new Asset event with the new definition's hash, and the catalog holds that build: the one
    # the restore took (it checks the snapshot is current itself).
    [event] = asset_events(airflow)
    assert (event["extra"]["params_hash"], event["extra"]["built"]) == (new_hash, True)
    assert (event["source_dag_id"], event["source_run_id"]) == (SNAPSHOTS_DAG, rebuilt_by)
    entry = Catalog(local_profile).get(SNAPSHOT)
    assert entry.params_hash == new_hash and entry.row_counts == {"keys": 11}
    found = states(airflow, STACK, refused)
    assert (found["snapshots-current"], found["snapshots-rebuild"], found["cache.restore"]) == (
        "success", "failed", "upstream_failed")
