"""The DAG a spec renders to: golden structure, deterministic ids, owner/tags/retries, params."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import pendulum
import pytest

from loadstack.spec import load_stack

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"


@pytest.fixture(scope="module")
def dag():
    from loadstack.airflow.render import build_dag

    return build_dag(load_stack(FIXTURES / "good_specs" / "storefront.yaml", modules_dir=FIXTURES / "modules"))


def structure(dag):
    return {task.task_id: sorted(task.upstream_task_ids) for task in dag.tasks}


# The tasks every stack DAG has around its steps: the lock (test_stack_lock_render.py), the teardown and the
# run's outcome (test_stack_run_render.py).
RUN_TASKS = ("stack-", "teardown-", "run-", "registry-tearing-down", "registry-remove", "registry-teardown-failed")


def body_structure(dag):
    """The steps' tasks and their edges among themselves."""
    return {task_id: [up for up in ups if not up.startswith(RUN_TASKS)]
            for task_id, ups in structure(dag).items() if not task_id.startswith(RUN_TASKS)}


def test_golden_structure(dag):
    assert body_structure(dag) == {
        "network.apply": [],
        "network.publish_ssm_parameter": ["network.apply"],
        "network.publish_ssm_parameter_2": ["network.apply"],
        "app.apply": ["network.publish_ssm_parameter", "network.publish_ssm_parameter_2"],
        "app.publish_airflow_variable": ["app.apply"],
        "mail.apply": ["network.publish_ssm_parameter", "network.publish_ssm_parameter_2"],
        # Once every step is up (tests/unit/airflow/render/test_registry_tasks.py).
        "registry-register": ["app.publish_airflow_variable", "mail.apply", "network.publish_ssm_parameter",
                              "network.publish_ssm_parameter_2"],
    }
    assert sorted(dag.task_group.children) == [
        "app", "mail", "network", "registry-register", "registry-remove", "registry-teardown-failed",
        "registry-tearing-down", "run-outcome", "stack-lock", "stack-teardown", "stack-unlock", "teardown-decide",
    ]


def test_rendering_is_deterministic():
    from loadstack.airflow.render import build_dag

    spec = load_stack(FIXTURES / "good_specs" / "storefront.yaml", modules_dir=FIXTURES / "modules")
    first, second = build_dag(spec), build_dag(spec)
    assert [t.task_id for t in first.tasks] == [t.task_id for t in second.tasks]
    assert structure(first) == structure(second)


def test_dag_settings(dag):
    assert dag.dag_id == "storefront"
    assert set(dag.tags) == {"loadstack", "fixture", "shop"}
    assert dag.max_active_runs == 1
    assert dag.params["variant"] == "minimal"
    assert dag.params.get_param("variant").schema["enum"] == ["minimal", "production"]
    assert dag.timetable.expression == "0 3 * * *" and dag.catchup is False


def next_run_at(scheduler_view, now: datetime) -> datetime:
    """The first run of a DAG with no run yet, as the dag-processor computes it at `now`."""
    with mock.patch("airflow.timetables.trigger.utcnow", return_value=pendulum.instance(now)):
        return scheduler_view.next_dagrun_info(last_automated_run_info=None).run_after


def test_a_scheduled_stack_first_runs_at_its_next_tick_never_at_one_long_past(dag):
    """Unpausing a nightly stack mid-day stands nothing up: its first run is the next night (no catch-up run)."""
    from airflow.serialization.serialized_objects import DagSerialization

    scheduler_view = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    before = datetime.now(UTC)
    first = scheduler_view.next_dagrun_info(last_automated_run_info=None)
    assert before < first.run_after <= before + timedelta(days=1)
    assert (first.run_after.hour, first.run_after.minute) == (3, 0)
    # A tick more than the grace past is not run (Airflow's default would, within a tenth of the period: 2.4 h);
    # one just past still is, or a parse right after the tick would move it a day ahead before the scheduler ran it.
    assert next_run_at(scheduler_view, datetime(2026, 12, 1, 3, 10, tzinfo=UTC)) == datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    assert next_run_at(scheduler_view, datetime(2026, 12, 1, 3, 4, tzinfo=UTC)) == datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    # Once that night has run, the next is the night after: a daily schedule, in UTC.
    second = scheduler_view.next_dagrun_info(last_automated_run_info=first)
    assert second.run_after - first.run_after == timedelta(days=1)


def test_owner_and_retries(dag):
    tasks = {t.task_id: t for t in dag.tasks}
    assert {t.owner for t in dag.tasks} == {"sre-load"}
    assert tasks["network.apply"].retries == 2  # stack default
    assert tasks["app.apply"].retries == 0  # step override
    assert tasks["app.publish_airflow_variable"].retries == 0


def test_apply_task_carries_module_workspace_and_sources(dag):
    app = dag.get_task("app.apply")
    assert app.workspace == "storefront-app"
    assert app.state_key == "loadstack/app.tfstate"
    assert app.module_dir.endswith("tests/fixtures/modules/app")
    assert app.variables == {"vpc_id": "${steps.network.outputs.vpc_id}", "subnet_ids": "${steps.network.outputs.subnet_ids}"}
    assert app.variant_variables == {"production": {"db_host": "prod-db"}}
    assert app.output_sources == {"network": "network.apply", "app": "app.apply"}
    assert app.variant == "{{ params.variant }}"


def test_spec_and_graph_do_not_import_airflow():
    import subprocess
    import sys

    code = "import sys, loadstack.spec, loadstack.graph, loadstack.refs, loadstack.cli; print(any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_teardown_dag_reverses_the_graph():
    from loadstack.airflow.render import build_teardown_dag

    spec = load_stack(FIXTURES / "good_specs" / "storefront.yaml", modules_dir=FIXTURES / "modules")
    teardown = build_teardown_dag(spec)
    assert teardown.dag_id == "storefront__teardown"
    destroys = {task: deps for task, deps in structure(teardown).items() if not task.startswith(("registry-", "stack-"))}
    assert destroys == {"network.destroy": ["app.destroy", "mail.destroy"], "app.destroy": ["registry-tearing-down"],
                        "mail.destroy": ["registry-tearing-down"]}
    app = teardown.get_task("app.destroy")
    assert app.state_objects == {"network": "env:/storefront-network/loadstack/network.tfstate"}
    assert teardown.get_task("network.destroy").state_objects == {}
    assert "teardown" in teardown.tags and teardown.schedule is None


def test_each_steps_tasks_and_its_destroy_run_on_its_kinds_queue_and_bookkeeping_on_the_default():
    from loadstack.airflow.render import build_dag, build_teardown_dag
    from loadstack.profiles import load_profile

    stack = load_stack(FIXTURES.parent.parent / "include" / "stacks" / "shop.yaml")
    profile = load_profile({"LOADSTACK_QUEUES": "infra=tf,services=owner,load=load"})
    dag, teardown = build_dag(stack, profile), build_teardown_dag(stack, profile)
    queues = {task.task_id: task.queue for task in [*dag.tasks, *teardown.tasks]}
    assert queues["network.apply"] == queues["stack-teardown.network.destroy"] == "tf"
    assert queues["mail_dumpster.publish_zookeeper_node"] == "tf"  # a completion handler goes with its step
    assert queues["seed_events.seed_base"] == "tf"
    assert queues["events_db.restore"] == queues["events_db.destroy"] == queues["stack-teardown.app.destroy"] == "owner"
    assert queues["app.deploy"] == queues["cache.restore"] == "owner"
    assert {queues[t] for t in queues if t.startswith("surge.")} == {"load"}
    assert queues["stack-lock"] == queues["run-outcome"] == queues["registry-remove"] == "default"


def test_without_a_queue_map_every_task_runs_on_the_default_queue(shop_dag):
    assert {task.queue for task in shop_dag.tasks} == {"default"}


# --- the Trigger form -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shop_dag():
    from loadstack.airflow.render import build_dag

    return build_dag(load_stack(FIXTURES.parent.parent / "include" / "stacks" / "shop.yaml"))


def test_the_form_has_the_stack_section_first_then_a_section_per_step(shop_dag):
    params = shop_dag.params
    assert list(params)[:3] == ["variant", "ttl", "keep_up"]
    sections = {key: params.get_param(key).schema.get("section") for key in params}
    assert {sections[key] for key in ("variant", "ttl", "keep_up")} == {"Stack"}
    assert sections["events_db_snapshot"] == "Step events_db (aurora_restore)"
    assert {key for key, section in sections.items() if section == "Step surge (ramp)"} == {
        "surge_target_qps", "surge_threshold_qps", "surge_bucket_qps", "surge_hold_s"}
    for key in params:
        param = params.get_param(key)
        assert param.schema.get("title") and (param.description or param.schema.get("description_md")), key
    assert params.get_param("variant").schema["values_display"].keys() == {"minimal", "production"}


def test_ttl_defaults_to_the_specs_and_keep_up_is_empty(shop_dag):
    assert shop_dag.params["ttl"] == "8h"  # include/stacks/shop.yaml
    keep_up = shop_dag.params.get_param("keep_up")
    assert keep_up.value is None and keep_up.schema["type"] == ["null", "boolean"]
    assert keep_up.description == ("keep the stack up after the run; empty: manual runs keep it, scheduled runs "
                                   "tear it down")


@pytest.mark.parametrize(("key", "value"), [
    ("variant", "huge"), ("ttl", "soon"), ("ttl", ""), ("ttl", "8 h"), ("ttl", "h"), ("keep_up", "yes"),
    ("events_db_snapshot", "shop-nonexistent"), ("surge_target_qps", 0), ("surge_target_qps", "fast"),
    ("surge_threshold_qps", -1), ("surge_bucket_qps", 0.5), ("surge_hold_s", 100_000),
])
def test_the_form_refuses_invalid_values(shop_dag, key, value):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        shop_dag.params.get_param(key).resolve(value)


@pytest.mark.parametrize(("key", "value"), [
    ("variant", "production"), ("ttl", "1h30m"), ("ttl", "2d"), ("ttl", "45s"), ("keep_up", True), ("keep_up", False),
    ("keep_up", None), ("events_db_snapshot", "shop-migrated"), ("surge_target_qps", 120), ("surge_target_qps", None),
    ("surge_threshold_qps", 12.5), ("surge_hold_s", 30),
])
def test_the_form_takes_valid_values(shop_dag, key, value):
    import copy

    assert copy.copy(shop_dag.params.get_param(key)).resolve(value) == value


def test_the_ttl_pattern_accepts_what_the_registry_parses():
    import re

    from loadstack.spec import DURATION_PATTERN, parse_duration

    for text in ("8h", "1h30m", "2d", "90s", "1d2h3m4s"):
        assert re.match(DURATION_PATTERN, text) and parse_duration(text)
    for text in ("", "h", "8 h", "soon", "1.5h", "30m1h"):
        assert not re.match(DURATION_PATTERN, text)
        with pytest.raises(ValueError):
            parse_duration(text)
