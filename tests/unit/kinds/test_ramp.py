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
from loadstack.ramp.capacity import CapacityParams
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
    assert list(params) == ["surge_target_qps", "surge_threshold_qps", "surge_bucket_qps", "surge_hold_s"]
    target, hold = params["surge_target_qps"], params["surge_hold_s"]
    assert all(p["default"] is None and p["type"] == ["null", "number"] for p in params.values())
    assert target["exclusiveMinimum"] == 0 and params["surge_threshold_qps"]["exclusiveMinimum"] == 0
    # The task's time limit is sized for the longest variant's hold: a run may not ask for more.
    assert (hold["minimum"], hold["maximum"]) == (0, 600)
    assert "600 s" in hold["description"] and target["title"] == "surge: target QPS"
    # Nor for buckets finer than the variants': more of them take longer.
    bucket = params["surge_bucket_qps"]
    assert bucket["minimum"] == 5 and "maximum" not in bucket
    # Each says what empty means for each variant.
    assert "minimal 100, production 1000" in target["description"]
    assert "minimal 10, production 50" in params["surge_threshold_qps"]["description"]
    assert "minimal 5, production 20" in bucket["description"]
    assert ramp_step().override_params("surge") == {
        "target_qps": "surge_target_qps", "threshold_qps": "surge_threshold_qps", "bucket_qps": "surge_bucket_qps",
        "hold_s": "surge_hold_s",
    }


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


# --- live traffic shifts and the CloudWatch source -------------------------------------------------
LIVE_APP = {**DATA_STEPS["app"], "live": {"production_instances": 2, "organic_qps": 60}}
HAPROXY_SHIFT = {
    "driver": "haproxy_shift",
    "live_qps": "${steps.app.outputs.live_qps}",
    "admin_socket": "${steps.app.outputs.admin_socket}",
    "production_servers": "${steps.app.outputs.production_servers}",
    "stack_servers": "${steps.app.outputs.stack_servers}",
}
STACK_POOL = {"url": "${steps.app.outputs.prometheus_url}", "labels": {"pool": "stack"}}
ALB_SHIFT = {
    "driver": "alb_shift",
    "live_qps": 2000,
    "listener_arn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2",
    "production_target_group_arn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/prod/73e2d6bc24d8a067",
    "stack_target_group_arn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/stack/83e2d6bc24d8a067",
}
CLOUDWATCH = {
    "source": "cloudwatch",
    "load_balancer": "app/shop/50dc6c495c0c9188",
    "target_group": "targetgroup/stack/83e2d6bc24d8a067",
    "period_s": 60,
    "publish_lag_s": 120,
}


def spec_lines(tmp_path: Path, surge: dict, app: dict | None = None) -> list[str]:
    """The SpecError lines of a stack with this ramp step (and app step), or [] when it validates."""
    steps = {**DATA_STEPS, "app": app or LIVE_APP, "surge": surge}
    tmp_path.mkdir(parents=True, exist_ok=True)
    try:
        load_stack(write_stack(tmp_path, steps), modules_dir=FIXTURES / "modules", display="s.yaml")
    except SpecError as error:
        return error.lines()
    return []


def shift(**changes) -> dict:
    return {**copy.deepcopy(RAMP), "load": dict(HAPROXY_SHIFT), "metrics": dict(STACK_POOL), **changes}


def test_a_haproxy_shift_on_the_apps_live_pools_validates_and_gets_only_its_own_settings(tmp_path):
    assert spec_lines(tmp_path, shift()) == []
    step = ramp_step(load=HAPROXY_SHIFT, metrics=STACK_POOL)
    assert step.load.settings() == {**HAPROXY_SHIFT, "backend": "app"}
    assert step.metrics.settings() == {
        "source": "prometheus", "url": "${steps.app.outputs.prometheus_url}", "window_s": 5, "scrape_interval_s": 1,
        "labels": {"pool": "stack"},
    }
    # A weight change reaches traffic within HAProxy's settle time: each of the 13 waits gets it on top of the lag.
    assert step.time_limit_s("minimal") == ramp_step().time_limit_s("minimal") + 13 * 0.5


def test_settings_of_another_driver_or_source_are_named_with_the_one_they_belong_to(tmp_path):
    surge = shift(
        load={**HAPROXY_SHIFT, "workers": 2, "listener_arn": ALB_SHIFT["listener_arn"]},
        metrics={**STACK_POOL, "period_s": 60},
    )
    assert spec_lines(tmp_path, surge) == [
        ("s.yaml: steps.surge.load.listener_arn: is a setting of load.driver alb_shift, not of haproxy_shift: "
        "remove it, or set load.driver: alb_shift"),
        ("s.yaml: steps.surge.load.workers: is a setting of load.driver locust, not of haproxy_shift: "
        "remove it, or set load.driver: locust"),
        ("s.yaml: steps.surge.metrics.period_s: is a setting of metrics.source cloudwatch, not of prometheus: "
        "remove it, or set metrics.source: cloudwatch"),
    ]


def test_a_shift_names_every_setting_it_misses_with_an_example(tmp_path):
    assert spec_lines(tmp_path, shift(load={"driver": "haproxy_shift"})) == [
        ("s.yaml: steps.surge.load.admin_socket: load.driver haproxy_shift needs admin_socket: give e.g. "
        "${steps.app.outputs.admin_socket}"),
        ("s.yaml: steps.surge.load.live_qps: load.driver haproxy_shift needs live_qps: give e.g. "
        "${steps.app.outputs.live_qps} (an app step with live:) or the live requests per second it receives"),
        ("s.yaml: steps.surge.load.production_servers: load.driver haproxy_shift needs production_servers: give e.g. "
        "${steps.app.outputs.production_servers} (an app step with live:)"),
        ("s.yaml: steps.surge.load.stack_servers: load.driver haproxy_shift needs stack_servers: give e.g. "
        "${steps.app.outputs.stack_servers} (an app step with live:)"),
    ]
    lines = spec_lines(tmp_path / "r53", shift(load={"driver": "route53_shift", "live_qps": 500, "record_type": "MX"}, variants={}))
    assert [line.split(":")[1].strip() for line in lines] == [
        "steps.surge.load.hosted_zone_id",
        "steps.surge.load.production_set_identifier",
        "steps.surge.load.record_name",
        "steps.surge.load.record_type",
        "steps.surge.load.stack_set_identifier",
    ]
    assert "'MX' is not a record type a shift moves: use one of A, AAAA, CNAME" in lines[3]


@pytest.mark.parametrize(
    ("load", "line"),
    [
        ({"live_qps": "sixty"}, "load.live_qps: 'sixty' is neither a number nor one reference"),
        ({"live_qps": -5}, "load.live_qps: -5 is not a rate"),
        ({"stack_servers": "shop-app-0"}, "load.stack_servers: 'shop-app-0' is neither a list of HAProxy server names"),
        (
            {"production_servers": ["a", "b"], "stack_servers": ["b", "c"]},
            "load.stack_servers: b also in production_servers: a server belongs to one pool",
        ),
        ({"admin_socket": "lb/admin.sock"}, "load.admin_socket: 'lb/admin.sock' is not an absolute path"),
    ],
)
def test_bad_haproxy_shift_settings_are_named(tmp_path, load, line):
    lines = spec_lines(tmp_path, shift(load={**HAPROXY_SHIFT, **load}))
    assert len(lines) == 1 and lines[0].startswith(f"s.yaml: steps.surge.{line}"), lines


def test_prometheus_must_count_only_the_stacks_pool_during_a_haproxy_shift(tmp_path):
    assert spec_lines(tmp_path, shift(metrics={"url": "${steps.app.outputs.prometheus_url}"})) == [
        ("s.yaml: steps.surge.metrics.labels: with load.driver haproxy_shift Prometheus would count production's "
        "traffic as the stack's: add labels: {pool: stack} (the app's live: deployment labels its processes by pool)")
    ]
    lines = spec_lines(tmp_path / "bad", shift(metrics={**STACK_POOL, "labels": {"2pool": "stack"}}))
    assert lines == [
        ("s.yaml: steps.surge.metrics.labels.2pool: is not a Prometheus label name: letters, digits and _, "
        "not starting with a digit or __")
    ]
    lines = spec_lines(tmp_path / "newline", shift(metrics={**STACK_POOL, "labels": {"pool\n": "stack"}}))
    assert lines == [
        ("s.yaml: steps.surge.metrics.labels.pool\\n: is not a Prometheus label name: letters, digits and _, "
        "not starting with a digit or __")
    ]


def test_locust_counters_cannot_measure_a_shift(tmp_path):
    assert spec_lines(tmp_path, shift(metrics={"source": "locust"})) == [
        ("s.yaml: steps.surge.metrics.source: locust reads the ramp's own Locust counters, and load.driver "
        "haproxy_shift starts no Locust: use prometheus (the stack's pool) or cloudwatch")
    ]


def test_a_target_the_live_traffic_cannot_give_is_named_per_variant(tmp_path):
    # 60 live QPS over HAProxy's 256: at most 60 x 255/256 = 59.77 QPS can move; production asks 1000.
    lines = spec_lines(tmp_path, shift(load={**HAPROXY_SHIFT, "live_qps": 60}, target_qps=50))
    assert lines == [
        ("s.yaml: steps.surge.variants.production.target_qps: 1000 is not below what the live traffic can give: "
        "60 live QPS x 255/256 (production keeps 1 unit of weight) = 59.77 QPS; lower target_qps or send more "
        "live traffic (load.live_qps)")
    ]
    lines = spec_lines(tmp_path / "tiny", shift(load={**HAPROXY_SHIFT, "live_qps": 2000}, variants={}, bucket_qps=5))
    assert lines == [
        ("s.yaml: steps.surge.bucket_qps: 5 moves less than one unit of weight (7.812 QPS: 2000 live QPS over 256); "
        "raise bucket_qps to at least 7.812")
    ]


def test_an_alb_shift_read_from_cloudwatch_validates_and_waits_for_its_lag(tmp_path):
    surge = {**copy.deepcopy(RAMP), "load": ALB_SHIFT, "metrics": CLOUDWATCH, "max_staleness_s": 240}
    assert spec_lines(tmp_path, surge) == []
    step = RampStep.model_validate(surge)
    assert step.metrics.lag_s() == 240 and step.load.settle_estimate_s() == 10
    assert step.time_limit_s("minimal") == step.time_limit_s("minimal", metric_lag_s=250)


def test_a_staleness_limit_below_the_cloudwatch_lag_is_named_with_the_fix(tmp_path):
    surge = {
        **copy.deepcopy(RAMP), "load": ALB_SHIFT, "metrics": {**CLOUDWATCH, "period_s": 10, "publish_lag_s": 30},
        "max_staleness_s": 60,
    }
    surge["variants"]["production"]["max_staleness_s"] = 20
    assert spec_lines(tmp_path, surge) == [
        ("s.yaml: steps.surge.variants.production.max_staleness_s: 20 s is below the lag of its metrics: the "
        "cloudwatch source's samples are up to 50 s old (2 periods of 10 s + publish_lag_s 30 s), so every sample "
        "would be too old and the ramp would never move; set max_staleness_s to at least 50")
    ]


def test_bad_cloudwatch_settings_are_named(tmp_path):
    metrics = {"source": "cloudwatch", "load_balancer": "net/shop/50dc6c495c0c9188", "period_s": 45}
    lines = spec_lines(tmp_path, {**copy.deepcopy(RAMP), "load": ALB_SHIFT, "metrics": metrics, "max_staleness_s": 3600})
    assert [line.split(": ", 2)[1] for line in lines] == [
        "steps.surge.metrics.load_balancer", "steps.surge.metrics.period_s", "steps.surge.metrics.target_group",
    ]
    assert "is a Network or Gateway Load Balancer" in lines[0] and "use 60 or a multiple of 60" in lines[1]
    assert "give the stack's target group (load.stack_target_group_arn)" in lines[2]
    lines = spec_lines(tmp_path / "none", {**copy.deepcopy(RAMP), "metrics": {"source": "cloudwatch"}, "max_staleness_s": 3600})
    assert lines == [
        ("s.yaml: steps.surge.metrics.load_balancer: the cloudwatch source needs the ALB's ARN (or its arn_suffix), "
        "e.g. ${steps.lb.outputs.arn}")
    ]


def test_an_alb_shift_between_one_target_group_is_refused(tmp_path):
    load = {**ALB_SHIFT, "stack_target_group_arn": ALB_SHIFT["production_target_group_arn"], "listener_arn": "listener"}
    lines = spec_lines(tmp_path, {**copy.deepcopy(RAMP), "load": load, "metrics": CLOUDWATCH, "max_staleness_s": 240})
    assert lines == [
        ("s.yaml: steps.surge.load.listener_arn: 'listener' is not an ARN: give the listener's ARN, "
        "arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/NAME/ID/ID"),
        ("s.yaml: steps.surge.load.stack_target_group_arn: is production's target group too: give the stack's own "
        "target group"),
    ]


# --- approval ------------------------------------------------------------------------------------------
def test_an_approval_point_reaches_the_controller_and_its_timeout_the_time_limit():
    approved = ramp_step(approval={"before": "stage_3", "timeout_minutes": 20})
    params = approved.params_for("production")
    assert (params.approve_before, params.approval_timeout_s) == ("stage_3", 1200.0)
    assert approved.time_limit_s("minimal") == ramp_step().time_limit_s("minimal") + 1200
    assert ramp_step().params_for("minimal").approve_before is None
    assert ramp_step(approval={"before": "hold"}).params_for("minimal").approval_timeout_s == 3600.0


@pytest.mark.parametrize(
    ("approval", "line"),
    [
        ({"before": "stage_4"}, "s.yaml: steps.surge.approval.before: 'stage_4': this ramp has stages 1..3"),
        ({"before": "stage_1"}, "s.yaml: steps.surge.approval.before: 'stage_1': this ramp has stages 1..3"),
        ({"before": "the hold"}, "s.yaml: steps.surge.approval.before: 'the hold' is neither 'hold' nor 'stage_N'"),
        ({"before": "hold", "timeout_minutes": 0}, "s.yaml: steps.surge.approval.timeout_minutes:"),
        ({"before": "hold", "users": ["ana"]}, "s.yaml: steps.surge.approval.users:"),
    ],
)
def test_a_bad_approval_is_named_with_its_path_and_fix(tmp_path, approval, line):
    lines = spec_lines(tmp_path, {**copy.deepcopy(RAMP), "approval": approval}, app=DATA_STEPS["app"])
    assert len(lines) == 1 and lines[0].startswith(line), lines


# --- mode: capacity ---------------------------------------------------------------------------------
CAPACITY = {
    "kind": "ramp",
    "mode": "capacity",
    "target_url": "${steps.app.outputs.url}",
    "metrics": {"url": "${steps.app.outputs.prometheus_url}"},
    "bucket_qps": 2,
    "abort": [{"metric": "error_ratio", "above": 0.05, "for_s": 8}, {"metric": "p99_ms", "above": 2000}],
    "capacity": {"start_qps": 20, "max_qps": 400, "confirm_s": 30},
    "checks": ["capacity_qps >= 50", "precision_qps < 20"],
    "variants": {"production": {"bucket_qps": 10, "capacity": {"start_qps": 100, "max_qps": 4000}}},
}


def capacity_step(**changes) -> RampStep:
    return RampStep.model_validate({**copy.deepcopy(CAPACITY), **changes})


def capacity_lines(tmp_path: Path, **changes) -> list[str]:
    surge = {**copy.deepcopy(CAPACITY), **changes}
    with pytest.raises(SpecError) as caught:
        load_stack(write_stack(tmp_path, {**DATA_STEPS, "surge": surge}), modules_dir=FIXTURES / "modules", display="s.yaml")
    return caught.value.lines()


def test_a_capacity_step_needs_no_target_and_merges_its_search_settings_per_variant(tmp_path):
    stack = load_stack(write_stack(tmp_path, {**DATA_STEPS, "surge": CAPACITY}), modules_dir=FIXTURES / "modules")
    step = stack.steps["surge"]
    assert isinstance(step, RampStep) and step.mode == "capacity" and step.target_qps is None
    minimal, production = step.params_for("minimal"), step.params_for("production")
    rules = (AbortRule("error_ratio", 0.05, 8.0), AbortRule("p99_ms", 2000.0, 0.0))
    assert minimal == CapacityParams(
        start_qps=20, abort_rules=rules, bucket_qps=2, max_qps=400, confirm_s=30, max_staleness_s=30.0,
        no_data_limit_s=90.0, max_duration_s=3600.0,
    )  # fmt: skip
    # The variant overrides what it names, inherits the rest of the step's capacity: block and the defaults.
    assert (production.start_qps, production.max_qps, production.bucket_qps, production.confirm_s) == (100, 4000, 10, 30)
    assert (production.growth, production.trip_fraction, production.precision_ratio) == (2.0, 0.8, 0.01)
    assert step.override_params("surge") == {"max_qps": "surge_max_qps"}
    assert list(step.run_params("surge")) == ["surge_max_qps"]
    max_qps = step.run_params("surge")["surge_max_qps"]
    assert max_qps["type"] == ["null", "number"] and max_qps["maximum"] == 4000 and "At most 4000" in max_qps["description"]
    assert "maximum" not in capacity_step(capacity={"start_qps": 20}).run_params("surge")["surge_max_qps"]


def test_an_absolute_precision_alone_drops_the_relative_default():
    step = capacity_step(capacity={"start_qps": 20, "precision_qps": 5})
    params = step.params_for("minimal")
    assert (params.precision_qps, params.precision_ratio) == (5, None)
    both = capacity_step(capacity={"precision_qps": 5, "precision_ratio": 0.02}).params_for("minimal")
    assert (both.precision_qps, both.precision_ratio) == (5, 0.02)


def test_the_time_limit_of_a_search_is_bounded_by_its_levels_or_its_max_duration():
    step = capacity_step()
    p = step.params_for("minimal")
    # 20 -> 400: 6 growth levels (20, 40, ..., 640 capped at 400); bisection from 400 QPS to 1 % of 20 (a bucket,
    # 2 QPS): log2(200) -> 8, + 2; each level: lag 30 + dwell 10 + 5 ticks; 3 confirmations of 30 s + lag + 5.
    level_s = 30 + 10 + 5
    expected = (6 + 10) * level_s + 3 * (30 + 30 + 5) + 90 + 600
    assert step.time_limit_s("minimal") == expected and p.judged_span_s == 10
    unbounded = capacity_step(capacity={"start_qps": 20, "max_duration_s": 900})
    assert unbounded.time_limit_s("minimal") == 900 + 90 + 600


def test_capacity_mode_names_each_setting_of_the_hold_mode_and_the_checks_that_do_not_apply(tmp_path):
    lines = capacity_lines(
        tmp_path, target_qps=100, hold_s=60, checks=["p99_ms < 800", "capacity_qps > 10"],
        variants={"production": {"threshold_qps": 5}},
    )  # fmt: skip
    hold = "is a setting of mode: hold (a target held in band), not of mode: capacity: remove it (the search's settings go under capacity:)"
    assert lines == [
        "s.yaml: steps.surge.checks[0]: 'p99_ms < 800 over hold' measures a ramp's hold or its way to the band, and a "
        "capacity search has neither: check what it found instead, one of capacity_qps, precision_qps, search_s, "
        "knee_qps (e.g. 'capacity_qps >= 100')",
        f"s.yaml: steps.surge.hold_s: {hold}",
        f"s.yaml: steps.surge.target_qps: {hold}",
        f"s.yaml: steps.surge.variants.production.threshold_qps: {hold}",
    ]


def test_capacity_mode_needs_an_abort_rule_and_settings_that_hold_together(tmp_path):
    lines = capacity_lines(
        tmp_path, abort=[], capacity={"start_qps": 1, "max_qps": 400},
        variants={"production": {"capacity": {"max_qps": 0.5}}},
    )  # fmt: skip
    assert lines == [
        "s.yaml: steps.surge.abort: mode: capacity judges health on the abort rules' metrics and has none: add at "
        "least one, e.g. {metric: error_ratio, above: 0.05, for_s: 10}",
        "s.yaml: steps.surge.capacity.start_qps: 1 is below one bucket (2 QPS, bucket_qps): start at 2 QPS or more",
        "s.yaml: steps.surge.variants.production.capacity.max_qps: 0.5 is below start_qps 1: raise max_qps, or start lower",
    ]


def test_a_capacity_block_or_check_under_the_hold_mode_is_named_with_the_fix(tmp_path):
    surge = {**copy.deepcopy(RAMP), "capacity": {"start_qps": 10}, "checks": ["capacity_qps > 1"]}
    surge["variants"]["production"]["capacity"] = {"max_qps": 50}
    with pytest.raises(SpecError) as caught:
        load_stack(write_stack(tmp_path, {**DATA_STEPS, "surge": surge}), modules_dir=FIXTURES / "modules", display="s.yaml")
    fix = "is the capacity search's settings, and mode is hold: remove it, or set mode: capacity"
    assert caught.value.lines() == [
        f"s.yaml: steps.surge.capacity: {fix}",
        "s.yaml: steps.surge.checks[0]: capacity_qps is a capacity search's result, and mode is hold: remove the "
        "check, or set mode: capacity",
        f"s.yaml: steps.surge.variants.production.capacity: {fix}",
    ]


def test_a_search_over_shifted_live_traffic_needs_a_max_qps_the_live_traffic_can_give(tmp_path):
    load = {
        "driver": "haproxy_shift", "live_qps": 100, "admin_socket": "${steps.app.outputs.admin_socket}",
        "production_servers": "${steps.app.outputs.production_servers}",
        "stack_servers": "${steps.app.outputs.stack_servers}",
    }  # fmt: skip
    metrics = {"url": "${steps.app.outputs.prometheus_url}", "labels": {"pool": "stack"}}
    lines = capacity_lines(tmp_path, load=load, metrics=metrics, capacity={"start_qps": 20}, variants={})
    assert len(lines) == 1 and lines[0].startswith(
        "s.yaml: steps.surge.capacity.max_qps: not given: a shift moves at most 100 live QPS x 255/256"
    ), lines
