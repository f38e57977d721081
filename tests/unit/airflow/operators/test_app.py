"""AppDeployOperator / AppTeardownOperator with the profile's app service mocked: the AppConfig built
from the spec, the variant and the database and cache steps' outputs; outputs recorded, then forgotten."""

from __future__ import annotations

from unittest import mock

import pytest

from loadstack.airflow.operators import app as operators
from loadstack.airflow.operators.app import AppDeployOperator, AppTeardownOperator
from loadstack.appservice.base import AppConfig, AppService, AppServiceError
from loadstack.backends import Backends

DATABASE = {
    "engine": "mariadb",
    "host": "127.0.0.1",
    "port": 3307,
    "database": "commerce",
    "username": "root",
    "secret_id": "loadstack/shop/db/mariadb",
    "snapshot": "fx-seeded",
    "snapshot_kind": "seeded",
}
CACHE = {
    "engine": "redis",
    "host": "127.0.0.1",
    "port": 6390,
    "secret_id": "loadstack/shop/cache/redis",
    "snapshot": "c",
}
LB = {"url": "http://alb.example", "target_group_arn": "arn:aws:elasticloadbalancing:tg/app"}
OUTPUTS = {
    "url": "http://127.0.0.1:8123",
    "health_url": "http://127.0.0.1:8123/health",
    "prometheus_url": "http://127.0.0.1:9123",
    "instances": 2,
}


@pytest.fixture
def service(monkeypatch):
    service = mock.create_autospec(AppService, instance=True)
    backends = mock.create_autospec(Backends, instance=True)
    backends.app.return_value = service
    monkeypatch.setattr(operators, "backends_for", mock.Mock(return_value=backends))
    service.backends = backends
    return service


@pytest.fixture
def context(make_context):
    context = make_context()
    pulled = {"db.restore": DATABASE, "cache.restore": CACHE, "app_cluster.apply": LB}
    context["ti"].xcom_pull.side_effect = lambda task_ids: pulled[task_ids]
    return context


def deploy_operator(profile, **overrides) -> AppDeployOperator:
    op = AppDeployOperator(
        **{
            "task_id": "deploy",
            "stack": "shop",
            "step": "app",
            "variant": "production",
            "database_task_id": "db.restore",
            "cache_task_id": "cache.restore",
            "instances": {"minimal": 2, "production": 4},
            "faults": {"latency_ms": 5.0, "error_ratio": 0.0},
            "scrape_interval_s": 2.0,
            "load_balancer": {
                "url": "${steps.app_cluster.outputs.url}",
                "target_group_arn": "${steps.app_cluster.outputs.target_group_arn}",
            },
            "prometheus_url": "",
            "output_sources": {"app_cluster": "app_cluster.apply"},
            **overrides,
        }
    )
    op.__dict__["profile"] = profile
    return op


def test_deploy_builds_the_config_from_the_spec_the_variant_and_upstream_outputs(profile, service, recorded, context):
    service.deploy.return_value = OUTPUTS
    assert deploy_operator(profile).execute(context) == OUTPUTS
    service.backends.app.assert_called_once_with("shop", "app")
    service.deploy.assert_called_once_with(
        AppConfig(
            stack="shop",
            step="app",
            instances=4,
            db_secret_id="loadstack/shop/db/mariadb",
            db_name="commerce",
            cache_secret_id="loadstack/shop/cache/redis",
            fault_latency_ms=5.0,
            fault_error_ratio=0.0,
            scrape_interval_s=2.0,
            load_balancer_url="http://alb.example",
            target_group_arn="arn:aws:elasticloadbalancing:tg/app",
            prometheus_url="",
        )
    )
    recorded["record"].assert_called_once_with(profile, "shop", "app", OUTPUTS)


def test_deploy_refuses_a_config_out_of_range_before_starting_anything(profile, service, recorded, context):
    with pytest.raises(AppServiceError, match="app step shop/app: instances 0 is not in 1"):
        deploy_operator(profile, instances={"minimal": 0, "production": 0}).execute(context)
    service.deploy.assert_not_called()
    recorded["record"].assert_not_called()


def test_an_unknown_variant_is_named(profile, service, context):
    with pytest.raises(ValueError, match="variant 'staging': choose one of minimal, production"):
        deploy_operator(profile, variant="staging").execute(context)


def test_the_constructor_is_keyword_only(profile):
    with pytest.raises(TypeError):
        AppDeployOperator("deploy", stack="shop", step="app", variant="minimal")
    assert AppDeployOperator.template_fields == ("variant", "load_balancer", "prometheus_url")


@pytest.mark.parametrize("removed", [True, False])
def test_teardown_stops_the_app_and_forgets_its_outputs(profile, service, recorded, make_context, removed):
    service.teardown.return_value = removed
    op = AppTeardownOperator(task_id="destroy", stack="shop", step="app", variant="minimal")
    op.__dict__["profile"] = profile
    assert op.execute(make_context()) is None
    service.teardown.assert_called_once_with()
    recorded["forget"].assert_called_once_with(profile, "shop", "app")


def test_deploy_passes_the_live_block_into_the_config(profile, service, recorded, context):
    service.deploy.return_value = OUTPUTS
    deploy_operator(profile, live={"production_instances": 2, "organic_qps": 60}).execute(context)
    config = service.deploy.call_args.args[0]
    assert config.live and (config.production_instances, config.organic_qps) == (2, 60.0)
