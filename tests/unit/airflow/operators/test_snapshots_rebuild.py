"""SnapshotsRebuildOperator against moto's in-process S3 (the catalog) and a stand-in task instance (the task
SDK's answers about the snapshots DAG): skipped when nothing is stale, refuses a paused or missing snapshots DAG
before triggering, waits for a run already going, triggers and waits deferred otherwise, and checks again after."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowRuntimeError,
    AirflowSkipException,
    DagRunTriggerException,
    ErrorType,
    TaskDeferred,
)
from airflow.sdk.execution_time.comms import ErrorResponse

from loadstack.airflow.operators.snapshots_rebuild import ACTIVE_RUN_WAIT, SnapshotsRebuildOperator
from loadstack.airflow.triggers.dag_runs import DagRunsEndedTrigger
from loadstack.data.migrate import schema_hash
from loadstack.profiles import Profile
from loadstack.snapshots.catalog import Catalog, CatalogEntry, load_definitions

SNAPSHOTS = Path(__file__).resolve().parents[3] / "fixtures" / "snapshots"
DAG_ID = "loadstack_snapshots"


@pytest.fixture
def catalog(tmp_path, mocked_aws) -> Catalog:
    profile = Profile(name="aws", region="us-east-1", state_bucket="state", home=tmp_path, terraform_bin="terraform",
                      plugin_mirror=tmp_path, snapshot_bucket="snapshots")
    profile.client("s3").create_bucket(Bucket="snapshots")
    return Catalog(profile)


def built(catalog: Catalog, name: str) -> None:
    definition = load_definitions(SNAPSHOTS)[name]
    catalog.put(CatalogEntry(name=name, engine=definition.engine, kind=definition.kind, profile="aws",
                             location=f"loc-{name}", schema_hash=schema_hash(), params_hash=definition.params_hash(),
                             built_at="2026-11-30T08:00:00+00:00"))


class TaskInstance:
    """What the operator asks the task SDK: the check's XCom, the snapshots DAG, how many of its runs are active."""

    def __init__(self, stale: dict[str, str], *, paused: bool = False, missing: bool = False, active: int = 0):
        self.check_result = {"current": {}, "stale": {step: {"snapshot": name, "reason": "out of date"}
                                                      for step, name in stale.items()}}
        self.paused, self.missing, self.active = paused, missing, active
        self.counted: list[dict] = []

    def xcom_pull(self, task_ids: str):
        assert task_ids == "snapshots-current"
        return self.check_result

    def xcom_push(self, key, value):
        pass

    def get_dag(self, dag_id: str):
        assert dag_id == DAG_ID
        if self.missing:
            raise AirflowRuntimeError(ErrorResponse(error=ErrorType.API_SERVER_ERROR,
                                                    detail={"message": f"The Dag with dag_id: `{dag_id}` was not found"}))
        return SimpleNamespace(is_paused=self.paused)

    def get_dr_count(self, dag_id: str, states: list[str]) -> int:
        self.counted.append({"dag_id": dag_id, "states": states})
        return self.active


def rebuild(catalog: Catalog) -> SnapshotsRebuildOperator:
    op = SnapshotsRebuildOperator(task_id="snapshots-rebuild", stack="shop", trigger_dag_id=DAG_ID,
                                  check_task_id="snapshots-current", snapshots_dir=str(SNAPSHOTS))
    op.__dict__["profile"] = catalog.profile
    return op


def test_nothing_stale_skips_the_task_without_asking_about_the_snapshots_dag(catalog):
    ti = TaskInstance({}, missing=True)
    with pytest.raises(AirflowSkipException, match="every snapshot this run restores is current"):
        rebuild(catalog).execute({"ti": ti})
    assert ti.counted == []


def test_stale_snapshots_trigger_the_snapshots_dag_and_wait_for_its_run_deferred(catalog):
    ti = TaskInstance({"db": "fx-seeded"})
    with pytest.raises(DagRunTriggerException) as triggered:
        rebuild(catalog).execute({"ti": ti})
    run = triggered.value
    assert run.trigger_dag_id == DAG_ID and run.dag_run_id.startswith("manual__")
    assert run.conf == {"rebuild": False}  # reuse what is current, rebuild the rest
    assert (run.wait_for_completion, run.deferrable, run.poke_interval) == (True, True, 15)
    assert [str(s) for s in run.failed_states] == ["failed"] and [str(s) for s in run.allowed_states] == ["success"]
    assert ti.counted == [{"dag_id": DAG_ID, "states": ["queued", "running"]}]


@pytest.mark.parametrize("active", [0, 2])
def test_a_paused_snapshots_dag_fails_the_task_at_once_naming_the_fix(catalog, active):
    ti = TaskInstance({"db": "fx-seeded"}, paused=True, active=active)
    with pytest.raises(AirflowFailException, match=r"shop: loadstack_snapshots is paused, so a run of it would wait "
                                                   r"forever: unpause loadstack_snapshots"):
        rebuild(catalog).execute({"ti": ti})
    assert ti.counted == []  # neither waited for a run nor triggered one


def test_a_missing_snapshots_dag_fails_the_task_at_once(catalog):
    with pytest.raises(AirflowFailException, match=r"loadstack_snapshots is not known to this Airflow .*was not found"
                                                   r".*deploy dags/loadstack_snapshots.py and unpause"):
        rebuild(catalog).execute({"ti": TaskInstance({"db": "fx-seeded"}, missing=True)})


def test_a_run_already_going_is_waited_for_instead_of_starting_a_second(catalog):
    ti = TaskInstance({"db": "fx-seeded"}, active=1)
    with pytest.raises(TaskDeferred) as deferred:
        rebuild(catalog).execute({"ti": ti})
    trigger = deferred.value.trigger
    assert isinstance(trigger, DagRunsEndedTrigger)
    assert trigger.serialize()[1] == {"dag_id": DAG_ID, "states": ["queued", "running"], "poll_interval": 15}
    assert deferred.value.method_name == "after_active_runs" and deferred.value.timeout == ACTIVE_RUN_WAIT


def test_after_the_run_that_was_going_what_is_current_needs_no_run_of_its_own(catalog):
    op, ti = rebuild(catalog), TaskInstance({"db": "fx-seeded", "cache": "fx-cache"})
    built(catalog, "fx-seeded")
    with pytest.raises(DagRunTriggerException) as triggered:  # the cache is still stale
        op.after_active_runs({"ti": ti}, {"status": "ended"})
    assert triggered.value.trigger_dag_id == DAG_ID
    built(catalog, "fx-cache")
    assert op.after_active_runs({"ti": ti}, {"status": "ended"}) == {"rebuilt_by": None}


def event(run_id: str, state: str):
    return ("airflow.providers.standard.triggers.external_task.DagStateTrigger",
            {"dag_id": DAG_ID, "run_ids": [run_id], run_id: state})


def test_a_failed_snapshot_run_fails_the_task(catalog):
    with pytest.raises(AirflowException, match="loadstack_snapshots failed"):
        rebuild(catalog).execute_complete({"ti": TaskInstance({"db": "fx-seeded"})}, event("manual__1", "failed"))


def test_a_succeeded_run_is_checked_again(catalog):
    op, ti = rebuild(catalog), TaskInstance({"db": "fx-seeded"})
    with pytest.raises(AirflowFailException, match=r"(?s)loadstack_snapshots run manual__1 succeeded, but not every "
                                                   r"snapshot is current.*step db: snapshot 'fx-seeded' is not built"):
        op.execute_complete({"ti": ti}, event("manual__1", "success"))
    built(catalog, "fx-seeded")
    assert op.execute_complete({"ti": ti}, event("manual__2", "success")) == {"rebuilt_by": "manual__2"}
