"""The loadstack_reaper DAG: its schedule and limits, and one teardown trigger per expired stack."""

from __future__ import annotations


def test_reaper_dag_settings():
    from loadstack.airflow.render.reaper import build_reaper_dag

    dag = build_reaper_dag()
    assert dag.dag_id == "loadstack_reaper"
    assert dag.schedule == "*/15 * * * *"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert "loadstack" in dag.tags
    assert {t.owner for t in dag.tasks} == {"loadstack"}


def test_select_then_one_mapped_trigger_per_stack():
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    from loadstack.airflow.operators.expired_stacks import SelectExpiredStacksOperator
    from loadstack.airflow.render.reaper import build_reaper_dag

    dag = build_reaper_dag()
    select, teardown = dag.get_task("select_expired"), dag.get_task("tear_down")
    assert isinstance(select, SelectExpiredStacksOperator)
    assert teardown.operator_class is TriggerDagRunOperator and teardown.upstream_task_ids == {"select_expired"}
    kwargs = teardown.partial_kwargs
    assert kwargs["fail_when_dag_is_paused"] is True
    assert kwargs["skip_when_already_exists"] is True
    assert kwargs["wait_for_completion"] is False
    assert kwargs["retries"] == 0
    assert teardown.map_index_template == "{{ task.trigger_dag_id }}"
