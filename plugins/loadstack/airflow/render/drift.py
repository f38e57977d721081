"""The drift DAG: nightly, plan every Terraform step of every live stack and report what would change.

find_live → plan (mapped over the live steps, one disposable working copy each) → report. The Param
`reapply` (off by default) applies the saved plan of each drifted step in its plan task.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, Param

from loadstack.airflow.operators.drift import DriftPlanOperator, DriftReportOperator, DriftTargetsOperator
from loadstack.airflow.render.context import START_DATE, queue_args
from loadstack.profiles import load_profile
from loadstack.queues import INFRA

DRIFT_DAG_ID = "loadstack_drift"
NIGHTLY = "0 3 * * *"
# Each plan runs Terraform and its AWS provider (~700 MB together): two at a time at most.
PARALLEL_PLANS = 2


def build_drift_dag(
    stacks_dir: Path, *, modules_dir: Path | None = None, dag_id: str = DRIFT_DAG_ID, schedule: str | None = NIGHTLY
) -> DAG:
    with DAG(
        dag_id=dag_id,
        description="Plan every Terraform step of every live stack; report the resources that drifted",
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["loadstack", "drift"],
        # Plans run Terraform: on the infrastructure queue.
        default_args={"owner": "loadstack", "retries": 1, "retry_delay": timedelta(seconds=20),
                      **queue_args(load_profile(), INFRA)},
        params={
            "reapply": Param(
                False,
                type="boolean",
                title="Re-apply drifted steps",
                description="Apply the saved plan of every drifted step, bringing it back to its spec. "
                "Off: report only.",
            )
        },
        doc_md=(
            "Nightly drift check. For every Terraform step of every live stack (a step whose remote state "
            "holds resources), `terraform plan -detailed-exitcode` in a disposable working copy; the planned "
            "resource changes (not `resource_drift`) make the report, stored in the report bucket under "
            "`drift/<run_id>/`. Trigger with **reapply** on to apply the saved plans of drifted steps."
        ),
    ) as dag:
        find = DriftTargetsOperator(
            task_id="find_live_steps", stacks_dir=str(stacks_dir),
            modules_dir=None if modules_dir is None else str(modules_dir),
        )
        plans = DriftPlanOperator.partial(
            task_id="plan",
            reapply="{{ params.reapply }}",
            # A failed plan is recorded as an error result; a retry would meet the same lock or error.
            retries=0,
            max_active_tis_per_dag=PARALLEL_PLANS,
            execution_timeout=timedelta(minutes=30),
            map_index_template="{{ task.target['stack'] }}/{{ task.target['step'] }}",
        ).expand(target=find.output)
        report = DriftReportOperator(
            task_id="report", targets_task_id=find.task_id, reapply="{{ params.reapply }}",
            # No live step maps no plan task (skipped); a failed plan task still gets its step reported.
            trigger_rule="all_done",
        )
        find >> plans >> report
    return dag
