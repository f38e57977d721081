"""Endpoints from Secrets Manager (moto in memory): errors name the variable, never the secret's text."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws
from shopapp.config import ConfigError, load_settings
from shopapp.credentials import cache_endpoint, database_endpoint

ENV = {"SHOPAPP_DB_SECRET_ID": "shop/db", "SHOPAPP_DB_NAME": "shop", "SHOPAPP_CACHE_SECRET_ID": "shop/cache"}


@pytest.fixture
def secretsmanager(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def put(client, name, value):
    client.create_secret(Name=name, SecretString=value if isinstance(value, str) else json.dumps(value))


def test_endpoints_come_from_the_secrets_and_hide_their_passwords(secretsmanager):
    put(secretsmanager, "shop/db", {"host": "127.0.0.1", "port": 3307, "username": "root", "password": "s3cret"})
    put(secretsmanager, "shop/cache", {"host": "127.0.0.1", "port": "6380", "password": "c4che"})
    settings = load_settings(ENV, "a")
    db, cache = database_endpoint(settings, secretsmanager), cache_endpoint(settings, secretsmanager)
    assert (db.host, db.port, db.user, db.password, db.database) == ("127.0.0.1", 3307, "root", "s3cret", "shop")
    assert (cache.host, cache.port, cache.password) == ("127.0.0.1", 6380, "c4che")
    assert "s3cret" not in repr(db) and "c4che" not in repr(cache)


def test_environment_overrides_fill_an_rds_managed_secret(secretsmanager):
    put(secretsmanager, "shop/db", {"username": "admin", "password": "x"})
    settings = load_settings({**ENV, "SHOPAPP_DB_HOST": "cluster.example", "SHOPAPP_DB_PORT": "3306"}, "a")
    db = database_endpoint(settings, secretsmanager)
    assert (db.host, db.port) == ("cluster.example", 3306)


def test_a_missing_secret_names_the_variable(secretsmanager):
    with pytest.raises(ConfigError, match="cannot read secret 'shop/db' named by SHOPAPP_DB_SECRET_ID"):
        database_endpoint(load_settings(ENV, "a"), secretsmanager)


def test_a_secret_that_is_not_json_is_not_quoted(secretsmanager):
    put(secretsmanager, "shop/cache", "hunter2")
    with pytest.raises(ConfigError, match="named by SHOPAPP_CACHE_SECRET_ID is not a JSON object") as raised:
        cache_endpoint(load_settings(ENV, "a"), secretsmanager)
    assert "hunter2" not in str(raised.value)


def test_missing_fields_and_bad_ports_are_named(secretsmanager):
    put(secretsmanager, "shop/db", {"host": "h", "port": 3306, "password": "p"})
    with pytest.raises(ConfigError, match="has no 'username': add it to the secret"):
        database_endpoint(load_settings(ENV, "a"), secretsmanager)
    put(secretsmanager, "shop/cache", {"host": "h", "port": "redis"})
    with pytest.raises(ConfigError, match="port 'redis' is not a TCP port"):
        cache_endpoint(load_settings(ENV, "a"), secretsmanager)
    secretsmanager.put_secret_value(SecretId="shop/cache", SecretString=json.dumps({"port": 6379}))
    with pytest.raises(ConfigError, match=r"has no 'host': add it to the secret \(or set SHOPAPP_CACHE_HOST\)"):
        cache_endpoint(load_settings(ENV, "a"), secretsmanager)
