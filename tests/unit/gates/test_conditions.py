"""loadstack.gates.conditions: parsing once, clear errors, and evaluation (numbers, text, lists, no data)."""

from __future__ import annotations

import pytest

from loadstack.gates.conditions import ConditionError, parse_condition, show


@pytest.mark.parametrize(
    ("text", "operator", "operand"),
    [
        (">= 40000", ">=", 40000.0),
        ("<0.01", "<", 0.01),
        ("== ok", "==", "ok"),
        ("!= 'down'", "!=", "down"),
        ('== "200"', "==", "200"),
        ("in [ok, degraded]", "in", ("ok", "degraded")),
        ("not  in [1, 'a,b']", "not in", (1.0, "a,b")),
        ("  > -3  ", ">", -3.0),
    ],
)
def test_parses(text, operator, operand):
    condition = parse_condition(text)
    assert (condition.operator, condition.operand) == (operator, operand)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("40000", "start with an operator"),
        ("= ok", "write == for equality"),
        (">= lots", "compares numbers, and 'lots' is not one"),
        ("=> 5", "unknown operator =>; write >= instead"),
        (">== 5", "unknown operator"),
        ("in ok, degraded", "write the values in brackets"),
        ("in []", "the list is empty"),
        ("in [a,,b]", "empty item"),
        ("in ['a, b]", "quote is not closed"),
        ("", "does not parse"),
    ],
)
def test_errors_name_the_text_and_the_fix(text, says):
    with pytest.raises(ConditionError) as caught:
        parse_condition(text)
    assert says in str(caught.value) and repr(text) in str(caught.value)


def test_a_non_string_condition_is_refused():
    with pytest.raises(ConditionError, match="is a int: write it as text"):
        parse_condition(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "observed", "passed"),
    [
        (">= 40000", 40000, True),
        (">= 40000", "50000", True),  # numbers that arrive as text compare as numbers
        (">= 40000", 39999.5, False),
        ("< 0.01", 0.001, True),
        ("< 0.01", 0.01, False),
        ("== 200", 200, True),
        ("== 200", "200.0", True),
        ("== ok", "ok", True),
        ("== ok", "OK", False),
        ("== true", True, True),
        ("!= down", "up", True),
        ("in [ok, degraded]", "degraded", True),
        ("in [ok, degraded]", "down", False),
        ("in [1, 2]", 2, True),
        ("not in [down]", "ok", True),
        ("not in [down]", "down", False),
    ],
)
def test_evaluates(text, observed, passed):
    verdict = parse_condition(text).evaluate(observed)
    assert verdict.passed is passed
    assert ("does not satisfy" in verdict.reason) is not passed


def test_no_data_satisfies_nothing_not_even_a_negation():
    for text in (">= 0", "< 1e9", "!= ok", "not in [a]"):
        verdict = parse_condition(text).evaluate(None)
        assert not verdict.passed and "no data" in verdict.reason


def test_an_ordering_on_text_fails_with_the_value():
    verdict = parse_condition(">= 1").evaluate("ready")
    assert not verdict.passed and verdict.reason == "ready is not a number, so >= 1 cannot hold"


def test_show():
    assert [show(v) for v in (None, True, 40000.0, 0.25, "ok", 3)] == ["no data", "true", "40000", "0.25", "ok", "3"]
