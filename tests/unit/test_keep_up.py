"""Whether a run keeps its stack up: the Param when set, else the kind of run."""

from __future__ import annotations

import pytest

from loadstack.keep_up import describe, keeps_stack_up


@pytest.mark.parametrize(("keep_up", "run_type", "kept"), [
    (None, "manual", True),
    (None, "scheduled", False),
    (None, "backfill", False),
    (None, "asset_triggered", False),
    (False, "manual", False),
    (True, "scheduled", True),
    (True, "backfill", True),
])
def test_the_param_decides_when_set_else_the_run_type(keep_up, run_type, kept):
    assert keeps_stack_up(keep_up, run_type) is kept


def test_the_log_line_says_why():
    assert describe(None, "scheduled") == "tears the stack down (keep_up unset and this is a scheduled run)"
    assert describe(True, "scheduled") == "keeps the stack up (keep_up=True)"
