"""Completion handlers: publish a finished step's outputs to a settings store.

Handlers are a registry keyed by the name a spec uses in `on_complete[].handler`. Each one declares a
pydantic config model (checked when the spec is parsed) and a `publish` that is idempotent: running
it again with the same values changes nothing and reports `unchanged`.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from loadstack.issues import unknown_name
from loadstack.profiles import Profile

_REFERENCE = re.compile(r"\$\{[^}]*\}")


def encode_text(value: Any) -> str:
    """Strings as they are; anything else as canonical JSON, so a rerun compares equal values equal."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def literal_parts(text: str) -> str:
    """`text` with each `${...}` reference replaced by "x": at parse time references are unresolved,
    so a config validator can check only the literal parts."""
    return _REFERENCE.sub("x", text)


class HandlerConfig(BaseModel):
    """Base for every handler's config; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class PublishResult(str, Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class VariableStore(Protocol):
    """Key/value settings of the orchestrator a handler runs in (Airflow Variables, in a task)."""

    def get(self, key: str) -> str | None:
        """The stored text, or None when the key is not set."""

    def set(self, key: str, value: Any, *, description: str | None, serialize_json: bool) -> None: ...


@dataclass(frozen=True)
class HandlerContext:
    stack: str
    step: str
    profile: Profile
    # Given by the runtime that runs the handler; None outside one (parse time, the CLI).
    variables: VariableStore | None = None


class CompletionHandler(ABC):
    """One handler type. Subclasses set `name` and `Config`, and implement `publish`."""

    name: ClassVar[str]
    Config: ClassVar[type[HandlerConfig]]
    # Fields whose resolved value is a secret: masked in logs, never echoed.
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: HandlerConfig, context: HandlerContext) -> None:
        self.config = config
        self.context = context

    @classmethod
    def validate_config(cls, raw: dict[str, Any]) -> HandlerConfig:
        """Parse-time check; `raw` may still hold `${...}` references in string fields."""
        return cls.Config.model_validate(raw)

    def check(self) -> None:  # noqa: B027 - optional hook
        """Extra parse-time checks that need more than the model (e.g. a callable resolves)."""

    @abstractmethod
    def publish(self) -> PublishResult:
        """Write the configured value; a rerun with the same value must be a no-op."""

    def describe(self) -> str:
        """A one-line, secret-free description for logs (e.g. `ssm:/loadstack/shop/vpc_id`)."""
        return self.name


HANDLERS: dict[str, type[CompletionHandler]] = {}


def register_handler(cls: type[CompletionHandler]) -> type[CompletionHandler]:
    if cls.name in HANDLERS and HANDLERS[cls.name] is not cls:
        raise ValueError(f"completion handler {cls.name!r} is registered twice")
    HANDLERS[cls.name] = cls
    return cls


class UnknownHandlerError(KeyError):
    """No registered handler has this name; or what was given is no name at all (a list, a mapping)."""

    def __init__(self, name: object) -> None:
        # unknown_name says "must be a handler name (got a list); known: ..." for what is not text.
        super().__init__(unknown_name("handler", name, HANDLERS))  # type: ignore[arg-type]
        self.message = self.args[0]


def get_handler(name: object) -> type[CompletionHandler]:
    """A registered handler class (importing any module of this package registers the built-ins first).
    `name` is what a spec gave: anything but a registered name raises UnknownHandlerError."""
    if not isinstance(name, str) or name not in HANDLERS:
        raise UnknownHandlerError(name)
    return HANDLERS[name]
