"""loadstack.gates.probes with fakes: answers become results, failures never raise, secrets stay out.

The probes against real servers are in tests/integration/gates/.
"""

from __future__ import annotations

import asyncio
import json

import boto3
import httpx
import pytest

from loadstack.gates import probes
from loadstack.gates.models import parse_gate
from loadstack.gates.probes import DatabaseEndpoint, probe_for

ENDPOINT = DatabaseEndpoint(host="127.0.0.1", port=3306, database="shop", username="root", secret_id="stack/db")


def _check(probe):
    async def once():
        try:
            return await probe.check()
        finally:
            await probe.aclose()

    return asyncio.run(once())


@pytest.fixture
def http_answers(monkeypatch):
    """Route the probes' httpx clients to a handler: `answers[url] = (status, body)` or an exception."""
    answers: dict[str, object] = {}

    def handle(request: httpx.Request) -> httpx.Response:
        answer = answers[str(request.url)]
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return httpx.Response(status, content=body if isinstance(body, bytes) else json.dumps(body).encode())

    real = httpx.AsyncClient
    monkeypatch.setattr(probes.httpx, "AsyncClient", lambda **kw: real(transport=httpx.MockTransport(handle), **kw))
    return answers


def test_http_probe(http_answers):
    gate = parse_gate(
        {"name": "h", "kind": "http", "url": "http://app/health", "body": {"path": "status", "condition": "== ok"}}
    )
    http_answers["http://app/health"] = (200, {"status": "ok"})
    assert _check(probe_for(gate, profile=None)).passed
    http_answers["http://app/health"] = httpx.ConnectError("connection refused")
    refused = _check(probe_for(gate, profile=None))
    assert not refused.passed and refused.message == "GET http://app/health: ConnectError: connection refused"


def test_prometheus_probe(http_answers):
    gate = parse_gate(
        {"name": "p", "kind": "prometheus", "url": "http://prom:9090/", "query": "sum(up)", "condition": ">= 1"}
    )
    url = "http://prom:9090/api/v1/query?query=sum%28up%29"
    http_answers[url] = (200, {"status": "success", "data": {"resultType": "scalar", "result": [1.0, "2"]}})
    assert _check(probe_for(gate, profile=None)).observed == 2.0
    http_answers[url] = (502, b"bad gateway")
    assert "answered HTTP 502, not JSON" in _check(probe_for(gate, profile=None)).message


SQL_GATE = {"name": "s", "kind": "sql", "database": "db", "query": "SELECT COUNT(*) FROM t", "condition": ">= 10"}


class FakeCursor:
    def __init__(self, rows):
        self.rows = rows
        self.executed: list[str] = []

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False

    async def execute(self, query):
        self.executed.append(query)

    async def fetchall(self):
        return self.rows


class FakeConnection:
    def __init__(self, rows):
        self.cursor_ = FakeCursor(rows)
        self.closed = False

    def cursor(self):
        return self.cursor_

    def close(self):
        self.closed = True


def test_sql_probe_reads_the_secret_once_and_connects_each_check(monkeypatch):
    secrets_read, connects = [], []
    monkeypatch.setattr(
        probes, "get_json_secret", lambda profile, name: secrets_read.append((profile, name)) or {"password": "pw"}
    )

    async def connect(**kwargs):
        connects.append(kwargs)
        return FakeConnection([(12,)])

    monkeypatch.setattr(probes.aiomysql, "connect", connect)
    probe = probe_for(parse_gate(SQL_GATE), profile=lambda: "the-profile", database=ENDPOINT)

    async def twice():
        return [await probe.check(), await probe.check()]

    results = asyncio.run(twice())
    assert [r.observed for r in results] == [12, 12] and all(r.passed for r in results)
    assert secrets_read == [("the-profile", "stack/db")]
    assert len(connects) == 2 and connects[0]["password"] == "pw" and connects[0]["db"] == "shop"


def test_sql_probe_failures_are_results_without_the_password(monkeypatch):
    monkeypatch.setattr(probes, "get_json_secret", lambda profile, name: {"password": "s3cret"})

    async def refused(**kwargs):
        raise probes.aiomysql.OperationalError(2003, "Can't connect to MySQL server on '127.0.0.1'")

    monkeypatch.setattr(probes.aiomysql, "connect", refused)
    result = _check(probe_for(parse_gate(SQL_GATE), profile=lambda: None, database=ENDPOINT))
    assert not result.passed and result.observed is None
    assert result.message.startswith("root@127.0.0.1:3306/shop: OperationalError") and "s3cret" not in result.message

    def no_secret(profile, name):
        raise KeyError("password")

    monkeypatch.setattr(probes, "get_json_secret", no_secret)
    result = _check(probe_for(parse_gate(SQL_GATE), profile=lambda: None, database=ENDPOINT))
    assert "from secret 'stack/db'" in result.message


def test_sql_probe_needs_its_endpoint():
    with pytest.raises(ValueError, match="needs the endpoint of its database step 'db'"):
        probe_for(parse_gate(SQL_GATE), profile=lambda: None)


def test_database_endpoint_from_outputs():
    outputs = {
        "host": "127.0.0.1",
        "port": "3306",
        "database": "shop",
        "username": "root",
        "secret_id": "stack/db",
        "engine": "mariadb",
    }
    assert DatabaseEndpoint.from_outputs(outputs) == ENDPOINT
    with pytest.raises(ValueError, match="database step 'cache' has no output host, secret_id"):
        DatabaseEndpoint.from_outputs({"port": 1, "database": "d", "username": "u"}, "cache")


class FakeProfile:
    def client(self, service):
        return boto3.client(service, region_name="us-east-1")


def test_lb_targets_probe_in_moto_memory(mocked_aws):
    ec2, elbv2 = boto3.client("ec2", region_name="us-east-1"), boto3.client("elbv2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    arn = elbv2.create_target_group(Name="app", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")["TargetGroups"][
        0
    ]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "10.0.0.5", "Port": 80}])
    gate = parse_gate({"name": "t", "kind": "lb_targets", "target_group_arn": arn, "min_healthy": 1})
    assert _check(probe_for(gate, profile=FakeProfile)).observed == 1
    unknown = parse_gate({"name": "t", "kind": "lb_targets", "target_group_arn": arn + "x"})
    result = _check(probe_for(unknown, profile=FakeProfile))
    assert not result.passed and "TargetGroupNotFound" in result.message
