"""AuroraRestoreOperator / AuroraTeardownOperator with the profile's backend mocked: what they ask it, how they
defer, and what they record. Whatever the profile, they call the interface and never branch on it."""

from __future__ import annotations

from unittest import mock

import pytest
from airflow.sdk.exceptions import TaskDeferred

from loadstack.airflow.operators import snapshot_restore
from loadstack.airflow.operators.aurora import AuroraRestoreOperator, AuroraTeardownOperator
from loadstack.airflow.operators.snapshot_restore import RESTORE_TIMEOUT
from loadstack.airflow.triggers.aws import RdsClusterAvailableTrigger
from loadstack.backends import Backends
from loadstack.kinds.aurora_restore import AuroraSize
from loadstack.kinds.placement import AuroraPlacement
from loadstack.restore.database import DatabaseRestore
from loadstack.snapshots.current import SnapshotNotReady
from loadstack.waits import RDS_CLUSTER_AVAILABLE, Ready, Wait, WaitEvent, WaitFailed

OUTPUTS = {"engine": "aurora-mysql", "host": "db.example", "port": 3306, "database": "commerce",
           "username": "loadstack", "secret_id": "arn:secret", "snapshot": "fx-seeded", "snapshot_kind": "seeded"}
WAIT = Wait(kind=RDS_CLUSTER_AVAILABLE, args={"cluster_id": "shop-events-db"}, phase="cluster_available")


@pytest.fixture
def database(monkeypatch, profile, entry):
    """The profile's database restore, mocked; the catalog answers `entry`."""
    restore = mock.create_autospec(DatabaseRestore, instance=True)
    backends = mock.create_autospec(Backends, instance=True)
    backends.database.return_value = restore
    chooser = mock.Mock(return_value=backends)
    monkeypatch.setattr(snapshot_restore, "backends_for", chooser)
    monkeypatch.setattr(snapshot_restore, "current_entry", mock.Mock(return_value=entry))
    restore.chooser = chooser
    return restore


def restore_operator(profile, **overrides) -> AuroraRestoreOperator:
    op = AuroraRestoreOperator(**{
        "task_id": "restore", "stack": "shop", "step": "events_db", "variant": "production", "snapshot": "fx-seeded",
        "snapshots_dir": "/nowhere",
        "sizes": {"minimal": {"instances": 1, "instance_class": "db.t4g.medium"},
                  "production": {"instances": 2, "instance_class": "db.r6g.large"}},
        "placement": {"subnet_group": "db-subnets", "security_group_ids": "${steps.network.outputs.db_sgs}"},
        "output_sources": {"network": "network.apply"},
        **overrides,
    })
    op.__dict__["profile"] = profile
    return op


def test_execute_defers_to_the_cluster_trigger_with_the_restore_timeout(profile, database, entry, recorded,
                                                                         make_context):
    database.restore.return_value = WAIT
    context = make_context({"db_sgs": ["sg-1", "sg-2"]})
    with pytest.raises(TaskDeferred) as deferred:
        restore_operator(profile).execute(context)

    database.chooser.assert_called_once_with(profile)
    database.restore.assert_called_once_with(
        entry, AuroraSize(instances=2, instance_class="db.r6g.large"),
        AuroraPlacement(subnet_group="db-subnets", security_group_ids=["sg-1", "sg-2"]),
    )
    context["ti"].xcom_pull.assert_called_with(task_ids="network.apply")
    trigger = deferred.value.trigger
    assert isinstance(trigger, RdsClusterAvailableTrigger)
    assert (trigger.cluster_id, trigger.resume_at) == ("shop-events-db", "cluster_available")
    assert (trigger.region_name, trigger.endpoint_url, trigger.aws_conn_id) == ("eu-west-1", "http://127.0.0.1:1",
                                                                                 "aws_default")
    assert deferred.value.method_name == "execute_complete" and deferred.value.timeout == RESTORE_TIMEOUT
    assert not deferred.value.kwargs
    recorded["record"].assert_not_called()


def test_execute_records_the_outputs_of_a_restore_done_in_the_task(profile, database, recorded, make_context):
    database.restore.return_value = Ready(OUTPUTS)
    assert restore_operator(profile, placement={}).execute(make_context()) == OUTPUTS
    recorded["record"].assert_called_once_with(profile, "shop", "events_db", OUTPUTS)


def test_a_snapshot_that_is_not_ready_restores_nothing(profile, database, recorded, make_context, monkeypatch):
    monkeypatch.setattr(snapshot_restore, "current_entry", mock.Mock(side_effect=SnapshotNotReady("not built")))
    with pytest.raises(SnapshotNotReady, match="not built"):
        restore_operator(profile).execute(make_context())
    database.restore.assert_not_called()


def test_a_placement_reference_of_the_wrong_type_names_the_field(profile, database, make_context):
    with pytest.raises(ValueError, match=r"steps\.events_db\.placement\.security_group_ids: 'sg-1' is not a list"):
        restore_operator(profile).execute(make_context({"db_sgs": "sg-1"}))
    database.restore.assert_not_called()


def test_an_unknown_variant_is_refused_before_anything_is_restored(profile, database, make_context):
    with pytest.raises(ValueError, match="variant 'huge': choose one of minimal, production"):
        restore_operator(profile, variant="huge").execute(make_context())
    database.restore.assert_not_called()


def test_execute_complete_resumes_the_backend_and_records_its_outputs(profile, database, recorded, make_context):
    database.resume.return_value = Ready(OUTPUTS)
    event = {"status": "success", "cluster_id": "shop-events-db", "resume_at": "cluster_available"}
    assert restore_operator(profile).execute_complete(make_context(), event) == OUTPUTS
    database.resume.assert_called_once_with(
        "fx-seeded", WaitEvent(phase="cluster_available", succeeded=True, values={"cluster_id": "shop-events-db"}))
    recorded["record"].assert_called_once_with(profile, "shop", "events_db", OUTPUTS)


def test_execute_complete_hands_a_failure_to_the_backend_and_records_nothing(profile, database, recorded,
                                                                             make_context):
    database.resume.side_effect = WaitFailed("restoring shop-events-db: stuck")
    event = {"status": "error", "message": "stuck", "cluster_id": "shop-events-db", "resume_at": "cluster_available"}
    with pytest.raises(WaitFailed, match="restoring shop-events-db: stuck"):
        restore_operator(profile).execute_complete(make_context(), event)
    [(snapshot, waited), _] = database.resume.call_args
    assert snapshot == "fx-seeded" and not waited.succeeded and waited.message == "stuck"
    recorded["record"].assert_not_called()


def test_execute_complete_defers_again_when_the_backend_waits_again(profile, database, recorded, make_context):
    database.resume.return_value = WAIT
    with pytest.raises(TaskDeferred) as deferred:
        restore_operator(profile).execute_complete(make_context(), {"status": "success", "resume_at": "x"})
    assert deferred.value.timeout == RESTORE_TIMEOUT and deferred.value.trigger.resume_at == "cluster_available"
    recorded["record"].assert_not_called()


def test_teardown_removes_the_database_then_forgets_the_outputs(profile, database, recorded, make_context):
    database.teardown.return_value = "deleting DB cluster shop-events-db and its instances"
    op = AuroraTeardownOperator(task_id="destroy", stack="shop", step="events_db", variant="minimal")
    op.__dict__["profile"] = profile
    calls = mock.Mock()
    calls.attach_mock(database.teardown, "teardown")
    calls.attach_mock(recorded["forget"], "forget")
    op.execute(make_context())
    database.chooser.return_value.database.assert_called_once_with("shop", "events_db")
    assert [c[0] for c in calls.mock_calls] == ["teardown", "forget"]
    recorded["forget"].assert_called_once_with(profile, "shop", "events_db")
