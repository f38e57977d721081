"""The application's configuration, read from the environment once at start and checked there.

A missing or malformed variable stops the process before it binds its port, with a message that
names the variable and says how to fix it (`ConfigError`). Secrets are not read here: only the ids
of the Secrets Manager secrets that hold them (see `credentials`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from shopapp.faults import MAX_LATENCY_MS, Fault

DB_SECRET_ID = "SHOPAPP_DB_SECRET_ID"
DB_NAME = "SHOPAPP_DB_NAME"
CACHE_SECRET_ID = "SHOPAPP_CACHE_SECRET_ID"
FAULT_LATENCY_MS = "SHOPAPP_FAULT_LATENCY_MS"
FAULT_ERROR_RATIO = "SHOPAPP_FAULT_ERROR_RATIO"
# Optional tuning, with defaults suited to a few hundred requests per second per process.
DB_POOL_SIZE = "SHOPAPP_DB_POOL_SIZE"
EVENTS_CACHE_TTL = "SHOPAPP_EVENTS_CACHE_TTL"
# Optional overrides of the endpoints in the secrets: RDS-managed master secrets hold only the
# username and password, the endpoint being a stack output instead.
DB_HOST = "SHOPAPP_DB_HOST"
DB_PORT = "SHOPAPP_DB_PORT"
CACHE_HOST = "SHOPAPP_CACHE_HOST"
CACHE_PORT = "SHOPAPP_CACHE_PORT"


class ConfigError(RuntimeError):
    """The environment does not configure a runnable app; the message names the variable and the fix."""


@dataclass(frozen=True)
class Settings:
    name: str
    db_secret_id: str
    db_name: str
    cache_secret_id: str
    static_fault: Fault
    db_pool_size: int = 10
    events_cache_ttl: float = 5.0
    db_host: str | None = None
    db_port: int | None = None
    cache_host: str | None = None
    cache_port: int | None = None


def _required(env: Mapping[str, str], variable: str, fix: str) -> str:
    value = env.get(variable, "").strip()
    if not value:
        raise ConfigError(f"{variable} is not set: {fix}")
    return value


def _number(env: Mapping[str, str], variable: str, default: float, low: float, high: float, meaning: str) -> float:
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(
            f"{variable}={raw!r} is not valid: set it to {meaning} (from {low:g} to {high:g}), or unset it"
        )
    return value


def _port(env: Mapping[str, str], variable: str) -> int | None:
    raw = env.get(variable, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{variable}={raw!r} is not a TCP port: set it to a number from 1 to 65535, or unset it")
    return int(raw)


def load_settings(env: Mapping[str, str], name: str) -> Settings:
    """The settings of the process called `name`, from `env` (normally os.environ)."""
    pool_size = _number(env, DB_POOL_SIZE, 10, 1, 200, "the number of database connections per process")
    if pool_size != int(pool_size):
        raise ConfigError(f"{DB_POOL_SIZE}={env[DB_POOL_SIZE]!r} is not a whole number: set it to e.g. 10, or unset it")
    return Settings(
        name=name,
        db_secret_id=_required(
            env,
            DB_SECRET_ID,
            "set it to the Secrets Manager id of the events database's secret "
            "(JSON with host, port, username, password), e.g. the events_db step's secret_id output",
        ),
        db_name=_required(
            env, DB_NAME, "set it to the name of the events database, e.g. the events_db step's database output"
        ),
        cache_secret_id=_required(
            env,
            CACHE_SECRET_ID,
            "set it to the Secrets Manager id of the cache's secret "
            "(JSON with host, port, password), e.g. the cache step's secret_id output",
        ),
        static_fault=Fault(
            latency_ms=_number(env, FAULT_LATENCY_MS, 0.0, 0.0, MAX_LATENCY_MS, "the extra latency in milliseconds"),
            error_ratio=_number(env, FAULT_ERROR_RATIO, 0.0, 0.0, 1.0, "the share of requests that fail with 500"),
        ),
        db_pool_size=int(pool_size),
        events_cache_ttl=_number(env, EVENTS_CACHE_TTL, 5.0, 0.1, 3600, "the seconds a profile's events stay cached"),
        db_host=env.get(DB_HOST, "").strip() or None,
        db_port=_port(env, DB_PORT),
        cache_host=env.get(CACHE_HOST, "").strip() or None,
        cache_port=_port(env, CACHE_PORT),
    )
