"""`${...}` references inside spec values.

    ${steps.<step>.outputs.<name>}   another step's output (also adds the dependency edge)
    ${outputs.<name>}                the current step's own output (completion handlers only)
    ${stack.name} ${stack.owner} ${stack.variant}
    $${...}                          a literal `${...}`

A value that is exactly one reference resolves to the referenced value with its type (a list stays
a list); a reference embedded in a longer string is interpolated as text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_IDENT = r"[A-Za-z_][A-Za-z0-9_-]*"
_STEP_OUTPUT = re.compile(rf"^steps\.({_IDENT})\.outputs\.({_IDENT})$")
_OWN_OUTPUT = re.compile(rf"^outputs\.({_IDENT})$")
STACK_FIELDS = ("name", "owner", "variant")


class RefSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Ref:
    """One parsed reference. `step` is None for the step's own outputs and for stack fields."""

    scope: str  # "step" | "own" | "stack"
    name: str
    step: str | None = None

    def __str__(self) -> str:
        if self.scope == "step":
            return f"${{steps.{self.step}.outputs.{self.name}}}"
        if self.scope == "own":
            return f"${{outputs.{self.name}}}"
        return f"${{stack.{self.name}}}"


def parse_ref(expression: str) -> Ref:
    text = expression.strip()
    if m := _STEP_OUTPUT.fullmatch(text):
        return Ref("step", m.group(2), m.group(1))
    if m := _OWN_OUTPUT.fullmatch(text):
        return Ref("own", m.group(1))
    if text.startswith("stack."):
        field = text[len("stack.") :]
        if field in STACK_FIELDS:
            return Ref("stack", field)
        raise RefSyntaxError(
            f"unknown stack field '${{{text}}}' (known: {', '.join('stack.' + f for f in STACK_FIELDS)})"
        )
    raise RefSyntaxError(
        f"bad reference '${{{text}}}': use ${{steps.<step>.outputs.<name>}}, ${{outputs.<name>}} "
        "or ${stack.name|owner|variant} (write $${...} for a literal)"
    )


def is_whole_reference(text: str) -> bool:
    """Whether `text` is exactly one reference: it then resolves to the referenced value, type and all."""
    whole = _TOKEN.fullmatch(text)
    return bool(whole) and whole.group(0) != "$${"


def refs_in_string(text: str) -> list[Ref]:
    return [parse_ref(m.group(1)) for m in _TOKEN.finditer(text) if m.group(0) != "$${"]


def walk_refs(value: Any, path: str = "") -> Iterator[tuple[str, Ref | RefSyntaxError]]:
    """Every reference in a nested value, with its dotted path; syntax errors are yielded, not raised."""
    if isinstance(value, str):
        for m in _TOKEN.finditer(value):
            if m.group(0) == "$${":
                continue
            try:
                yield path, parse_ref(m.group(1))
            except RefSyntaxError as exc:
                yield path, exc
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk_refs(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_refs(item, f"{path}[{index}]")


def resolve(value: Any, lookup: Callable[[Ref], Any]) -> Any:
    """Replace every reference in `value` using `lookup`; containers are copied, never mutated."""
    if isinstance(value, str):
        if is_whole_reference(value):
            return lookup(parse_ref(value[2:-1]))

        def interpolate(m: re.Match[str]) -> str:
            if m.group(0) == "$${":
                return "${"
            found = lookup(parse_ref(m.group(1)))
            return found if isinstance(found, str) else json.dumps(found)

        return _TOKEN.sub(interpolate, value)
    if isinstance(value, dict):
        return {key: resolve(item, lookup) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, lookup) for item in value]
    return value
