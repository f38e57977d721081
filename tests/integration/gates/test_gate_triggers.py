"""Each gate kind polled by its real trigger against a real service: it passes once its condition
holds, and a gate that cannot pass times out naming the gate and the last value it saw.

HTTP against a health server process, SQL against a seeded MariaDB with its password in Secrets
Manager on the moto server, Prometheus against /usr/bin/prometheus scraping the health server, and
lb_targets against ELBv2 on the moto server. The triggers read AWS through the local profile from the
environment, as they do in the triggerer.
"""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest

from loadstack.airflow.triggers.gates import GateTrigger
from loadstack.credentials import delete_secret, put_json_secret
from loadstack.gates.models import parse_gate

pytestmark = pytest.mark.integration

FAST = {"poke_interval_seconds": 0.3, "timeout_seconds": 2}


def run_gate(gate: dict, database: dict | None = None, timeout: float | None = None) -> dict:
    """The event GateTrigger emits for `gate` (a spec dict), after a serialization round trip."""
    gate = parse_gate({**FAST, **gate}).model_dump(mode="json")
    _, kwargs = GateTrigger(
        gate=gate, deadline=time.time() + (timeout or gate["timeout_seconds"]), database=database
    ).serialize()

    async def first_event():
        return await anext(GateTrigger(**kwargs).run())

    return asyncio.run(asyncio.wait_for(first_event(), 60)).payload


# --- http -----------------------------------------------------------------------------------------
def test_http_gate_passes_on_status_and_json_body(health_server):
    event = run_gate(
        {
            "name": "app_healthy",
            "kind": "http",
            "url": f"{health_server.url}/health",
            "body": {"path": "status", "condition": "== ok"},
        }
    )
    assert event["status"] == "success" and event["observed"] == "ok" and event["checks"] == 1


def test_http_gate_waits_for_the_body_condition(slow_health_server):
    event = run_gate(
        {
            "name": "app_started",
            "kind": "http",
            "url": f"{slow_health_server.url}/health",
            "body": {"path": "status", "condition": "in [ok]"},
            "timeout_seconds": 30,
        }
    )
    assert event["status"] == "success" and event["observed"] == "ok" and event["checks"] == 4


def test_http_gate_times_out_with_the_last_status_or_value(health_server):
    down = run_gate({"name": "app_up", "kind": "http", "url": f"{health_server.url}/down"})
    assert down["status"] == "timeout" and down["observed"] == 503 and down["checks"] >= 2
    assert down["message"].startswith("gate app_up did not pass within 2 s: last value 503 (condition HTTP 200;")
    body = run_gate(
        {
            "name": "hits",
            "kind": "http",
            "url": f"{health_server.url}/health",
            "body": {"path": "checks.hits", "condition": "> 1000"},
        }
    )
    assert body["status"] == "timeout" and isinstance(body["observed"], int) and body["observed"] >= 2
    assert f"last value {body['observed']} (condition HTTP 200 and checks.hits > 1000;" in body["message"]


def test_http_gate_against_nothing_reports_the_refusal(unused_port):
    event = run_gate(
        {"name": "nobody", "kind": "http", "url": f"http://127.0.0.1:{unused_port}/health", "timeout_seconds": 1}
    )
    assert event["status"] == "timeout" and event["observed"] is None
    assert "last value no data" in event["message"] and "ConnectError" in event["message"]


# --- sql ------------------------------------------------------------------------------------------
@pytest.fixture
def database_step(seeded_database, local_profile, loadstack_env):
    """The outputs a database step publishes for the seeded database, its password in Secrets Manager."""
    params, seed_params, _ = seeded_database
    secret_id = f"loadstack/gates-test/{secrets.token_hex(4)}"
    put_json_secret(
        local_profile,
        secret_id,
        {"host": params.host, "port": params.port, "username": params.user, "password": params.password},
    )
    yield (
        {
            "host": params.host,
            "port": params.port,
            "database": params.database,
            "username": params.user,
            "secret_id": secret_id,
        },
        seed_params,
    )
    delete_secret(local_profile, secret_id)


def test_sql_gate_passes_and_times_out_on_seeded_rows(database_step):
    database, seed_params = database_step
    gate = {"name": "profiles_seeded", "kind": "sql", "database": "shop_db", "query": "SELECT COUNT(*) FROM profiles"}
    passed = run_gate({**gate, "condition": f">= {seed_params.profiles}"}, database)
    assert passed["status"] == "success" and passed["observed"] == seed_params.profiles
    short = run_gate({**gate, "condition": f">= {seed_params.profiles + 1}"}, database)
    assert short["status"] == "timeout" and short["observed"] == seed_params.profiles
    assert short["message"].startswith(
        f"gate profiles_seeded did not pass within 2 s: last value {seed_params.profiles} "
        f"(condition value >= {seed_params.profiles + 1};"
    )


def test_sql_gate_reports_a_wrong_password_without_it(database_step, local_profile):
    database, _ = database_step
    put_json_secret(local_profile, database["secret_id"], {"password": "not-the-password"})
    event = run_gate(
        {
            "name": "rows",
            "kind": "sql",
            "database": "shop_db",
            "query": "SELECT 1",
            "condition": "== 1",
            "timeout_seconds": 1,
        },
        database,
    )
    assert event["status"] == "timeout" and event["observed"] is None
    assert "Access denied" in event["message"] and "not-the-password" not in event["message"]


# --- prometheus -----------------------------------------------------------------------------------
def test_prometheus_gate_on_a_real_scrape(prometheus):
    gate = {"name": "app_scraped", "kind": "prometheus", "url": prometheus}
    ready = run_gate({**gate, "query": 'sum(health_ready{job="health"})', "condition": ">= 1", "timeout_seconds": 30})
    assert ready["status"] == "success" and ready["observed"] == 1.0
    too_many = run_gate({**gate, "query": 'sum(up{job="health"})', "condition": ">= 2"})
    assert too_many["status"] == "timeout" and too_many["observed"] == 1.0
    assert 'last value 1 (condition sum(up{job="health"}) >= 2;' in too_many["message"]
    no_data = run_gate({**gate, "query": "sum(no_such_metric)", "condition": ">= 0", "timeout_seconds": 1})
    assert no_data["status"] == "timeout" and "last value no data" in no_data["message"]


# --- lb_targets -----------------------------------------------------------------------------------
def test_lb_targets_gate_on_moto(local_profile, loadstack_env):
    ec2, elbv2 = local_profile.client("ec2"), local_profile.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    group = None
    try:
        group = elbv2.create_target_group(
            Name=f"gates-{secrets.token_hex(3)}", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip"
        )["TargetGroups"][0]["TargetGroupArn"]
        elbv2.register_targets(
            TargetGroupArn=group, Targets=[{"Id": "10.42.0.10", "Port": 8080}, {"Id": "10.42.0.11", "Port": 8080}]
        )
        gate = {"name": "targets_healthy", "kind": "lb_targets", "target_group_arn": group}
        enough = run_gate({**gate, "min_healthy": 2})
        assert enough["status"] == "success" and enough["observed"] == 2
        short = run_gate({**gate, "min_healthy": 3})
        assert short["status"] == "timeout" and short["observed"] == 2
        assert short["message"].startswith(
            "gate targets_healthy did not pass within 2 s: last value 2 "
            "(condition healthy targets >= 3; 2 of 2 targets healthy, < 3 needed)"
        )
    finally:
        # The moto server is shared by the whole session: a later test counts VPCs and load balancers.
        if group is not None:
            elbv2.delete_target_group(TargetGroupArn=group)
        ec2.delete_vpc(VpcId=vpc)