"""Asking the services a gate looks at, asynchronously: one `Probe` per gate kind.

A probe fetches the raw answer (an HTTP response, a query's rows, a Prometheus answer, the target
health of a target group) and hands it to the pure checks of `loadstack.gates.checks`. It never
raises for what a service answered or for a service that is down: every outcome is a `GateResult`,
so the trigger keeps the last value and message to report if the gate times out.

Async because gates are polled in Airflow's triggerer (one event loop for many triggers): HTTP
through httpx, SQL through aiomysql, and boto3 (synchronous) in worker threads. A probe takes a
resolved gate (no `${...}` left) and, for SQL, the database step's endpoint; the password is read
from Secrets Manager by the probe itself, wherever it runs, and never travels with the gate.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import aiomysql
import httpx
from botocore.exceptions import BotoCoreError, ClientError

from loadstack.credentials import get_json_secret
from loadstack.gates.checks import GateResult, check_http, check_lb_targets, check_prometheus, check_sql
from loadstack.gates.models import DATABASE_OUTPUTS, HttpGate, LbTargetsGate, PrometheusGate, SqlGate
from loadstack.profiles import Profile, ProfileError
from loadstack.prometheus.query import instant_query_url

ProfileFactory = Callable[[], Profile]
AWS_ERRORS = (BotoCoreError, ClientError, ProfileError)


@dataclass(frozen=True)
class DatabaseEndpoint:
    """Where a SQL gate connects, from its database step's outputs; the password stays in `secret_id`."""

    host: str
    port: int
    database: str
    username: str
    secret_id: str

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any], step: str = "") -> DatabaseEndpoint:
        missing = [name for name in DATABASE_OUTPUTS if outputs.get(name) in (None, "")]
        if missing:
            raise ValueError(
                f"database step {step!r} has no output {', '.join(missing)}: a SQL gate needs a database step "
                f"(aurora_restore) that publishes {', '.join(DATABASE_OUTPUTS)}"
            )
        return cls(
            host=str(outputs["host"]),
            port=int(outputs["port"]),
            database=str(outputs["database"]),
            username=str(outputs["username"]),
            secret_id=str(outputs["secret_id"]),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _failure(what: str, exc: BaseException) -> GateResult:
    detail = str(exc) or "no detail"
    return GateResult(False, None, f"{what}: {type(exc).__name__}: {detail}")


class Probe(ABC):
    """Checks one gate, once per call to `check`; `aclose` releases what it holds."""

    @abstractmethod
    async def check(self) -> GateResult: ...

    async def aclose(self) -> None:
        return None


class HttpProbe(Probe):
    def __init__(self, gate: HttpGate) -> None:
        self.gate = gate
        self.condition = gate.parsed_condition()
        self._client: httpx.AsyncClient | None = None

    async def check(self) -> GateResult:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.gate.request_timeout_seconds, follow_redirects=False)
        try:
            response = await self._client.get(self.gate.url)
        except httpx.HTTPError as exc:
            return _failure(f"GET {self.gate.url}", exc)
        body = self.gate.body
        return check_http(
            response.status_code,
            response.content,
            expect_status=self.gate.expect_status,
            path=body.path if body else None,
            condition=self.condition,
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class PrometheusProbe(Probe):
    def __init__(self, gate: PrometheusGate) -> None:
        self.gate = gate
        self.condition = gate.parsed_condition()
        self._client: httpx.AsyncClient | None = None

    async def check(self) -> GateResult:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.gate.request_timeout_seconds)
        url = instant_query_url(self.gate.url, self.gate.query)
        try:
            response = await self._client.get(url)
            body = response.json()  # Prometheus answers JSON for refused queries (HTTP 400/422) too
        except httpx.HTTPError as exc:
            return _failure(f"Prometheus at {self.gate.url}", exc)
        except ValueError:
            return GateResult(
                False, None, f"Prometheus at {self.gate.url} answered HTTP {response.status_code}, not JSON"
            )
        return check_prometheus(body, self.gate.query, self.condition)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class SqlProbe(Probe):
    """A fresh connection per check: the database may be restarted while the gate waits."""

    def __init__(self, gate: SqlGate, endpoint: DatabaseEndpoint, profile: ProfileFactory) -> None:
        self.gate = gate
        self.endpoint = endpoint
        self.condition = gate.parsed_condition()
        self._profile = profile
        self._password: str | None = None

    async def _read_password(self) -> str:
        if self._password is None:
            secret = await asyncio.to_thread(lambda: get_json_secret(self._profile(), self.endpoint.secret_id))
            self._password = str(secret["password"])
        return self._password

    async def check(self) -> GateResult:
        where = f"{self.endpoint.username}@{self.endpoint.host}:{self.endpoint.port}/{self.endpoint.database}"
        try:
            password = await self._read_password()
        except (*AWS_ERRORS, KeyError, ValueError) as exc:  # no such secret, no password in it, no AWS access
            return _failure(f"reading the password of {where} from secret {self.endpoint.secret_id!r}", exc)
        try:
            rows = await asyncio.wait_for(self._query(password), self.gate.query_timeout_seconds)
        except TimeoutError:
            return GateResult(False, None, f"{where}: no answer within {self.gate.query_timeout_seconds:g} s")
        except (aiomysql.Error, OSError) as exc:
            return _failure(where, exc)
        return check_sql(rows, self.condition)

    async def _query(self, password: str) -> list[tuple[Any, ...]]:
        connection = await aiomysql.connect(
            host=self.endpoint.host,
            port=self.endpoint.port,
            user=self.endpoint.username,
            password=password,
            db=self.endpoint.database,
            connect_timeout=self.gate.query_timeout_seconds,
            autocommit=True,
        )
        try:
            async with connection.cursor() as cursor:
                await cursor.execute(self.gate.query)
                return list(await cursor.fetchall())
        finally:
            connection.close()


class LbTargetsProbe(Probe):
    """ELBv2 through the profile's boto3 client (moto on the local profile), in worker threads."""

    def __init__(self, gate: LbTargetsGate, profile: ProfileFactory) -> None:
        self.gate = gate
        self._profile = profile
        self._client: Any = None

    async def check(self) -> GateResult:
        try:
            if self._client is None:
                self._client = await asyncio.to_thread(lambda: self._profile().client("elbv2"))
            response = await asyncio.to_thread(
                self._client.describe_target_health, TargetGroupArn=self.gate.target_group_arn
            )
        except AWS_ERRORS as exc:  # an unknown group, no access, the endpoint down: keep polling
            return _failure(f"target group {self.gate.target_group_arn}", exc)
        return check_lb_targets(response, self.gate.min_healthy)


def probe_for(gate: Any, *, profile: ProfileFactory, database: DatabaseEndpoint | None = None) -> Probe:
    """The probe for a resolved gate; `profile` is called (in a thread) only by probes that use AWS."""
    if isinstance(gate, HttpGate):
        return HttpProbe(gate)
    if isinstance(gate, PrometheusGate):
        return PrometheusProbe(gate)
    if isinstance(gate, SqlGate):
        if database is None:
            raise ValueError(f"gate {gate.name}: a SQL gate needs the endpoint of its database step {gate.database!r}")
        return SqlProbe(gate, database, profile)
    if isinstance(gate, LbTargetsGate):
        return LbTargetsProbe(gate, profile)
    raise TypeError(f"no probe for {type(gate).__name__}")
