"""The database and cache endpoints, read from Secrets Manager once at start-up.

Credentials come from boto3's default chain (AWS_ENDPOINT_URL / AWS_DEFAULT_REGION / keys or an
instance role); locally that is the moto server. Secret values are never logged, and the
endpoints' reprs hide their passwords.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from shopapp.config import (
    CACHE_HOST,
    CACHE_PORT,
    CACHE_SECRET_ID,
    DB_HOST,
    DB_PORT,
    DB_SECRET_ID,
    ConfigError,
    Settings,
)


@dataclass(frozen=True)
class DatabaseEndpoint:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str


@dataclass(frozen=True)
class CacheEndpoint:
    host: str
    port: int
    password: str | None = field(repr=False, default=None)


def read_json_secret(client: Any, secret_id: str, variable: str) -> dict[str, Any]:
    """The JSON object in the secret `secret_id` (named by the environment variable `variable`)."""
    try:
        text = client.get_secret_value(SecretId=secret_id)["SecretString"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise ConfigError(
            f"cannot read secret {secret_id!r} named by {variable} ({code or exc}): check {variable}, the "
            "region (AWS_DEFAULT_REGION), the endpoint (AWS_ENDPOINT_URL) and that these credentials may read it"
        ) from None
    except BotoCoreError as exc:
        raise ConfigError(
            f"cannot reach Secrets Manager for {variable}={secret_id!r} ({exc}): set AWS_DEFAULT_REGION, "
            "credentials and, locally, AWS_ENDPOINT_URL to the moto server"
        ) from None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        # The text itself may be a password: never quote it.
        raise ConfigError(f"secret {secret_id!r} named by {variable} is not a JSON object: store JSON in it")
    return value


def _field(secret: dict[str, Any], key: str, secret_id: str, variable: str, override: str | None = None) -> Any:
    value = secret.get(key)
    if value in (None, ""):
        hint = f" (or set {override})" if override else ""
        raise ConfigError(f"secret {secret_id!r} named by {variable} has no {key!r}: add it to the secret{hint}")
    return value


def _as_port(value: Any, secret_id: str, variable: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 0 < port < 65536:
        raise ConfigError(f"secret {secret_id!r} named by {variable}: port {value!r} is not a TCP port")
    return port


def database_endpoint(settings: Settings, client: Any) -> DatabaseEndpoint:
    secret = read_json_secret(client, settings.db_secret_id, DB_SECRET_ID)
    sid, var = settings.db_secret_id, DB_SECRET_ID
    return DatabaseEndpoint(
        host=settings.db_host or str(_field(secret, "host", sid, var, DB_HOST)),
        port=settings.db_port or _as_port(_field(secret, "port", sid, var, DB_PORT), sid, var),
        user=str(_field(secret, "username", sid, var)),
        password=str(_field(secret, "password", sid, var)),
        database=settings.db_name,
    )


def cache_endpoint(settings: Settings, client: Any) -> CacheEndpoint:
    secret = read_json_secret(client, settings.cache_secret_id, CACHE_SECRET_ID)
    sid, var = settings.cache_secret_id, CACHE_SECRET_ID
    password = secret.get("password")
    return CacheEndpoint(
        host=settings.cache_host or str(_field(secret, "host", sid, var, CACHE_HOST)),
        port=settings.cache_port or _as_port(_field(secret, "port", sid, var, CACHE_PORT), sid, var),
        password=None if password in (None, "") else str(password),
    )


def secrets_client() -> Any:
    """A Secrets Manager client from boto3's default chain (AWS_ENDPOINT_URL is honoured by boto3)."""
    try:
        return boto3.session.Session().client("secretsmanager")
    except BotoCoreError as exc:  # e.g. NoRegionError
        raise ConfigError(
            f"cannot create a Secrets Manager client ({exc}): set AWS_DEFAULT_REGION, e.g. us-east-1"
        ) from None


def load_endpoints(settings: Settings) -> tuple[DatabaseEndpoint, CacheEndpoint]:
    client = secrets_client()
    return database_endpoint(settings, client), cache_endpoint(settings, client)
