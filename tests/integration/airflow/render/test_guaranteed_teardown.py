"""A stack DAG's own teardown through Airflow (dag.test) with real Terraform on the moto server.

it_nightly has three steps in a chain; its middle one fails while the name of its SSM parameter is taken by a
parameter Terraform does not manage (the injected fault: PutParameter says ParameterAlreadyExists). A run that tears down (keep_up false, as a scheduled run or a backfill does by default) fails in the
middle and still destroys what it made, dependents first, records where it failed, and gives the stack lock
back. A manual run keeps the stack up; the next tearing-down run converges on it and removes it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from loadstack.cli import main as cli
from loadstack.run_history import RunHistory
from loadstack.spec import load_stack
from loadstack.stack_lock import StackLock
from loadstack.stack_registry import StackRegistry

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
PARAMS = ("/it/nightly/base", "/it/nightly/gated", "/it/nightly/top")
SQUATTED = "/it/nightly/gated"


def task_states(run) -> dict[str, str | None]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter_by(dag_id=run.dag_id, run_id=run.run_id).all()
        return {row.task_id: (str(getattr(row.state, "value", row.state)) if row.state else None) for row in rows}


def existing(ssm) -> list[str]:
    found = ssm.get_parameters(Names=list(PARAMS))["Parameters"]
    return sorted(p["Name"] for p in found)


def squat(ssm) -> None:
    """Take the middle step's parameter name out of band: its apply fails until the squatter goes."""
    ssm.put_parameter(Name=SQUATTED, Value="squatter", Type="String")


@pytest.fixture
def nightly(local_profile):
    from loadstack.airflow.render import build_dag, build_teardown_dag

    stack = load_stack(FIXTURES / "it_stacks" / "it_nightly.yaml", modules_dir=FIXTURES / "tf_modules")
    ssm = local_profile.client("ssm")
    ssm.delete_parameters(Names=list(PARAMS))
    yield build_dag(stack), build_teardown_dag(stack)
    ssm.delete_parameters(Names=list(PARAMS))


def test_a_run_that_fails_in_the_middle_still_tears_down(nightly, run_dag, loadstack_env, local_profile, capsys):
    from airflow.utils.state import DagRunState

    dag, _teardown = nightly
    ssm = local_profile.client("ssm")
    squat(ssm)
    run = run_dag(dag, run_conf={"keep_up": False})
    assert run.state == DagRunState.FAILED
    states = task_states(run)
    assert (states["base.apply"], states["gated.apply"], states["top.apply"]) == (
        "success", "failed", "upstream_failed")
    # The teardown ran although the body failed: every step's destroy, dependents first, then the bookkeeping.
    assert states["teardown-decide"] == "success"
    assert {t: s for t, s in states.items() if t.startswith("stack-teardown.")} == {
        "stack-teardown.top.destroy": "success", "stack-teardown.gated.destroy": "success",
        "stack-teardown.base.destroy": "success"}
    assert (states["registry-tearing-down"], states["registry-remove"]) == ("success", "success")
    assert (states["stack-unlock"], states["run-outcome"]) == ("success", "failed")
    assert existing(ssm) == [SQUATTED]  # base was applied, then destroyed; the squatter is not the stack's
    assert StackRegistry(local_profile).get("it_nightly") is None
    assert StackLock(local_profile, "it_nightly").holder() == (None, None)

    [record] = [r for r in RunHistory(local_profile).list("it_nightly") if r.run_id == run.run_id]
    assert (record.outcome, record.failed_tasks, record.teardown, record.spin_up_s) == (
        "fail", ("gated.apply",), "torn_down", None)
    capsys.readouterr()
    assert cli(["history", "it_nightly"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" in out and "gated.apply" in out and "torn_down" in out
    page = local_profile.client("s3").get_object(Bucket=local_profile.report_bucket,
                                                 Key="reports/it_nightly/index.html")["Body"].read().decode()
    assert run.run_id in page and "gated.apply" in page


def test_a_manual_run_keeps_the_stack_up_and_a_tearing_down_run_converges(
        nightly, run_dag, run_xcoms, loadstack_env, local_profile):
    from airflow.utils.state import DagRunState

    dag, teardown = nightly
    ssm = local_profile.client("ssm")

    kept = run_dag(dag)
    assert kept.state == DagRunState.SUCCESS
    states = task_states(kept)
    assert states["teardown-decide"] == "skipped"
    assert {s for t, s in states.items() if t.startswith("stack-teardown.") or t.startswith("registry-t")} == {"skipped"}
    assert existing(ssm) == list(PARAMS) and StackRegistry(local_profile).get("it_nightly").run_id == kept.run_id
    outcome = run_xcoms(kept)["run-outcome"]
    assert (outcome["outcome"], outcome["teardown"]) == ("pass", "kept_up") and outcome["spin_up_s"] > 0

    # As a nightly run does: the stack is there already, every plan is empty, then it goes.
    nightly_run = run_dag(dag, run_conf={"keep_up": False})
    assert nightly_run.state == DagRunState.SUCCESS
    assert run_xcoms(nightly_run, key="changed") == {"base.apply": False, "gated.apply": False, "top.apply": False}
    assert existing(ssm) == [] and StackRegistry(local_profile).get("it_nightly") is None
    assert run_xcoms(nightly_run)["run-outcome"]["teardown"] == "torn_down"
    # The standalone teardown DAG still works on a stack that is already gone.
    assert run_dag(teardown).state == DagRunState.SUCCESS
