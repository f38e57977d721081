"""A saved plan's JSON (`terraform show -json <planfile>`) → the resources it would change.

Drift is judged from `resource_changes` (what an apply would do), never from `resource_drift`:
with provider 5.x that fires on most resources at every refresh for null → empty changes.
The plan document holds every value, sensitive ones included. What leaves this module holds the
names of changed attributes always, and their values only when neither side is sensitive.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# Actions that change nothing in the account: no drift.
QUIET_ACTIONS = (("no-op",), ("read",))
# A value longer than this (a policy document, a user_data script) is cut in reports.
MAX_VALUE_CHARS = 200
HIDDEN = "(sensitive)"
UNKNOWN = "(known after apply)"


class PlanFormatError(ValueError):
    """The document is not a Terraform JSON plan; names what is missing."""


@dataclass(frozen=True)
class AttributeChange:
    """One top-level attribute whose value would change; `before`/`after` are display text, and
    `HIDDEN` whenever either side is sensitive."""

    name: str
    before: str
    after: str
    sensitive: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ResourceDrift:
    address: str
    type: str
    actions: tuple[str, ...]
    attributes: tuple[AttributeChange, ...] = ()
    # Why an update became a replacement: the attribute paths Terraform names (`replace_paths`).
    replace_paths: tuple[str, ...] = ()
    action_reason: str | None = None

    @property
    def action(self) -> str:
        """One word for the actions: create, update, delete, replace (delete+create either way), forget."""
        if set(self.actions) == {"create", "delete"}:
            return "replace"
        return "+".join(self.actions)

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "type": self.type,
            "action": self.action,
            "actions": list(self.actions),
            "attributes": [a.to_json() for a in self.attributes],
            "replace_paths": list(self.replace_paths),
            "action_reason": self.action_reason,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResourceDrift:
        return cls(
            address=data["address"],
            type=data["type"],
            actions=tuple(data["actions"]),
            attributes=tuple(AttributeChange(**a) for a in data.get("attributes", ())),
            replace_paths=tuple(data.get("replace_paths", ())),
            action_reason=data.get("action_reason"),
        )


@dataclass(frozen=True)
class PlannedChanges:
    """What a plan would do: changed resources and the names of changed outputs (never their values)."""

    resources: tuple[ResourceDrift, ...] = ()
    outputs: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not self.resources and not self.outputs


def contains_true(marks: Any) -> bool:
    """Whether a `*_sensitive` / `after_unknown` mark (a bool, or an object / list mirroring the value)
    marks anything inside it."""
    if marks is True:
        return True
    if isinstance(marks, Mapping):
        return any(contains_true(v) for v in marks.values())
    if isinstance(marks, list):
        return any(contains_true(v) for v in marks)
    return False


def _mark_for(marks: Any, name: str) -> Any:
    """The part of a mark that covers attribute `name` (a whole-object `true` covers every attribute)."""
    if marks is True:
        return True
    if isinstance(marks, Mapping):
        return marks.get(name, False)
    return False


def display_value(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def attribute_changes(change: Mapping[str, Any]) -> tuple[AttributeChange, ...]:
    """Top-level attributes that differ between `before` and `after` (or become unknown) in one change."""
    before, after = change.get("before"), change.get("after")
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        return ()  # a create or a delete: the whole resource changes, not some of its attributes
    unknown = change.get("after_unknown") or {}
    found = []
    for name in sorted({*before, *after}):
        becomes_unknown = contains_true(_mark_for(unknown, name))
        if before.get(name) == after.get(name) and not becomes_unknown:
            continue
        sensitive = contains_true(_mark_for(change.get("before_sensitive"), name)) or contains_true(
            _mark_for(change.get("after_sensitive"), name)
        )
        if sensitive:
            found.append(AttributeChange(name, HIDDEN, HIDDEN, sensitive=True))
            continue
        shown_after = UNKNOWN if becomes_unknown else display_value(after.get(name))
        found.append(AttributeChange(name, display_value(before.get(name)), shown_after))
    return tuple(found)


def _path_text(path: Any) -> str:
    if isinstance(path, list):
        return ".".join(str(part) for part in path)
    return str(path)


def planned_changes(plan: Mapping[str, Any]) -> PlannedChanges:
    """The resources a plan would change (actions other than no-op and read), and changed output names."""
    if not isinstance(plan, Mapping) or "format_version" not in plan:
        raise PlanFormatError(
            "not a Terraform JSON plan (no format_version): expected the output of `terraform show -json <planfile>`"
        )
    resources = []
    for item in plan.get("resource_changes") or ():
        change = item.get("change") or {}
        actions = tuple(change.get("actions") or ())
        if not actions or actions in QUIET_ACTIONS:
            continue
        resources.append(
            ResourceDrift(
                address=item.get("address", "?"),
                type=item.get("type", "?"),
                actions=actions,
                attributes=attribute_changes(change),
                replace_paths=tuple(_path_text(p) for p in change.get("replace_paths") or ()),
                action_reason=item.get("action_reason"),
            )
        )
    outputs = tuple(
        sorted(
            name
            for name, change in (plan.get("output_changes") or {}).items()
            if tuple((change or {}).get("actions") or ()) not in ((), *QUIET_ACTIONS)
        )
    )
    return PlannedChanges(resources=tuple(resources), outputs=outputs)
