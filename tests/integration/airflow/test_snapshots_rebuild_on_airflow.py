"""A stack run waits for a fresh snapshot, on a real running Airflow (scheduler, LocalExecutor, dag-processor,
triggerer, api-server): `dag.test()` cannot run the DAG run a task triggers.

Two DAG files: the `loadstack_snapshots` DAG built from a temp snapshots directory holding one tiny redis
snapshot definition, and a one-step stack restoring it (a private redis-server on the local profile). While the
snapshots DAG is paused (new DAGs start paused) a stack run fails at `snapshots-rebuild`, saying to unpause it,
and stands nothing up. Then the snapshot is built once, its definition changes, and a stack run has the snapshots
DAG rebuild it: `snapshots-rebuild` triggers it and waits deferred, the restore takes the rebuilt snapshot, the
run succeeds, and the snapshot's Asset has a new event with the new definition's params_hash.
"""

from __future__ import annotations

import httpx
import pytest

from loadstack.snapshots.catalog import Catalog, load_definitions

pytestmark = pytest.mark.integration

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
from loadstack.airflow.render import build_dag
from loadstack.spec import load_stack

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
    definition.write_text(DEFINITION % 6)
    (stacks / f"{STACK}.yaml").write_text(SPEC)
    airflow = start_airflow({SNAPSHOTS_DAG: SNAPSHOTS_DAG_FILE.format(snapshots=snapshots),
                             STACK: STACK_DAG_FILE.format(spec=stacks / f"{STACK}.yaml")})

    # The snapshots DAG is still paused: a run of it would stay queued, so the stack's run fails at once.
    refused = airflow.trigger(STACK, RUN_CONF)
    assert value(airflow.wait_for_run(STACK, refused, ["success", "failed"], timeout=180).state) == "failed"
    found = states(airflow, STACK, refused)
    assert (found["snapshots-current"], found["snapshots-rebuild"], found["cache.restore"]) == (
        "success", "failed", "upstream_failed")
    log = airflow.log_tail(STACK, refused, "snapshots-rebuild", try_number=1)
    assert "loadstack_snapshots is paused, so a run of it would wait forever: unpause loadstack_snapshots" in log
    with airflow.client() as client:
        assert client.runs(SNAPSHOTS_DAG) == []

    # Built once (this unpauses the snapshots DAG), then its definition changes: the build is out of date.
    built = airflow.trigger(SNAPSHOTS_DAG)
    assert value(airflow.wait_for_run(SNAPSHOTS_DAG, built, ["success", "failed"], timeout=180).state) == "success"
    first_hash = load_definitions(snapshots)[SNAPSHOT].params_hash()
    assert [e["extra"]["params_hash"] for e in asset_events(airflow)] == [first_hash]
    definition.write_text(DEFINITION % 9)
    new_hash = load_definitions(snapshots)[SNAPSHOT].params_hash()
    assert new_hash != first_hash

    run_id = airflow.trigger(STACK, RUN_CONF)
    # It waits for the snapshots DAG's run in the triggerer, holding no worker slot.
    airflow.wait_for_task(STACK, run_id, "snapshots-rebuild", {"deferred"}, timeout=120)
    with airflow.client() as client:
        stale = client.xcom(STACK, run_id, "snapshots-current")
    assert stale["current"] == {} and stale["stale"]["cache"]["snapshot"] == SNAPSHOT
    assert "is out of date" in stale["stale"]["cache"]["reason"]

    run = airflow.wait_for_run(STACK, run_id, ["success", "failed"], timeout=300)
    found = states(airflow, STACK, run_id)
    assert value(run.state) == "success", found
    assert (found["snapshots-rebuild"], found["cache.restore"]) == ("success", "success")
    with airflow.client() as client:
        rebuilt_by = client.xcom(STACK, run_id, "snapshots-rebuild")["rebuilt_by"]
        assert [r.dag_run_id for r in client.runs(SNAPSHOTS_DAG)] == [rebuilt_by, built]
        assert value(client.run(SNAPSHOTS_DAG, rebuilt_by).state) == "success"

    # The rebuild is a new Asset event with the new definition's hash, and the catalog now holds that build.
    events = asset_events(airflow)
    assert [(e["extra"]["params_hash"], e["extra"]["built"]) for e in events] == [(first_hash, True), (new_hash, True)]
    assert (events[-1]["source_dag_id"], events[-1]["source_run_id"]) == (SNAPSHOTS_DAG, rebuilt_by)
    entry = Catalog(local_profile).get(SNAPSHOT)
    assert entry.params_hash == new_hash and entry.row_counts == {"keys": 11}
