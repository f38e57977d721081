"""The `loadstack_reaper` DAG: every 15 minutes, tear down every listed stack past its expiry.

One task picks the expired stacks (and says why in its log and in the registry), then one mapped
TriggerDagRunOperator per stack starts that stack's own teardown DAG with the variant it was stood up
with. The teardown DAG records the outcome itself (entry removed, or teardown_failed with the reason),
as it does when a person runs it, so the reaper does not wait for it: a teardown that takes an hour
does not hold up reaping the next stack, and the reaper keeps to one run at a time.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG

from loadstack.airflow.operators.expired_stacks import SelectExpiredStacksOperator
from loadstack.airflow.render.context import START_DATE

REAPER_DAG_ID = "loadstack_reaper"
SELECT_TASK_ID = "select_expired"
TEARDOWN_TASK_ID = "tear_down"
SCHEDULE = "*/15 * * * *"


def build_reaper_dag() -> DAG:
    with DAG(
        dag_id=REAPER_DAG_ID,
        description="Tear down every stack past its TTL (the stack registry, `loadstack ls`)",
        schedule=SCHEDULE,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["loadstack", "registry", "teardown"],
        default_args={"owner": "loadstack", "retries": 1, "retry_delay": timedelta(seconds=30)},
        doc_md="Every 15 minutes: every stack in the registry whose expiry (stand-up time + TTL) has passed is "
        "marked `tearing_down` and its `<stack>__teardown` DAG is triggered with the variant it was stood up "
        "with. A failed teardown is retried on later runs, up to a limit, and stays listed with its reason.",
    ) as dag:
        select = SelectExpiredStacksOperator(task_id=SELECT_TASK_ID, execution_timeout=timedelta(minutes=5))
        TriggerDagRunOperator.partial(
            task_id=TEARDOWN_TASK_ID,
            # A paused teardown DAG would leave the run queued forever: fail instead, and the next
            # reaper run records the stack as teardown_failed.
            fail_when_dag_is_paused=True,
            # The run id comes from the reaper's run: a retry finds its own earlier run and moves on.
            skip_when_already_exists=True,
            wait_for_completion=False,
            # A teardown DAG that is paused or missing stays so for minutes: the next reaper run, 15
            # minutes on, is the retry (and settles the stack as teardown_failed if it never started).
            retries=0,
            map_index_template="{{ task.trigger_dag_id }}",
            execution_timeout=timedelta(minutes=2),
        ).expand_kwargs(select.output)
    return dag
