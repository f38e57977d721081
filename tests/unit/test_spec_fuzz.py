"""Property-based fuzzing of spec loading: whatever the file holds, `load_stack` returns a Stack or raises a
SpecError whose lines are one line each, `<display>: ...`, of bounded length. Any other exception, a hang or a
crash of the interpreter is a bug.

The seeds are the real specs in include/stacks/ (with their modules in include/terraform and snapshots in
include/snapshots). Two families of mutations:

- structural: on the parsed data (delete a key, a value of another type, a step renamed or duplicated, an unknown
  key, a reference to random names, a dependency cycle), dumped back to YAML;
- textual: on the file's bytes (delete / insert / replace a byte range, random unicode and control characters,
  tabs, truncation, a duplicated line, changed indentation).

`make test` runs it derandomized and small (60 examples per test function). `make fuzz` runs it randomly:
LOADSTACK_FUZZ_RANDOM=1 (or FUZZ_RANDOM=1), FUZZ_EXAMPLES (default 1000) examples per test function.
"""

from __future__ import annotations

import copy
import os
import shutil
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from loadstack.spec import SpecError, Stack, load_stack

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "include" / "stacks").glob("*.yaml"))
MODULES = ROOT / "include" / "terraform"

# tests/conftest.py removes every LOADSTACK_* variable but LOADSTACK_HOME before this module is imported (a shell
# that sourced scripts/env.sh must not steer the tests), so `make fuzz` sets FUZZ_RANDOM=1 as well.
RANDOM = "1" in (os.environ.get("LOADSTACK_FUZZ_RANDOM"), os.environ.get("FUZZ_RANDOM"))
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000")) if RANDOM else 60
PER_EXAMPLE_S = 5  # hypothesis' deadline (a slow example) ...
HANG_S = 20  # ... and an alarm for one that never returns (the deadline is only checked once it has)
MAX_LINE = 2000

FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=not RANDOM,
    deadline=timedelta(seconds=PER_EXAMPLE_S),
    database=None,  # nothing written into the work tree; a failure prints its example (and a reproduce blob)
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """<tmp>/stacks/ for the mutated files, next to a copy of include/snapshots (specs look for ../snapshots)."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "stacks").mkdir()
    shutil.copytree(ROOT / "include" / "snapshots", root / "snapshots")
    return root


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"load_stack did not return within {HANG_S} s")


def check_loads_or_spec_error(workspace: Path, spec: Path, content: bytes) -> None:
    """The property. The file keeps the seed's name (a spec's name must match its file name)."""
    path = workspace / "stacks" / spec.name
    path.write_bytes(content)
    display = f"include/stacks/{spec.name}"
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_S)
    try:
        result = load_stack(path, modules_dir=MODULES, display=display)
    except SpecError as exc:
        lines = exc.lines()
        assert lines, "a SpecError without a problem"
        for line in lines:
            assert isinstance(line, str), f"a line that is a {type(line).__name__}: {line!r:.300}"
            assert line.startswith(f"{display}: "), f"a line that does not start with the file: {line!r:.300}"
            assert "\n" not in line and "\r" not in line, f"a line break inside a line: {line!r:.600}"
            assert len(line) < MAX_LINE, f"a line of {len(line)} characters: {line[:300]!r}..."
        return
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert isinstance(result, Stack), f"load_stack returned a {type(result).__name__}"


# --- structural mutations of the parsed data ------------------------------------------------------------
_SEEDS = {spec.name: yaml.safe_load(spec.read_text()) for spec in SPECS}


def _deep_list(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


NAMES = st.one_of(
    st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
    st.text(max_size=12),
    st.sampled_from(["", "steps", "name", "kind", "${x}", "a.b", "-", "Step", "x" * 300, "0", "null", "true"]),
)
# Fresh containers each draw (st.just([]) hands out one shared list: two mutations could nest it in itself).
OTHER_VALUES = st.one_of(
    st.builds(list),
    st.builds(dict),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.integers(),
    st.none(),
    st.booleans(),
    st.floats(),
    st.just("first line\nsecond line"),
    st.text(max_size=30),
    st.just(10**100),
    st.just(-(10**30)),
    st.integers(1, 300).map(_deep_list),
    st.just("x" * 5000),
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _get(doc: Any, path: tuple) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _steps(doc: Any) -> dict | None:
    steps = doc.get("steps") if isinstance(doc, dict) else None
    return steps if isinstance(steps, dict) and steps else None


def delete_key(data, doc):
    candidates = [p for p in _paths(doc) if isinstance(_get(doc, p), dict) and _get(doc, p)]
    if candidates:
        path = data.draw(st.sampled_from(candidates))
        node = _get(doc, path)
        key = data.draw(st.sampled_from(list(node)))
        note(f"delete {(*path, key)}")
        del node[key]
    return doc


def replace_value(data, doc):
    path = data.draw(st.sampled_from(_paths(doc)))
    value = data.draw(OTHER_VALUES)
    note(f"replace {path} by a {type(value).__name__}: {value!r:.100}")
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def rename_step(data, doc):
    steps = _steps(doc)
    if steps:
        old, new = data.draw(st.sampled_from(list(steps))), data.draw(NAMES)
        note(f"rename step {old!r} to {new!r}")
        doc["steps"] = {(new if name == old else name): value for name, value in steps.items()}
    return doc


def duplicate_step(data, doc):
    steps = _steps(doc)
    if steps:
        old, new = data.draw(st.sampled_from(list(steps))), data.draw(NAMES)
        note(f"duplicate step {old!r} as {new!r}")
        steps[new] = copy.deepcopy(steps[old])
    return doc


def add_unknown_key(data, doc):
    candidates = [p for p in _paths(doc) if isinstance(_get(doc, p), dict)]
    if candidates:
        path = data.draw(st.sampled_from(candidates))
        key = data.draw(st.one_of(NAMES, st.integers(), st.sampled_from(["dependz", "on_completes", "varz"])))
        value = data.draw(st.one_of(OTHER_VALUES, st.just("value")))
        note(f"add key {key!r} at {path}: {value!r:.100}")
        _get(doc, path)[key] = value
    return doc


def inject_reference(data, doc):
    step_names = list(_steps(doc) or {}) or ["network"]
    target = data.draw(st.one_of(st.sampled_from(step_names), NAMES))
    output = data.draw(st.one_of(st.sampled_from(["vpc_id", "subnet_ids", "url"]), NAMES))
    forms = [
        f"${{steps.{target}.outputs.{output}}}",
        f"${{outputs.{output}}}",
        f"${{stack.{output}}}",
        f"${{steps.{target}}}",
        "${",
        "$${literal}",
    ]
    reference = data.draw(st.sampled_from(forms))
    path = data.draw(st.sampled_from(_paths(doc)))
    if not path:
        return doc
    parent = _get(doc, path[:-1])
    current = parent[path[-1]]
    parent[path[-1]] = f"{current}{reference}" if isinstance(current, str) and data.draw(st.booleans()) else reference
    note(f"reference {reference!r} at {path}")
    return doc


def make_cycle(data, doc):
    steps = _steps(doc)
    if not steps:
        return doc
    ring = data.draw(st.lists(st.sampled_from(list(steps)), min_size=1, max_size=4, unique=True))
    by_reference = data.draw(st.booleans())
    note(f"cycle {' -> '.join(map(repr, ring))} -> {ring[0]!r} ({'references' if by_reference else 'depends'})")
    for index, name in enumerate(ring):
        after = ring[(index + 1) % len(ring)]
        step = steps[name]
        if not isinstance(step, dict):
            continue
        if by_reference:
            variables = step.get("vars") if isinstance(step.get("vars"), dict) else {}
            variables[f"fuzz_{index}"] = f"${{steps.{after}.outputs.vpc_id}}"
            step["vars"] = variables
        else:
            depends = step.get("depends") if isinstance(step.get("depends"), list) else []
            step["depends"] = [*depends, after]
    return doc


STRUCTURAL = [delete_key, replace_value, rename_step, duplicate_step, add_unknown_key, inject_reference, make_cycle]


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
@FUZZ
@given(data=st.data())
def test_structural_mutations_load_or_fail_cleanly(workspace, spec, data):
    doc = copy.deepcopy(_SEEDS[spec.name])
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        doc = data.draw(st.sampled_from(STRUCTURAL), label="mutation")(data, doc)
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    note(f"file:\n{text[:4000]}")
    check_loads_or_spec_error(workspace, spec, text.encode())


# --- textual mutations of the file's bytes ---------------------------------------------------------------
UNICODE = st.text(
    alphabet=st.characters(codec="utf-8", categories=None, exclude_categories=["Cs"]), min_size=1, max_size=8
)
CONTROL = st.text(
    alphabet=st.sampled_from("\t\x00\x01\x08\x0b\x0c\x1b\x7f\x85\u2028\u2029\ufeff\r"), min_size=1, max_size=4
)


def _span(data, content: bytes) -> tuple[int, int]:
    start = data.draw(st.integers(0, len(content)))
    return start, data.draw(st.integers(start, min(len(content), start + 64)))


def t_delete(data, content):
    start, end = _span(data, content)
    note(f"delete bytes {start}:{end} {content[start:end]!r}")
    return content[:start] + content[end:]


def t_insert_bytes(data, content):
    at, blob = data.draw(st.integers(0, len(content))), data.draw(st.binary(min_size=1, max_size=16))
    note(f"insert {blob!r} at {at}")
    return content[:at] + blob + content[at:]


def t_replace(data, content):
    (start, end), blob = _span(data, content), data.draw(st.binary(max_size=16))
    note(f"replace bytes {start}:{end} {content[start:end]!r} by {blob!r}")
    return content[:start] + blob + content[end:]


def t_insert_text(data, content):
    at, text = data.draw(st.integers(0, len(content))), data.draw(st.one_of(UNICODE, CONTROL, st.just("\t")))
    note(f"insert {text!r} at {at}")
    return content[:at] + text.encode("utf-8", "surrogatepass") + content[at:]


def t_truncate(data, content):
    at = data.draw(st.integers(0, len(content)))
    note(f"truncate at {at}")
    return content[:at]


def t_duplicate_line(data, content):
    lines = content.splitlines(keepends=True)
    if lines:
        index = data.draw(st.integers(0, len(lines) - 1))
        note(f"duplicate line {index + 1}: {lines[index]!r}")
        lines.insert(index, lines[index])
    return b"".join(lines)


def t_indentation(data, content):
    lines = content.splitlines(keepends=True)
    if not lines:
        return content
    index = data.draw(st.integers(0, len(lines) - 1))
    body = lines[index].lstrip(b" \t")
    neighbour = lines[(index + 1) % len(lines)]  # swap in the next line's indentation, or any of spaces and tabs
    neighbours = neighbour[: len(neighbour) - len(neighbour.lstrip(b" \t"))]
    indent = data.draw(st.one_of(st.just(neighbours), st.text(alphabet=" \t", max_size=12).map(str.encode)))
    note(f"line {index + 1} indented {indent!r}: {body!r}")
    lines[index] = indent + body
    return b"".join(lines)


TEXTUAL = [t_delete, t_insert_bytes, t_replace, t_insert_text, t_truncate, t_duplicate_line, t_indentation]


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
@FUZZ
@given(data=st.data())
def test_textual_mutations_load_or_fail_cleanly(workspace, spec, data):
    content = spec.read_bytes()
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        content = data.draw(st.sampled_from(TEXTUAL), label="mutation")(data, content)
    check_loads_or_spec_error(workspace, spec, content)


def test_the_seeds_load():
    """Unmutated, every seed is a valid stack: the fuzzer starts from real specs."""
    assert SPECS
    for spec in SPECS:
        assert isinstance(load_stack(spec, modules_dir=MODULES), Stack)
