"""The app kind rendered: one `deploy` task after its database and cache (and `destroy` in the teardown DAG)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loadstack.spec import load_stack

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"

STEPS = {
    "network": {"kind": "terraform", "module": "network"},
    "db": {"kind": "aurora_restore", "snapshot": "fx-seeded"},
    "cache": {"kind": "redis_restore", "snapshot": "fx-cache"},
    "app": {
        "kind": "app",
        "database": "db",
        "cache": "cache",
        "faults": {"latency_ms": 5},
        "load_balancer": {"url": "${steps.network.outputs.vpc_id}"},
        "scrape_interval_s": 2,
        "variants": {"production": {"instances": 6}},
    },
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("app")
    (root / "snapshots").symlink_to(FIXTURES / "snapshots")
    (root / "stacks").mkdir()
    path = root / "stacks" / "served.yaml"
    path.write_text(yaml.safe_dump({"name": "served", "description": "d", "owner": "sre", "steps": STEPS}))
    return load_stack(path, modules_dir=FIXTURES / "modules")


def test_deploy_follows_the_database_cache_and_referenced_steps(stack):
    from loadstack.airflow.operators.app import AppDeployOperator
    from loadstack.airflow.render import build_dag

    dag = build_dag(stack)
    assert [t.task_id for t in dag.tasks if t.task_id.startswith("app.")] == ["app.deploy"]
    deploy = dag.get_task("app.deploy")
    assert isinstance(deploy, AppDeployOperator)
    assert sorted(deploy.upstream_task_ids) == ["cache.restore", "db.restore", "network.apply"]
    assert (deploy.database_task_id, deploy.cache_task_id) == ("db.restore", "cache.restore")
    assert deploy.instances == {"minimal": 2, "production": 6}
    assert deploy.faults == {"latency_ms": 5.0, "error_ratio": 0.0} and deploy.scrape_interval_s == 2
    assert deploy.load_balancer == {"url": "${steps.network.outputs.vpc_id}", "target_group_arn": ""}
    assert deploy.output_sources["network"] == "network.apply" and deploy.variant == "{{ params.variant }}"
    assert deploy.template_fields == ("variant", "load_balancer", "prometheus_url")


def test_teardown_destroys_the_app_before_its_data(stack):
    from loadstack.airflow.operators.app import AppTeardownOperator
    from loadstack.airflow.render import build_teardown_dag

    teardown = build_teardown_dag(stack)
    assert isinstance(teardown.get_task("app.destroy"), AppTeardownOperator)
    assert "app.destroy" in teardown.get_task("db.destroy").upstream_task_ids
    assert "app.destroy" in teardown.get_task("cache.destroy").upstream_task_ids
