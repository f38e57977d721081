"""The stack registry and the TTL reaper through Airflow (dag.test) with real Terraform on the moto server:
a stack run registers its stack, `loadstack ls` lists it, its TTL runs out, the reaper DAG starts its
teardown DAG, and the teardown removes the entry, or leaves it listed as teardown_failed with the reason.

dag.test() runs one DAG run and no scheduler: the teardown run the reaper triggers stays queued, so the
test plays the scheduler and runs the teardown DAG with that run's logical date and conf.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from loadstack.cli import main as cli
from loadstack.spec import load_stack
from loadstack.stack_registry import StackRegistry

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
BUNDLE = "loadstack-test-dags"  # the bundle of the run_dag fixture (tests/conftest.py)


def stack_dags(name: str):
    from loadstack.airflow.render import build_dag, build_teardown_dag

    stack = load_stack(FIXTURES / "it_stacks" / f"{name}.yaml", modules_dir=FIXTURES / "tf_modules")
    return build_dag(stack), build_teardown_dag(stack)


def publish_unpaused(dag) -> None:
    """Write a DAG to the metadata DB, as the dag processor would (and as the run_dag fixture does), and
    unpause it: the reaper starts only teardown DAGs that exist and are not paused."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.models.dag import DagModel
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
        session.flush()
        update_dag_parsing_results_in_db(BUNDLE, None, [LazyDeserializedDAG.from_dag(dag)], {}, None, set(),
                                         session=session)
        session.flush()
        session.get(DagModel, dag.dag_id).is_paused = False


def queued_runs(dag_id: str):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        runs = session.query(DagRun).filter_by(dag_id=dag_id, state="queued").all()
        return [(run.run_id, run.logical_date, dict(run.conf or {})) for run in runs]


def wait_until_expired(entry) -> None:
    """The stack registers before its run's last tasks: on a busy machine its 1 s TTL may not be over yet."""
    time.sleep(max(0.0, (entry.expires_at - datetime.now(UTC)).total_seconds()) + 0.2)


def reap(run_dag, teardown_dag, registry):
    """Run the reaper once the stack has expired; then, as the scheduler would, the one teardown run it
    queued. Returns both runs."""
    from airflow.utils.state import DagRunState

    from loadstack.airflow.render.reaper import build_reaper_dag

    wait_until_expired(registry.get(teardown_dag.dag_id.removesuffix("__teardown")))
    publish_unpaused(teardown_dag)
    reaper_run = run_dag(build_reaper_dag())
    assert reaper_run.state == DagRunState.SUCCESS
    [(run_id, logical_date, conf)] = queued_runs(teardown_dag.dag_id)
    assert run_id == f"reaped__{reaper_run.run_id}"
    return reaper_run, conf, lambda: run_dag(teardown_dag, logical_date=logical_date, run_conf=conf)


def ls(capsys) -> str:
    capsys.readouterr()
    assert cli(["ls"]) == 0
    return capsys.readouterr().out


def test_an_expired_stack_is_reaped_and_forgotten(run_dag, loadstack_env, local_profile, capsys):
    from airflow.utils.state import DagRunState

    dag, teardown = stack_dags("it_reaped")
    registry = StackRegistry(local_profile)
    run = run_dag(dag)
    assert run.state == DagRunState.SUCCESS
    entry = registry.get("it_reaped")
    assert (entry.status, entry.run_id, entry.variant, entry.owner, entry.profile) == (
        "up", run.run_id, "minimal", "sre-test", "local")
    assert (entry.expires_at - entry.created_at).total_seconds() == 1  # the spec's ttl: 1s
    assert entry.teardown_dag == "it_reaped__teardown"
    wait_until_expired(entry)
    listed = [line for line in ls(capsys).splitlines() if line.startswith("it_reaped ")]
    assert len(listed) == 1 and "expired" in listed[0] and listed[0].split()[1:4] == ["local", "minimal", "sre-test"]

    reaper_run, conf, run_teardown = reap(run_dag, teardown, registry)
    entry = registry.get("it_reaped")
    assert entry.status == "tearing_down" and entry.teardown_run == f"reaped__{reaper_run.run_id}"
    assert entry.reason.startswith("expired ") and f"reaped by loadstack_reaper run {reaper_run.run_id}" in entry.reason
    assert conf == {"variant": "minimal", "reason": entry.reason}
    assert "tearing_down: expired" in ls(capsys)

    assert run_teardown().state == DagRunState.SUCCESS
    ssm = local_profile.client("ssm")
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name="/it/reaped/param")
    assert registry.get("it_reaped") is None
    assert "it_reaped" not in ls(capsys)


def test_a_failed_teardown_stays_listed_with_the_reason_and_is_retried(run_dag, loadstack_env, local_profile, capsys):
    from airflow.utils.state import DagRunState

    dag, teardown = stack_dags("it_unreapable")
    registry = StackRegistry(local_profile)
    assert run_dag(dag).state == DagRunState.SUCCESS
    assert registry.get("it_unreapable").status == "up"

    reaper_run, _conf, run_teardown = reap(run_dag, teardown, registry)
    failed_run = run_teardown()
    assert failed_run.state == DagRunState.FAILED
    entry = registry.get("it_unreapable")
    assert entry.status == "teardown_failed"
    assert entry.reason == (f"teardown run {failed_run.run_id} of it_unreapable__teardown failed at keep.destroy "
                            "(see that task's log)")
    assert local_profile.client("ssm").get_parameter(Name="/it/unreapable/param")["Parameter"]["Value"] == "keep-me"
    listed = [line for line in ls(capsys).splitlines() if line.startswith("it_unreapable ")]
    assert len(listed) == 1 and listed[0].endswith(f"teardown_failed: {entry.reason}")

    # The next reaper run tries again, and says it is a retry of a failed teardown.
    retry_run, conf, _ = reap(run_dag, teardown, registry)
    entry = registry.get("it_unreapable")
    assert entry.status == "tearing_down" and entry.teardown_run == f"reaped__{retry_run.run_id}"
    assert f"the last failed: teardown run {failed_run.run_id}" in entry.reason


def test_a_paused_teardown_dag_is_reported_not_waited_for(run_dag, loadstack_env, local_profile):
    """The trigger refuses a paused teardown DAG (a queued run would wait forever); the next reaper run
    records that the teardown never started, and tries again."""
    import dataclasses
    from datetime import UTC, datetime, timedelta

    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    from loadstack.airflow.render import build_teardown_dag
    from loadstack.airflow.render.reaper import build_reaper_dag

    reaped = load_stack(FIXTURES / "it_stacks" / "it_reaped.yaml", modules_dir=FIXTURES / "tf_modules")
    stack = dataclasses.replace(reaped, model=reaped.model.model_copy(update={"name": "it_paused"}))
    teardown = build_teardown_dag(stack)
    publish_unpaused(teardown)
    with create_session() as session:
        session.get(DagModel, teardown.dag_id).is_paused = True
    yesterday = datetime.now(UTC) - timedelta(days=1)
    StackRegistry(local_profile, clock=lambda: yesterday).register(
        stack="it_paused", variant="minimal", run_id="manual__old", owner="sre-test", ttl=timedelta(hours=8),
        teardown_dag=teardown.dag_id)
    registry = StackRegistry(local_profile)

    first = run_dag(build_reaper_dag())
    assert first.state == DagRunState.FAILED  # its tear_down task refused the paused DAG
    assert queued_runs(teardown.dag_id) == []
    assert registry.get("it_paused").status == "tearing_down"

    second = run_dag(build_reaper_dag())
    assert second.state == DagRunState.FAILED
    entry = registry.get("it_paused")
    assert (entry.status, entry.teardown_run, entry.teardown_attempts) == ("tearing_down", f"reaped__{second.run_id}", 2)
    assert (f"attempt 2 of 3, the last failed: teardown run reaped__{first.run_id} of it_paused__teardown never "
            "started (is the DAG missing or paused?)") in entry.reason
