"""Seed operators' execute with a mocked context: the database comes from the restore step's XCom and its
password from the secret it names; counts are checked exactly before anything is recorded."""

from __future__ import annotations

from unittest import mock

import pytest

from loadstack.airflow.operators import seed as operators
from loadstack.airflow.operators.seed import SeedBaseOperator, SeedShardOperator, SeedVerifyOperator
from loadstack.data.params import SeedParams
from loadstack.data.seed import expected_counts

PARAMS = {"seed": 7, "accounts": 3, "events": 400, "shards": 2}
RESTORED = {"host": "127.0.0.1", "port": 3307, "username": "root", "database": "commerce",
            "secret_id": "loadstack/shop/events_db/mariadb"}


@pytest.fixture
def secret(monkeypatch):
    get = mock.Mock(return_value={"password": "pw-from-secrets-manager"})
    monkeypatch.setattr(operators, "get_json_secret", get)
    return get


def build(cls, profile, **extra):
    op = cls(task_id="t", stack="shop", step="seed_events", variant="minimal", database_task_id="events_db.restore",
             seed_params=PARAMS, **extra)
    op.__dict__["profile"] = profile
    return op


def test_seed_base_connects_with_the_restored_databases_secret(profile, secret, make_context, monkeypatch):
    seed_base = mock.Mock(return_value={"accounts": 3})
    monkeypatch.setattr(operators, "seed_base", seed_base)
    context = make_context(RESTORED)

    assert build(SeedBaseOperator, profile).execute(context) == {"accounts": 3}

    context["ti"].xcom_pull.assert_called_once_with(task_ids="events_db.restore")
    secret.assert_called_once_with(profile, RESTORED["secret_id"])
    connection, params = seed_base.call_args.args
    assert (connection.host, connection.port, connection.user, connection.database) == ("127.0.0.1", 3307, "root", "commerce")
    assert connection.password == "pw-from-secrets-manager"
    assert params == SeedParams.from_dict(PARAMS)


def test_each_mapped_task_seeds_its_own_shard(profile, secret, make_context, monkeypatch):
    seed_shard = mock.Mock(return_value=200)
    monkeypatch.setattr(operators, "seed_shard", seed_shard)

    assert build(SeedShardOperator, profile, shard=1).execute(make_context(RESTORED)) == 200
    assert seed_shard.call_args.args[2] == 1


def test_verify_records_exact_counts_and_counts_events_written_since_apart(profile, secret, make_context, monkeypatch, recorded):
    params = SeedParams.from_dict(PARAMS)
    expected = expected_counts(params)

    def count_rows(conn, tables, *, id_limits=None):
        # Up to the dataset's ids: exactly the dataset; in all: 5 more events per shard, written by load.
        return {t: expected[t] + (0 if id_limits else 5) for t in tables}

    monkeypatch.setattr(operators, "count_rows", count_rows)
    monkeypatch.setattr(operators.ConnectionParams, "connect", mock.Mock())

    outputs = build(SeedVerifyOperator, profile).execute(make_context(RESTORED))

    assert outputs == {"rows": sum(expected.values()), "tables": expected, "events_written_since": 5 * params.shards}
    recorded["record"].assert_called_once_with(profile, "shop", "seed_events", outputs)


def test_verify_fails_on_any_count_that_differs_and_records_nothing(profile, secret, make_context, monkeypatch, recorded):
    expected = expected_counts(SeedParams.from_dict(PARAMS))
    table = sorted(expected)[0]
    monkeypatch.setattr(operators, "count_rows", mock.Mock(return_value={**expected, table: expected[table] - 1}))
    monkeypatch.setattr(operators.ConnectionParams, "connect", mock.Mock())

    with pytest.raises(RuntimeError, match=f"row counts differ from the dataset: .*{table}"):
        build(SeedVerifyOperator, profile).execute(make_context(RESTORED))
    recorded["record"].assert_not_called()
