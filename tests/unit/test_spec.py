"""Every invalid spec in the corpus fails with exactly the messages written in its `# expect:` lines."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from loadstack.spec import _STEP_NAME, SpecError, Stack, _slug, load_stack, parse_stack

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BAD = sorted((FIXTURES / "bad_specs").glob("*.yaml"))


def expected_lines(path: Path) -> list[str]:
    return [line.split("# expect: ", 1)[1].rstrip() for line in path.read_text().splitlines() if line.startswith("# expect: ")]


def test_corpus_is_not_empty():
    assert len(BAD) >= 25


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_spec_reports_exact_messages(path: Path):
    display = f"include/stacks/{path.name}"
    with pytest.raises(SpecError) as caught:
        load_stack(path, modules_dir=FIXTURES / "modules", display=display)
    expected = sorted(f"{display}: {line}" for line in expected_lines(path))
    assert expected, f"{path.name} has no '# expect:' line"
    assert sorted(caught.value.lines()) == expected


# --- every malformed spec: one short line per problem, never a traceback -----------------------------

CLASS_NAME = re.compile(r"\b[A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+\b|\binstance of\b|\bInput should be a valid\b")


def corpus_lines(path: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_stack(path, modules_dir=FIXTURES / "modules", display=path.name)
    return caught.value.lines()


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_no_corpus_message_names_a_class_or_breaks_a_line(path: Path):
    for line in corpus_lines(path):
        assert not CLASS_NAME.search(line), line
        assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029]", line), line


def parse(steps: dict[str, Any]) -> Stack:
    data = {"name": "s", "description": "d", "owner": "sre", "steps": steps}
    # stacks/ beside fixtures/snapshots/: the snapshots the steps name.
    return parse_stack(data, source="s.yaml", path=FIXTURES / "stacks" / "s.yaml", modules_dir=FIXTURES / "modules")


def spec_lines(steps: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse(steps)
    return caught.value.lines()


def test_a_name_with_a_trailing_line_break_is_no_step_name():
    lines = spec_lines({"network\n": {"kind": "terraform", "module": "network"}})
    assert lines == [
        "s.yaml: steps.network\\n: step name 'network\\n' must match ^[a-z][a-z0-9_]{0,48}$ (e.g. 'network')"
    ]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_a_suggested_step_name_is_itself_a_valid_step_name(name):
    others = {"network": {"kind": "terraform", "module": "network"}}
    assume(not _STEP_NAME.fullmatch(name) and name not in others)
    lines = spec_lines({**others, name: {"kind": "terraform", "module": "network"}})
    suggested = [m.group(1) for line in lines if (m := re.search(r"\(e\.g\. '([^']*)'\)$", line))]
    assert len(suggested) == 1, lines
    assert _STEP_NAME.fullmatch(suggested[0]) and suggested[0] not in others


@pytest.mark.parametrize("name", ["Network", "1st", "a" * 60, "__", "é", "network"])
def test_slug_is_valid_and_not_taken(name):
    slug = _slug(name, taken=["network"])
    assert _STEP_NAME.fullmatch(slug) and slug != "network"


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=12), st.just({"kind": "terraform", "module": "network"}), max_size=6),
       st.text(max_size=12))
def test_did_you_mean_only_suggests_valid_step_names(steps, typo):
    assume(steps and typo not in steps)
    steps = {**steps, "app": {"kind": "terraform", "module": "network", "depends": [typo]}}
    try:
        parse(steps)
    except SpecError as exc:
        for line in exc.lines():
            for suggestion in re.findall(r"did you mean '([^']*)'\?", line):
                if "unknown step" in line:
                    assert _STEP_NAME.fullmatch(suggestion), line


def test_a_misnamed_step_is_not_suggested():
    lines = spec_lines({
        "Network": {"kind": "terraform", "module": "network"},
        "app": {"kind": "terraform", "module": "app", "depends": ["networkk"]},
    })
    assert "s.yaml: steps.app.depends[0]: unknown step 'networkk' (known: none)" in lines


def test_one_typo_repeated_over_a_big_spec_gives_one_short_line_per_step():
    steps = {f"step_{i:04d}": {"kind": "terraform", "module": "network", "depends": [f"stpe_{(i + 1) % 2000:04d}"]}
             for i in range(2000)}
    started = time.monotonic()
    lines = spec_lines(steps)
    assert time.monotonic() - started < 60
    assert len(lines) == 2000
    assert max(len(line) for line in lines) < 400
    assert lines[0] == (
        "s.yaml: steps.step_0000.depends[0]: unknown step 'stpe_0001' (did you mean 'step_0001'? known: step_0001, "
        "step_0002, step_0003, step_0004, step_0005, step_0006, step_0007, step_0008, step_0009, step_0010, step_0011, "
        "step_0012, and 1987 more)"
    )


def chain(length: int, *, cycle: bool = False) -> dict[str, Any]:
    steps: dict[str, Any] = {f"s{i:04d}": {"kind": "terraform", "module": "network", "depends": [f"s{i - 1:04d}"]}
                             for i in range(1, length)}
    steps["s0000"] = {"kind": "terraform", "module": "network", "depends": [f"s{length - 1:04d}"] if cycle else []}
    return steps


def test_a_long_chain_validates():
    stack = parse(chain(3000))
    assert stack.graph.topological_order()[:2] == ["s0000", "s0001"]
    assert len(stack.graph.ancestors("s2999")) == 2999


def test_a_cycle_through_a_long_chain_is_reported_in_one_short_line():
    lines = spec_lines(chain(3000, cycle=True))
    assert lines == [
        ("s.yaml: steps: cycle: s0000 -> s0001 -> s0002 -> s0003 -> s0004 -> s0005 -> s0006 -> s0007 -> s0008 -> ... "
         "(2989 more) -> s2998 -> s2999 -> s0000; remove one of these dependencies")
    ]


def test_outputs_are_checked_only_where_the_kind_declares_them():
    stack = parse({
        "network": {"kind": "terraform", "module": "network"},
        "db": {"kind": "aurora_restore", "snapshot": "fx-seeded"},
        "app": {"kind": "terraform", "module": "app",
                "vars": {"vpc_id": "${steps.network.outputs.vpc_id}", "db_host": "${steps.db.outputs.anything}"}},
    })
    assert stack.steps["network"].declared_outputs(FIXTURES / "modules") == {
        "vpc_id", "subnet_ids", "db_subnet_group", "db_security_group_ids", "cache_sg",
    }
    assert stack.steps["db"].declared_outputs(FIXTURES / "modules") is None


def test_a_value_too_long_for_a_file_name_is_an_error_not_a_crash():
    # `module` and `load.locustfile` name files: 5,000 characters is ENAMETOOLONG to the file system.
    huge = "x" * 5000
    lines = spec_lines({"net": {"kind": "terraform", "module": huge}})
    assert any("net.module: unknown module 'xxx" in line for line in lines), lines
    assert all(len(line) < 1000 for line in lines), [len(line) for line in lines]


def test_a_long_value_echoed_in_a_message_is_cut_in_the_middle_keeping_the_fix():
    huge = "y " * 2500
    lines = spec_lines({"a": {"kind": "terraform", "module": "network", "depends": [huge]}})
    assert lines and all(len(line) <= 1000 for line in lines), [len(line) for line in lines]
    assert any(line.startswith("s.yaml: steps.a.depends") and " ... " in line and "known:" in line for line in lines), lines
