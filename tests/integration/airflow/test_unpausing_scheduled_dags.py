"""Unpausing a scheduled DAG on a real running Airflow (scheduler, dag-processor, api-server): what runs at once.

A DAG with catchup off and a start date runs its latest past tick the moment it is unpaused; with one run at a
time, a run triggered first holds that missed run back until it ends, and then the missed run follows. A nightly
stack must not: `make demo` and `loadstack run` unpause it and trigger one run, and a mid-day unpause must not
stand up a second clone of production. A stack DAG's first run is its next tick
(`loadstack.airflow.render.context.stack_schedule`); `loadstack run` says so when another DAG's unpause does
start a missed run (`loadstack.rest_client.run.catch_up_due`, read from the DAG's next run).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from loadstack.rest_client.run import Narrator, catch_up_due, run_dag

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures"
STACK, PLAIN = "it_unpaused_nightly", "it_plain_nightly"
STACK_DAG_FILE = '''
from pathlib import Path

from loadstack.airflow.render import build_dag
from loadstack.spec import load_stack

dag = build_dag(load_stack("{spec}", modules_dir=Path("{modules}")))
'''
PLAIN_DAG_FILE = '''
from datetime import UTC, datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG("{dag_id}", schedule="{cron}", start_date=datetime(2026, 1, 1, tzinfo=UTC), catchup=False,
         max_active_runs=1):
    EmptyOperator(task_id="night")
'''
# Long enough for several scheduler loops (a run due at unpause is created at the first one, within seconds).
SCHEDULER_LOOPS_S = 20


def _daily_cron_at(when: datetime) -> str:
    return f"{when.minute} {when.hour} * * *"


@pytest.fixture(scope="module")
def airflow(start_airflow, tmp_path_factory):
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    chain = yaml.safe_load((FIXTURES / "it_stacks" / "it_nightly.yaml").read_text())
    chain.update(name=STACK, schedule=_daily_cron_at(an_hour_ago))
    spec_path = tmp_path_factory.mktemp("spec") / f"{STACK}.yaml"
    spec_path.write_text(yaml.safe_dump(chain))
    return start_airflow({
        STACK: STACK_DAG_FILE.format(spec=spec_path, modules=FIXTURES / "tf_modules"),
        PLAIN: PLAIN_DAG_FILE.format(dag_id=PLAIN, cron=_daily_cron_at(an_hour_ago)),
    })


def _text(value) -> str:
    return str(getattr(value, "value", value))


def _runs(airflow, dag_id: str) -> list[tuple[str, str]]:
    with airflow.client() as client:
        return sorted((_text(run.run_type), _text(run.state)) for run in client.runs(dag_id))


def test_a_nightly_stack_unpaused_after_its_night_starts_nothing_until_the_next_one(airflow):
    with airflow.client() as client:
        dag = client.dag(STACK)
        assert dag.is_paused, "the project's airflow.cfg pauses new DAGs"
        assert catch_up_due(dag) is None
        assert dag.next_dagrun_run_after - datetime.now(UTC) > timedelta(hours=22), "tomorrow's tick, not today's"
        client.unpause(STACK)
    time.sleep(SCHEDULER_LOOPS_S)
    assert _runs(airflow, STACK) == []


def test_run_dag_says_when_an_unpause_starts_a_missed_run_as_well(airflow, tmp_path):
    """Airflow's own catch-up, on a DAG not rendered by loadstack: read from the DAG, said, and true."""
    out, err = (tmp_path / "out").open("w+"), (tmp_path / "err").open("w+")
    with airflow.client() as client:
        due = catch_up_due(client.dag(PLAIN))
        outcome = run_dag(client, PLAIN, {}, timeout=120, parse_timeout=60, poll=0.5, narrator=Narrator(out, err))
    assert outcome.succeeded
    out.seek(0)
    assert f"also starts its run due at {due:%Y-%m-%d %H:%M} UTC (catchup off)" in out.read()
    deadline = time.monotonic() + SCHEDULER_LOOPS_S
    while _runs(airflow, PLAIN) != [("manual", "success"), ("scheduled", "success")] and time.monotonic() < deadline:
        time.sleep(1)
    assert _runs(airflow, PLAIN) == [("manual", "success"), ("scheduled", "success")]
