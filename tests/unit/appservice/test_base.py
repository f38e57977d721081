"""loadstack.appservice.base: the app step's config, its checks and the app's environment."""

from __future__ import annotations

import dataclasses

import pytest

from loadstack.appservice.base import AppConfig, AppServiceError


def _config(**overrides) -> AppConfig:
    values = {
        "stack": "shop",
        "step": "app",
        "instances": 2,
        "db_secret_id": "loadstack/shop/events_db/mariadb",
        "db_name": "shop",
        "cache_secret_id": "loadstack/shop/cache/redis",
    }
    return AppConfig(**{**values, **overrides})


def test_the_app_env_is_the_shopapp_contract():
    env = _config(fault_latency_ms=250, fault_error_ratio=0.05).app_env()
    assert env == {
        "SHOPAPP_DB_SECRET_ID": "loadstack/shop/events_db/mariadb",
        "SHOPAPP_DB_NAME": "shop",
        "SHOPAPP_CACHE_SECRET_ID": "loadstack/shop/cache/redis",
        "SHOPAPP_FAULT_LATENCY_MS": "250",
        "SHOPAPP_FAULT_ERROR_RATIO": "0.05",
    }
    assert _config().app_env()["SHOPAPP_FAULT_ERROR_RATIO"] == "0"


def test_json_round_trip():
    config = _config(scrape_interval_s=2.0, load_balancer_url="http://lb")
    assert AppConfig.from_json(config.to_json()) == config
    assert dataclasses.replace(config, instances=3).to_json()["instances"] == 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"instances": 0}, "instances 0 is not in 1..64"),
        ({"instances": 65}, "instances 65"),
        ({"instances": True}, "instances True is not an integer"),
        ({"fault_error_ratio": 1.5}, "fault_error_ratio 1.5"),
        ({"fault_latency_ms": -1}, "fault_latency_ms -1"),
        ({"scrape_interval_s": 0.1}, "scrape_interval_s 0.1"),
        ({"scrape_interval_s": float("nan")}, "scrape_interval_s nan"),
    ],
)
def test_bad_values_are_refused_naming_the_step_and_field(overrides, message):
    with pytest.raises(AppServiceError, match=f"app step shop/app: {message}"):
        _config(**overrides)


def test_live_traffic_is_off_unless_both_its_fields_are_set_and_then_round_trips():
    plain = _config()
    assert not plain.live
    # Left out of the JSON when off: a deployment made before live traffic existed keeps its config.
    assert "production_instances" not in plain.to_json() and "organic_qps" not in plain.to_json()
    live = _config(production_instances=2, organic_qps=60.0)
    assert live.live and live.to_json()["production_instances"] == 2 and live.to_json()["organic_qps"] == 60.0
    assert AppConfig.from_json(live.to_json()) == live
    assert AppConfig.from_json(plain.to_json()) == plain


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"production_instances": 2}, "live traffic needs both production_instances and organic_qps above 0 .got 2 and 0."),
        ({"organic_qps": 50.0}, "live traffic needs both production_instances and organic_qps above 0 .got 0 and 50."),
        ({"production_instances": -1, "organic_qps": 5.0}, "production_instances -1 is not an integer in 0..64"),
        ({"production_instances": 1, "organic_qps": float("inf")}, "organic_qps inf is not a number in 0..10000"),
    ],
)
def test_bad_live_traffic_is_refused_naming_the_field(overrides, message):
    with pytest.raises(AppServiceError, match=f"app step shop/app: {message}"):
        _config(**overrides)
