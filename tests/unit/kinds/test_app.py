"""The `app` step kind: sizes per variant, faults, the database and cache steps it serves (graph edges,
kind checks), and the aws load balancer given by references.

The bad spec of this kind (database and cache swapped) is tests/fixtures/bad_specs/app_database_is_a_cache.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from loadstack.kinds.app import AppSize, AppStep
from loadstack.spec import SpecError, load_stack

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

DATA_STEPS = {
    "network": {"kind": "terraform", "module": "network"},
    "db": {"kind": "aurora_restore", "snapshot": "fx-seeded"},
    "cache": {"kind": "redis_restore", "snapshot": "fx-cache"},
}


def write_stack(tmp_path: Path, steps: dict, name: str = "served") -> Path:
    # Specs name snapshots defined next to them (stacks/ beside snapshots/).
    (tmp_path / "snapshots").symlink_to(FIXTURES / "snapshots")
    (tmp_path / "stacks").mkdir()
    path = tmp_path / "stacks" / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "description": "d", "owner": "sre", "steps": steps}))
    return path


def test_a_good_app_step_waits_for_its_database_cache_and_load_balancer(tmp_path):
    app = {
        "kind": "app",
        "database": "db",
        "cache": "cache",
        "load_balancer": {"url": "${steps.network.outputs.vpc_id}"},
        "variants": {"production": {"instances": 6}},
    }
    stack = load_stack(write_stack(tmp_path, {**DATA_STEPS, "app": app}), modules_dir=FIXTURES / "modules")
    step = stack.steps["app"]
    assert isinstance(step, AppStep)
    assert sorted(stack.graph.upstream("app")) == ["cache", "db", "network"]
    assert step.step_links() == [("database", "db"), ("cache", "cache")]


def test_sizes_default_per_variant_and_a_variant_overrides_its_own():
    step = AppStep(kind="app", database="db", cache="cache", variants={"production": AppSize(instances=6)})
    assert step.size_for("minimal") == AppSize(instances=2)
    assert step.size_for("production") == AppSize(instances=6)
    assert step.faults.model_dump() == {"latency_ms": 0, "error_ratio": 0}  # off unless configured
    assert step.scrape_interval_s == 1.0 and step.prometheus_url == ""


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"faults": {"error_ratio": 1.5}}, "faults.error_ratio"),
        ({"faults": {"latency": 5}}, "faults.latency"),
        ({"variants": {"minimal": {"instances": 0}}}, "variants.minimal.instances"),
        ({"variants": {"staging": {"instances": 1}}}, "variants.staging.[key]"),
        ({"scrape_interval_s": 0.1}, "scrape_interval_s"),
        ({"live": {"production_instances": 0, "organic_qps": 10}}, "live.production_instances"),
        ({"live": {"production_instances": 1, "organic_qps": 0}}, "live.organic_qps"),
        ({"live": {"production_instances": 1}}, "live.organic_qps"),
        ({"live": {"production_instances": 1, "organic_qps": 10, "qps": 1}}, "live.qps"),
    ],
)
def test_out_of_range_settings_are_refused_at_their_path(changes, where):
    with pytest.raises(ValidationError) as caught:
        AppStep.model_validate({"kind": "app", "database": "db", "cache": "cache", **changes})
    assert [".".join(str(p) for p in error["loc"]) for error in caught.value.errors()] == [where]


def test_unknown_database_and_cache_steps_are_named(tmp_path):
    app = {"kind": "app", "database": "events_db", "cache": "cache"}
    with pytest.raises(SpecError) as caught:
        load_stack(
            write_stack(tmp_path, {**DATA_STEPS, "app": app}), modules_dir=FIXTURES / "modules", display="s.yaml"
        )
    assert caught.value.lines() == ["s.yaml: steps.app.database: unknown step 'events_db' (known: cache, db, network)"]


def test_a_missing_database_is_a_missing_key(tmp_path):
    with pytest.raises(SpecError) as caught:
        load_stack(
            write_stack(tmp_path, {**DATA_STEPS, "app": {"kind": "app", "cache": "cache"}}),
            modules_dir=FIXTURES / "modules",
            display="s.yaml",
        )
    assert caught.value.lines() == ["s.yaml: steps.app.database: required key 'database' is missing; add it"]


def test_live_traffic_is_off_by_default_and_a_live_block_reaches_the_deploy_task(tmp_path):
    from loadstack.airflow.render import build_dag

    assert AppStep(kind="app", database="db", cache="cache").live is None
    app = {"kind": "app", "database": "db", "cache": "cache", "live": {"production_instances": 2, "organic_qps": 60}}
    stack = load_stack(write_stack(tmp_path, {**DATA_STEPS, "app": app}), modules_dir=FIXTURES / "modules")
    step = stack.steps["app"]
    assert step.live is not None and (step.live.production_instances, step.live.organic_qps) == (2, 60.0)
    assert build_dag(stack).get_task("app.deploy").live == {"production_instances": 2, "organic_qps": 60.0}


def test_an_unknown_live_key_is_named_with_its_path(tmp_path):
    app = {"kind": "app", "database": "db", "cache": "cache", "live": {"production_instance": 2, "organic_qps": 60}}
    with pytest.raises(SpecError) as caught:
        load_stack(write_stack(tmp_path, {**DATA_STEPS, "app": app}), modules_dir=FIXTURES / "modules", display="s.yaml")
    assert caught.value.lines() == [
        "s.yaml: steps.app.live.production_instance: unknown key 'production_instance' (did you mean 'production_instances'?)",
        "s.yaml: steps.app.live.production_instances: required key 'production_instances' is missing; add it",
    ]
