"""The environment, checked at start: every error names the variable and the fix."""

from __future__ import annotations

import pytest
from shopapp.config import ConfigError, load_settings
from shopapp.faults import Fault

GOOD = {
    "SHOPAPP_DB_SECRET_ID": "loadstack/shop/events_db",
    "SHOPAPP_DB_NAME": "shop",
    "SHOPAPP_CACHE_SECRET_ID": "loadstack/shop/cache",
}


def test_a_complete_environment_gives_settings_with_faults_off_by_default():
    settings = load_settings(GOOD, "shop-app-1")
    assert settings.name == "shop-app-1" and settings.db_name == "shop"
    assert settings.db_secret_id == "loadstack/shop/events_db" and settings.cache_secret_id == "loadstack/shop/cache"
    assert settings.static_fault == Fault() and not settings.static_fault.active
    assert (settings.db_pool_size, settings.events_cache_ttl, settings.db_host, settings.cache_port) == (
        10,
        5.0,
        None,
        None,
    )


def test_static_faults_and_tuning_come_from_the_environment():
    settings = load_settings(
        {
            **GOOD,
            "SHOPAPP_FAULT_LATENCY_MS": "150",
            "SHOPAPP_FAULT_ERROR_RATIO": "0.05",
            "SHOPAPP_DB_POOL_SIZE": "4",
            "SHOPAPP_DB_HOST": "db.internal",
            "SHOPAPP_DB_PORT": "3306",
        },
        "a",
    )
    assert settings.static_fault == Fault(latency_ms=150.0, error_ratio=0.05)
    assert (settings.db_pool_size, settings.db_host, settings.db_port) == (4, "db.internal", 3306)


@pytest.mark.parametrize("variable", sorted(GOOD))
def test_a_missing_variable_is_named_with_its_fix(variable):
    env = {k: v for k, v in GOOD.items() if k != variable}
    with pytest.raises(ConfigError, match=f"^{variable} is not set: set it to"):
        load_settings(env, "a")
    with pytest.raises(ConfigError, match=f"^{variable} is not set"):
        load_settings({**env, variable: "  "}, "a")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SHOPAPP_FAULT_ERROR_RATIO", "1.5", "set it to the share of requests that fail with 500 (from 0 to 1)"),
        ("SHOPAPP_FAULT_ERROR_RATIO", "half", "is not valid"),
        ("SHOPAPP_FAULT_LATENCY_MS", "-5", "the extra latency in milliseconds (from 0 to 60000)"),
        ("SHOPAPP_FAULT_LATENCY_MS", "nan", "is not valid"),
        ("SHOPAPP_DB_POOL_SIZE", "2.5", "is not a whole number"),
        ("SHOPAPP_DB_PORT", "70000", "is not a TCP port"),
    ],
)
def test_an_invalid_value_is_named_with_its_fix(variable, value, message):
    with pytest.raises(ConfigError, match=f"^{variable}='{value}'") as raised:
        load_settings({**GOOD, variable: value}, "a")
    assert message in str(raised.value)
