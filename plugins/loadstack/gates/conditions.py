"""The small condition language gates compare an observed value with, e.g. `>= 40000`, `== ok`, `< 0.01`,
`in [ok, degraded]`.

A condition is one operator and one operand (a list for `in` / `not in`); it is parsed once, when the
spec is read, so a typo fails there and not after a gate has waited its whole timeout. Numbers compare
as numbers (an observed "42" is 42); anything else compares as text. An observed None means "no data":
it satisfies no condition, whatever the operator (Prometheus answers NaN without traffic; a query may
return no row).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")
ORDERINGS = (">=", "<=", ">", "<")
EXAMPLES = "'>= 40000', '== ok', '< 0.01', 'in [ok, degraded]'"
_COMPARISON = re.compile(r"^(==|!=|>=|<=|>|<)\s*(.+)$", re.DOTALL)
_MEMBERSHIP = re.compile(r"^(not\s+in|in)\s*\[(.*)\]$", re.DOTALL)

Operand = float | str


class ConditionError(ValueError):
    """A condition that does not parse; the message quotes it and shows the forms that do."""


def _operand(text: str) -> Operand:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]  # quoted: always text, e.g. '== "200"' or a value holding a comma
    number = as_number(text)
    return text if number is None else number


def as_number(value: Any) -> float | None:
    """`value` as a finite number, or None when it is not one (bools are not numbers here)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def show(value: Any) -> str:
    """A value as a person reads it in a message: 40000 not 40000.0, text unquoted, None as "no data"."""
    if value is None:
        return "no data"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str


@dataclass(frozen=True)
class Condition:
    """A parsed condition: `operator` is one of COMPARISONS, "in" or "not in"."""

    text: str
    operator: str
    operand: Operand | tuple[Operand, ...]

    def __str__(self) -> str:
        return self.text

    def evaluate(self, observed: Any) -> Verdict:
        """Whether `observed` satisfies the condition, and why (naming the value and the condition)."""
        if observed is None:
            return Verdict(False, f"no data, so {self.text} is unknown")
        if self.operator in ("in", "not in"):
            assert isinstance(self.operand, tuple)
            member = any(_equal(observed, item) for item in self.operand)
            passed = member if self.operator == "in" else not member
        elif self.operator in ORDERINGS:
            value, bound = as_number(observed), as_number(self.operand)
            if value is None:
                return Verdict(False, f"{show(observed)} is not a number, so {self.text} cannot hold")
            assert bound is not None
            passed = {">=": value >= bound, "<=": value <= bound, ">": value > bound, "<": value < bound}[self.operator]
        else:
            equal = _equal(observed, self.operand)
            passed = equal if self.operator == "==" else not equal
        return Verdict(passed, f"{show(observed)} {'satisfies' if passed else 'does not satisfy'} {self.text}")


def _equal(observed: Any, operand: Operand) -> bool:
    if isinstance(operand, float):
        number = as_number(observed)
        return number is not None and number == operand
    return show(observed) == operand


def parse_condition(text: str) -> Condition:
    """Parse `text` once; raises ConditionError naming the text and the fix."""
    if not isinstance(text, str):
        raise ConditionError(f"condition {text!r} is a {type(text).__name__}: write it as text, e.g. {EXAMPLES}")
    stripped = " ".join(text.split()) if "\n" in text else text.strip()
    if membership := _MEMBERSHIP.match(stripped):
        operator = " ".join(membership.group(1).split())
        inner = membership.group(2).strip()
        if not inner:
            raise ConditionError(
                f"condition {text!r}: the list is empty; name at least one value, e.g. 'in [ok, degraded]'"
            )
        items = tuple(_operand(item) for item in _split_list(inner, text))
        return Condition(stripped, operator, items)
    if comparison := _COMPARISON.match(stripped):
        operator, operand_text = comparison.group(1), comparison.group(2).strip()
        if operand_text[:1] in "=<>!":
            raise ConditionError(
                f"condition {text!r}: unknown operator; use one of {', '.join(COMPARISONS)}, in, not in"
            )
        operand = _operand(operand_text)
        if operator in ORDERINGS and not isinstance(operand, float):
            raise ConditionError(
                f"condition {text!r}: {operator} compares numbers, and {operand_text!r} is not one; "
                f"use == or in [...] for text"
            )
        return Condition(stripped, operator, operand)
    if stripped.startswith(("in ", "not in ", "in[")):
        raise ConditionError(f"condition {text!r}: write the values in brackets, e.g. 'in [ok, degraded]'")
    if stripped[:2] in ("=>", "=<"):
        raise ConditionError(f"condition {text!r}: unknown operator {stripped[:2]}; write {stripped[1]}= instead")
    if stripped.startswith("="):
        raise ConditionError(f"condition {text!r}: write == for equality, e.g. '== ok'")
    raise ConditionError(
        f"condition {text!r} does not parse: start with an operator ({', '.join(COMPARISONS)}, in, not in), e.g. {EXAMPLES}"
    )


def _split_list(inner: str, text: str) -> list[str]:
    """Split a list's items on commas outside quotes."""
    items, current, quote = [], "", ""
    for char in inner:
        if quote:
            current += char
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            current += char
        elif char == ",":
            items.append(current)
            current = ""
        else:
            current += char
    if quote:
        raise ConditionError(f"condition {text!r}: a quote is not closed")
    items.append(current)
    if any(not item.strip() for item in items):
        raise ConditionError(f"condition {text!r}: the list has an empty item; remove the extra comma")
    return items
