"""How a stack spec declares gates: one list under a ramp step, each item a gate of one `kind`.

    gates:
      - name: app_healthy
        kind: http
        url: ${steps.app.outputs.url}/health
        body: {path: status, condition: "== ok"}
      - name: events_seeded
        kind: sql
        database: shop_db                  # a database step: its outputs say where and as whom
        query: SELECT COUNT(*) FROM events_0
        condition: ">= 40000"
      - name: app_scraped
        kind: prometheus
        url: ${steps.monitoring.outputs.url}
        query: sum(up{job="shopapp"})
        condition: ">= 2"
      - name: targets_healthy
        kind: lb_targets
        target_group_arn: ${steps.app.outputs.target_group_arn}
        min_healthy: 2

Text fields may hold `${steps.X.outputs.Y}` references; they are resolved before a gate is checked,
so a condition that holds one is parsed only then.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from loadstack.gates.conditions import Condition, parse_condition
from loadstack.refs import is_whole_reference, refs_in_string

GATE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,48}$"
# What a database step publishes (loadstack.restore.local_database and the aws restore alike).
DATABASE_OUTPUTS = ("host", "port", "database", "username", "secret_id")


def _has_reference(text: str) -> bool:
    try:
        return bool(refs_in_string(text))
    except ValueError:
        return "${" in text


def _parsable_condition(text: str) -> str:
    if not _has_reference(text):
        parse_condition(text)
    return text


ConditionText = Annotated[
    str,
    AfterValidator(_parsable_condition),
    Field(description="an operator and a value: '>= 40000', '== ok', '< 0.01', 'in [ok, degraded]'"),
]


class GateBase(BaseModel):
    """What every gate has: a name for messages and task ids, how often to look, how long to wait."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=GATE_NAME_PATTERN, description="unique among the step's gates; names its task")
    poke_interval_seconds: float = Field(default=10, gt=0, le=3600, description="seconds between two checks")
    timeout_seconds: float = Field(
        default=600, gt=0, le=24 * 3600, description="the gate fails if its condition has not held by then"
    )

    def parsed_condition(self) -> Condition | None:
        """The parsed condition (None for kinds that have none); call on a resolved gate."""
        return None

    def describe(self) -> str:
        """What must hold, for messages: e.g. `value >= 40000`."""
        raise NotImplementedError

    def step_links(self) -> list[tuple[str, str]]:
        """Steps this gate names outside references, as (field, step)."""
        return []


class JsonBodyCondition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, description="dotted path into the JSON body; numbers index lists: checks.0.status")
    condition: ConditionText


class HttpGate(GateBase):
    """A GET that answers `expect_status` (and, optionally, a JSON body whose field satisfies a condition)."""

    kind: Literal["http"]
    url: str = Field(description="http(s) URL to GET")
    expect_status: int = Field(default=200, ge=100, le=599, description="the HTTP status that passes")
    body: JsonBodyCondition | None = Field(default=None, description="a condition on one field of the JSON body")
    request_timeout_seconds: float = Field(default=10, gt=0, le=300, description="one request's time limit")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not is_whole_reference(url) and not url.startswith(("http://", "https://", "${")):
            raise ValueError(f"{url!r} is not an http(s) URL: write http://host:port/path")
        return url

    def parsed_condition(self) -> Condition | None:
        return parse_condition(self.body.condition) if self.body else None

    def describe(self) -> str:
        status = f"HTTP {self.expect_status}"
        return f"{status} and {self.body.path} {self.body.condition}" if self.body else status


class SqlGate(GateBase):
    """A query on a database step's database, returning one value that satisfies `condition`."""

    kind: Literal["sql"]
    database: str = Field(description="the database step (e.g. an aurora_restore step) whose database is queried")
    query: str = Field(min_length=1, description="SQL returning one row of one column, e.g. SELECT COUNT(*) FROM t")
    condition: ConditionText
    query_timeout_seconds: float = Field(default=30, gt=0, le=3600, description="one connection and query's time limit")

    def parsed_condition(self) -> Condition:
        return parse_condition(self.condition)

    def step_links(self) -> list[tuple[str, str]]:
        return [("database", self.database)]

    def database_references(self) -> dict[str, str]:
        """References to the database step's outputs the gate connects with (resolved like any field)."""
        return {name: f"${{steps.{self.database}.outputs.{name}}}" for name in DATABASE_OUTPUTS}

    def describe(self) -> str:
        return f"value {self.condition}"


class PrometheusGate(GateBase):
    """A PromQL instant query (aggregated to one number) that satisfies `condition`."""

    kind: Literal["prometheus"]
    url: str = Field(description="the Prometheus server's base URL, e.g. http://127.0.0.1:9090")
    query: str = Field(min_length=1, description='PromQL giving one series or a scalar, e.g. sum(up{job="shopapp"})')
    condition: ConditionText
    request_timeout_seconds: float = Field(default=10, gt=0, le=300, description="one request's time limit")

    def parsed_condition(self) -> Condition:
        return parse_condition(self.condition)

    def describe(self) -> str:
        return f"{self.query} {self.condition}"


class LbTargetsGate(GateBase):
    """At least `min_healthy` targets of an ELBv2 target group report `healthy`."""

    kind: Literal["lb_targets"]
    target_group_arn: str = Field(description="the target group's ARN")
    min_healthy: int = Field(default=1, ge=1, le=1000, description="how many targets must be healthy")

    def describe(self) -> str:
        return f"healthy targets >= {self.min_healthy}"


Gate = Annotated[HttpGate | SqlGate | PrometheusGate | LbTargetsGate, Field(discriminator="kind")]
GATE_KINDS = ("http", "sql", "prometheus", "lb_targets")


def _unique_names(gates: list[Any]) -> list[Any]:
    seen: set[str] = set()
    for gate in gates:
        if gate.name in seen:
            raise ValueError(f"two gates are named {gate.name!r}: give each gate its own name")
        seen.add(gate.name)
    return gates


GateList = Annotated[list[Gate], AfterValidator(_unique_names)]

_GATE = TypeAdapter(Gate)


def parse_gate(value: Any) -> HttpGate | SqlGate | PrometheusGate | LbTargetsGate:
    """A gate from its spec dict (or a resolved one): raises pydantic's ValidationError."""
    return _GATE.validate_python(value)
