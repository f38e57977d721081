"""The ramp kind rendered: gates -> ramp -> [checks, report] in the step's group, the ramp's time limit and
run Params, JSON-primitive operator arguments, and a DAG with a ramp through Airflow's serialization."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from loadstack.ramp.capacity import CapacityParams
from loadstack.ramp.modes import params_from_json
from loadstack.ramp.params import RampParams
from loadstack.spec import load_stack

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"

STEPS = {
    "db": {"kind": "aurora_restore", "snapshot": "fx-seeded"},
    "cache": {"kind": "redis_restore", "snapshot": "fx-cache"},
    "app": {"kind": "app", "database": "db", "cache": "cache"},
    "surge": {
        "kind": "ramp",
        "target_url": "${steps.app.outputs.url}",
        "gates": [
            {"name": "app_healthy", "kind": "http", "url": "${steps.app.outputs.health_url}"},
            {
                "name": "rows",
                "kind": "sql",
                "database": "db",
                "query": "SELECT COUNT(*) FROM profiles",
                "condition": ">= 20",
            },
            {
                "name": "app_scraped",
                "kind": "prometheus",
                "url": "${steps.app.outputs.prometheus_url}",
                "query": "sum(up)",
                "condition": ">= 1",
            },
        ],
        "metrics": {"url": "${steps.app.outputs.prometheus_url}", "window_s": 4},
        "target_qps": 100,
        "threshold_qps": 10,
        "bucket_qps": 5,
        "abort": [{"metric": "error_ratio", "above": 0.05, "for_s": 8}],
        "checks": ["p99_ms < 800", "in_band_share >= 0.9"],
        "variants": {"production": {"target_qps": 1000, "threshold_qps": 50, "bucket_qps": 20, "hold_s": 1800}},
    },
}


def stack_of(tmp_path: Path, steps: dict = STEPS, name: str = "ramped"):
    (tmp_path / "snapshots").symlink_to(FIXTURES / "snapshots")
    (tmp_path / "stacks").mkdir()
    path = tmp_path / "stacks" / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "description": "d", "owner": "sre", "steps": steps}))
    return load_stack(path, modules_dir=FIXTURES / "modules")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    return stack_of(tmp_path_factory.mktemp("ramp"))


@pytest.fixture(scope="module")
def dag(stack):
    from loadstack.airflow.render import build_dag

    return build_dag(stack)


def group(dag, step: str) -> dict[str, list[str]]:
    return {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks if t.task_id.startswith(f"{step}.")}


def test_gates_come_before_the_ramp_checks_and_report_after_it(dag):
    upstream = sorted(["app.deploy", "db.restore"])  # the step's upstream steps (references and the sql gate)
    assert group(dag, "surge") == {
        "surge.gate_app_healthy": upstream,
        "surge.gate_rows": upstream,
        "surge.gate_app_scraped": upstream,
        "surge.ramp": ["surge.gate_app_healthy", "surge.gate_app_scraped", "surge.gate_rows"],
        "surge.checks": ["surge.ramp"],
        "surge.report": ["surge.ramp"],
    }
    # Both the checks and the report are the step's leaves (only the run's end follows them: the teardown
    # decision, the unlock and the outcome, which fails the run when the checks failed); the report always runs.
    run_end = {"teardown-decide", "stack-unlock", "run-outcome"}
    assert dag.get_task("surge.checks").downstream_task_ids == run_end == dag.get_task("surge.report").downstream_task_ids


def test_the_report_runs_whatever_happened_and_updates_the_steps_asset(dag):
    from airflow.sdk import Asset

    from loadstack.airflow.operators.ramp_report import RampReportOperator, report_asset

    report = dag.get_task("surge.report")
    assert isinstance(report, RampReportOperator) and report.trigger_rule == "all_done"
    assert report.outlets == [report_asset("ramped", "surge")]
    assert report.outlets[0] == Asset(name="loadstack-report.ramped.surge", group="loadstack-reports")
    assert dag.get_task("surge.ramp").trigger_rule == "all_success"
    assert dag.get_task("surge.checks").retries == 0  # a verdict does not change by trying again
    assert (
        report.checks
        == dag.get_task("surge.checks").checks
        == [
            {"metric": "p99_ms", "operator": "<", "value": 800.0, "over": None},
            {"metric": "in_band_share", "operator": ">=", "value": 0.9, "over": None},
        ]
    )


def test_the_gate_sensors_carry_their_gate(dag):
    gate = dag.get_task("surge.gate_rows")
    assert gate.gate["name"] == "rows" and gate.gate["database"] == "db"
    assert gate.output_sources["db"] == "db.restore"


def test_the_ramps_time_limit_is_sized_for_the_longest_variant(dag, stack):
    ramp = dag.get_task("surge.ramp")
    longest = stack.steps["surge"].time_limit_s("production")
    assert longest > 3600  # a 30-minute hold: longer than the step's default timeout_minutes (60)
    assert ramp.execution_timeout == timedelta(seconds=longest)
    # The other tasks keep the step's own time limit.
    assert dag.get_task("surge.report").execution_timeout == timedelta(minutes=60)


def test_a_larger_timeout_minutes_wins_over_the_computed_limit(tmp_path):
    from loadstack.airflow.render import build_dag

    steps = copy.deepcopy(STEPS)
    steps["surge"]["timeout_minutes"] = 600
    assert build_dag(stack_of(tmp_path, steps)).get_task("surge.ramp").execution_timeout == timedelta(minutes=600)


def test_the_run_params_override_target_and_hold(dag):
    from airflow.sdk.exceptions import ParamValidationError

    target, hold = dag.params.get_param("surge_target_qps"), dag.params.get_param("surge_hold_s")
    assert dag.params["surge_target_qps"] is None and dag.params["surge_hold_s"] is None
    assert target.schema["type"] == ["null", "number"] and target.schema["exclusiveMinimum"] == 0
    assert hold.schema["type"] == ["null", "number"] and (hold.schema["minimum"], hold.schema["maximum"]) == (0, 1800)
    hold.resolve(900)  # within bounds
    with pytest.raises(ParamValidationError, match="1801"):
        hold.resolve(1801)
    with pytest.raises(ParamValidationError, match="less than or equal to the minimum of 0"):
        target.resolve(0)
    assert dag.get_task("surge.ramp").overrides == {
        "target_qps": "{{ params.surge_target_qps }}",
        "threshold_qps": "{{ params.surge_threshold_qps }}",
        "bucket_qps": "{{ params.surge_bucket_qps }}",
        "hold_s": "{{ params.surge_hold_s }}",
    }


def test_the_ramp_operator_gets_json_primitives(dag, stack):
    ramp = dag.get_task("surge.ramp")
    for variant in ("minimal", "production"):
        params = ramp.params_by_variant[variant]
        assert json.loads(json.dumps(params)) == params
        assert RampParams.from_json(params) == stack.steps["surge"].params_for(variant)
    assert ramp.target_url == "${steps.app.outputs.url}"  # resolved at run time, from the app's outputs
    assert ramp.metrics == {
        "source": "prometheus",
        "url": "${steps.app.outputs.prometheus_url}",
        "window_s": 4,
        "scrape_interval_s": 1,
        "labels": {},
    }
    assert ramp.load["locustfile"] == "include/locust/shop.py" and ramp.output_sources["app"] == "app.deploy"
    assert ramp.template_fields == ("variant", "overrides")


def test_a_dag_with_a_ramp_serializes_and_keeps_its_link_and_limits(dag):
    from airflow.serialization.serialized_objects import DagSerialization

    data = DagSerialization.to_dict(dag)
    json.dumps(data)
    back = DagSerialization.from_dict(data)
    assert sorted(t for t in back.task_dict if t.startswith("surge.")) == sorted(group(dag, "surge"))
    report = back.get_task("surge.report")
    assert [link.name for link in report.operator_extra_links] == ["Ramp report"]
    assert back.get_task("surge.ramp").execution_timeout == dag.get_task("surge.ramp").execution_timeout
    assert back.params.get_param("surge_hold_s").schema["maximum"] == 1800


def test_a_ramp_has_nothing_to_tear_down(stack):
    from loadstack.airflow.render import build_teardown_dag

    assert not any(t.task_id.startswith("surge.") for t in build_teardown_dag(stack).tasks)


def test_an_approval_task_runs_beside_the_ramp_after_the_gates_and_the_ramp_reads_its_answer(tmp_path):
    from airflow.providers.standard.operators.hitl import ApprovalOperator
    from airflow.serialization.serialized_objects import DagSerialization

    from loadstack.airflow.operators.ramp_approval import RampApprovalOperator
    from loadstack.airflow.render import build_dag

    steps = copy.deepcopy(STEPS)
    steps["surge"]["approval"] = {"before": "stage_3", "timeout_minutes": 15}
    dag = build_dag(stack_of(tmp_path, steps))
    gates = ["surge.gate_app_healthy", "surge.gate_app_scraped", "surge.gate_rows"]
    assert group(dag, "surge")["surge.approve_stage_3"] == gates
    approval, ramp = dag.get_task("surge.approve_stage_3"), dag.get_task("surge.ramp")
    assert isinstance(approval, RampApprovalOperator) and isinstance(approval, ApprovalOperator)
    assert (approval.stack, approval.step, approval.point) == ("ramped", "surge", "stage_3")
    assert approval.response_timeout == timedelta(minutes=15)
    assert approval.subject == "ramped: approve stage 3 of the ramp surge?"
    # The approval waits for the ramp as long as the ramp may take to get there.
    assert approval.reach_timeout_s == ramp.execution_timeout.total_seconds()
    assert ramp.approval_task_id == "surge.approve_stage_3"
    assert "surge.approve_stage_3" not in ramp.upstream_task_ids | ramp.downstream_task_ids
    back = DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dag))))
    assert back.get_task("surge.approve_stage_3").upstream_task_ids == set(gates)


def test_without_approval_the_ramp_asks_nobody(dag):
    assert dag.get_task("surge.ramp").approval_task_id is None
    assert not any("approve" in task_id for task_id in dag.task_dict)


def test_a_capacity_step_renders_its_search_params_max_qps_param_and_time_limit(tmp_path):
    from loadstack.airflow.render import build_dag

    surge = {k: v for k, v in copy.deepcopy(STEPS["surge"]).items() if k not in ("target_qps", "threshold_qps", "variants")}
    surge.update(mode="capacity", capacity={"start_qps": 10, "max_qps": 200}, checks=["capacity_qps > 50"])
    stack = stack_of(tmp_path, {**STEPS, "surge": surge}, name="searched")
    dag = build_dag(stack)
    ramp = dag.get_task("surge.ramp")
    params = params_from_json(ramp.params_by_variant["minimal"])
    assert isinstance(params, CapacityParams) and params == stack.steps["surge"].params_for("minimal")
    assert ramp.overrides == {"max_qps": "{{ params.surge_max_qps }}"} and "surge_max_qps" in dag.params
    assert "surge_target_qps" not in dag.params
    # Sized for the search (growth to 200 QPS, bisection, confirmations), at least the stack's default hour.
    assert 1000 < stack.steps["surge"].time_limit_s("minimal") < 3600 == ramp.execution_timeout.total_seconds()
    assert dag.get_task("surge.checks").checks == [{"metric": "capacity_qps", "operator": ">", "value": 50.0, "over": None}]
    json.dumps(ramp.params_by_variant)  # JSON primitives only
