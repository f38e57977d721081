"""The `ramp` step kind: settings merged with defaults and variants into RampParams, gates and their
edges, the run Params that override target and hold, the time limit, and the parse-time checks.

Bad specs, one class per file with exact lines, are in tests/fixtures/bad_specs/ramp_*.yaml."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from loadstack.kinds.ramp import RampStep
from loadstack.ramp.params import AbortRule, RampParams
from loadstack.spec import SpecError, load_stack

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

DATA_STEPS = {
    "db": {"kind": "aurora_restore", "snapshot": "fx-seeded"},
    "cache": {"kind": "redis_restore", "snapshot": "fx-cache"},
    "app": {"kind": "app", "database": "db", "cache": "cache"},
}
RAMP = {
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
    ],
    "metrics": {"url": "${steps.app.outputs.prometheus_url}"},
    "target_qps": 100,
    "threshold_qps": 10,
    "bucket_qps": 5,
    "abort": [{"metric": "error_ratio", "above": 0.05, "for_s": 8}, {"metric": "p99_ms", "above": 2000}],
    "checks": ["p99_ms < 800", {"metric": "in_band_share", "operator": ">=", "value": 0.9}],
    "variants": {"production": {"target_qps": 1000, "threshold_qps": 50, "bucket_qps": 20, "hold_s": 600}},
}


def write_stack(tmp_path: Path, steps: dict, name: str = "ramped") -> Path:
    # Specs name snapshots defined next to them (stacks/ beside snapshots/).
    (tmp_path / "snapshots").symlink_to(FIXTURES / "snapshots")
    (tmp_path / "stacks").mkdir()
    path = tmp_path / "stacks" / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "description": "d", "owner": "sre", "steps": steps}))
    return path


def ramp_step(**changes) -> RampStep:
    return RampStep.model_validate({**copy.deepcopy(RAMP), **changes})


def test_a_good_ramp_step_validates_and_links_its_gates_and_references(tmp_path):
    stack = load_stack(write_stack(tmp_path, {**DATA_STEPS, "surge": RAMP}), modules_dir=FIXTURES / "modules")
    step = stack.steps["surge"]
    assert isinstance(step, RampStep)
    # target_url and the metrics URL reference the app; the sql gate names its database step.
    assert sorted(stack.graph.upstream("surge")) == ["app", "db"]
    assert [gate.name for gate in step.gates] == ["app_healthy", "rows"]
    assert step.step_links() == [("gates[1].database", "db")]
    assert [check.name for check in step.checks] == ["p99_ms < 800 over hold", "in_band_share >= 0.9 over hold"]


def test_params_merge_defaults_then_the_step_then_the_variant():
    step = ramp_step(hold_s=60, stages=[0.5, 1.0])
    minimal, production = step.params_for("minimal"), step.params_for("production")
    assert minimal == RampParams(
        target_qps=100,
        threshold_qps=10,
        bucket_qps=5,
        stages=(0.5, 1.0),
        hold_s=60,
        abort_rules=(AbortRule("error_ratio", 0.05, 8.0), AbortRule("p99_ms", 2000.0, 0.0)),
    )
    # Defaults the step does not set (bucket_group 5, group interval 30 s, ...) stay the controller's.
    assert (minimal.bucket_group, minimal.group_interval_s, minimal.no_data_limit_s) == (5, 30.0, 90.0)
    # The variant overrides what it names and inherits the rest from the step.
    assert (production.target_qps, production.threshold_qps, production.bucket_qps, production.hold_s) == (
        1000,
        50,
        20,
        600,
    )
    assert production.stages == (0.5, 1.0) and production.abort_rules == minimal.abort_rules


def test_essentials_may_come_from_the_variants_alone():
    step = RampStep.model_validate(
        {
            "kind": "ramp",
            "target_url": "http://127.0.0.1:1",
            "metrics": {"source": "locust"},
            "variants": {
                "minimal": {"target_qps": 10, "threshold_qps": 2, "bucket_qps": 1},
                "production": {"target_qps": 500, "threshold_qps": 20, "bucket_qps": 10},
            },
        }
    )
    assert step.params_for("minimal").target_qps == 10 and step.params_for("production").target_qps == 500


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bucket_qps": None}, "variant minimal: set bucket_qps on the step (or in variants.minimal)"),
        (
            {"variants": {"production": {"threshold_qps": 1000}}},
            "variant production: threshold_qps must be > 0 and below target_qps",
        ),
        ({"stages": [0.9, 0.5]}, "variant minimal: stages must rise and end at 1.0"),
        ({"organic_qps": 100}, "variant minimal: organic_qps must be >= 0 and below target_qps"),
    ],
)
def test_a_variant_that_does_not_hold_together_is_named(changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ramp_step(**changes)


def test_a_bad_field_is_reported_with_its_path(tmp_path):
    surge = {**copy.deepcopy(RAMP), "abort": [{"metric": "p90_ms", "above": 1}], "bucket_group": 0}
    with pytest.raises(SpecError) as caught:
        load_stack(
            write_stack(tmp_path, {**DATA_STEPS, "surge": surge}), modules_dir=FIXTURES / "modules", display="s.yaml"
        )
    lines = caught.value.lines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("s.yaml: steps.surge.abort[0].metric: Input should be 'error_ratio', 'p50_ms', 'p95_ms'")
    assert lines[1].startswith("s.yaml: steps.surge.bucket_group: Input should be greater than or equal to 1")


def test_run_params_are_nullable_numbers_bounded_by_the_longest_hold():
    params = ramp_step().run_params("surge")
    assert sorted(params) == ["surge_hold_s", "surge_target_qps"]
    target, hold = params["surge_target_qps"], params["surge_hold_s"]
    assert target["default"] is None and target["type"] == ["null", "number"] and target["exclusiveMinimum"] == 0
    # The task's time limit is sized for the longest variant's hold: a run may not ask for more.
    assert (
        hold["default"] is None
        and hold["type"] == ["null", "number"]
        and (hold["minimum"], hold["maximum"]) == (0, 600)
    )
    assert "600 s" in hold["description"] and target["title"] == "surge: target QPS"
    assert ramp_step().override_params("surge") == {"target_qps": "surge_target_qps", "hold_s": "surge_hold_s"}


def test_time_limit_covers_jumps_steps_twice_the_hold_and_the_no_data_limit():
    step = ramp_step()
    # minimal: 20 buckets; 18 before the last stage = 4 group jumps + 3 stage starts, then 2 + 4 single steps;
    # each wait is its interval plus the metric lag (30 s).
    expected = 7 * (30 + 30) + 6 * (10 + 30) + 2 * 120 + 90 + 600
    assert step.time_limit_s("minimal") == expected
    assert step.time_limit_s("minimal", metric_lag_s=0) == expected - 13 * 30
    # production: 50 buckets, 45 before the last stage (9 jumps + 3), 5 + 4 steps, a 600 s hold.
    assert step.time_limit_s("production") == 12 * 60 + 9 * 40 + 2 * 600 + 90 + 600


def test_prometheus_needs_a_url_but_locust_counters_do_not(tmp_path):
    surge = {**copy.deepcopy(RAMP), "metrics": {"source": "locust"}}
    stack = load_stack(write_stack(tmp_path, {**DATA_STEPS, "surge": surge}), modules_dir=FIXTURES / "modules")
    assert stack.steps["surge"].metrics.source == "locust"


def test_an_existing_locust_master_needs_no_locustfile(tmp_path):
    surge = {**copy.deepcopy(RAMP), "load": {"locustfile": "no/such/file.py", "master_url": "http://127.0.0.1:8089"}}
    stack = load_stack(write_stack(tmp_path, {**DATA_STEPS, "surge": surge}), modules_dir=FIXTURES / "modules")
    assert stack.steps["surge"].load.master_url == "http://127.0.0.1:8089"


def test_the_locustfile_is_found_in_the_project_whatever_the_spec_folder(tmp_path):
    # The default (include/locust/shop.py) is relative to the project root, not to the spec.
    stack = load_stack(write_stack(tmp_path, {**DATA_STEPS, "surge": RAMP}), modules_dir=FIXTURES / "modules")
    assert stack.steps["surge"].load.locustfile == "include/locust/shop.py"


def test_abort_drain_s_reaches_the_controller_and_the_time_limit():
    gradual, at_once = ramp_step(abort_drain_s=90), ramp_step()
    assert gradual.params_for("minimal").abort_drain_s == 90.0 and at_once.params_for("minimal").abort_drain_s == 0.0
    assert gradual.time_limit_s("minimal") == at_once.time_limit_s("minimal") + 90
