"""loadstack.safe_yaml: a user's YAML read in bounded time and memory; every failure a placed YamlProblems.

Most cases run with libyaml's parser and with PyYAML's pure-Python one (`libyaml=False`, what the snapshot
catalog uses): the checks are made by the same composer over either parser's events.
"""

from __future__ import annotations

import codecs
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml

from loadstack.safe_yaml import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_ISSUES,
    MAX_VALUES,
    YamlProblems,
    decode,
    load_yaml,
    read_yaml_file,
)

ROOT = Path(__file__).resolve().parents[2]
GOOD_DIRS = ("include/stacks", "include/snapshots", "tests/fixtures/good_specs", "tests/fixtures/it_stacks")
GOOD_FILES = sorted(path for directory in GOOD_DIRS for path in (ROOT / directory).glob("*.yaml"))


@pytest.fixture(params=[True, False], ids=["libyaml", "pure-python"])
def libyaml(request) -> bool:
    return request.param


def problems(text: str, libyaml: bool = True) -> list[str]:
    with pytest.raises(YamlProblems) as caught:
        load_yaml(text, libyaml=libyaml)
    assert str(caught.value) == "\n".join(caught.value.issues)
    return caught.value.issues


# --- good input: what yaml.safe_load gives -----------------------------------------------------------


def test_there_are_good_files_to_compare():
    assert len(GOOD_FILES) >= 10


@pytest.mark.parametrize("path", GOOD_FILES, ids=[f"{p.parent.name}/{p.name}" for p in GOOD_FILES])
def test_good_files_load_as_yaml_safe_load_loads_them(path: Path, libyaml: bool):
    expected = yaml.safe_load(path.read_text())
    assert load_yaml(path.read_text(), libyaml=libyaml) == expected
    assert read_yaml_file(path, libyaml=libyaml) == expected


def test_every_safe_value_is_constructed_as_safe_load_does(libyaml: bool):
    text = textwrap.dedent("""\
        str: text
        quoted: "2026-02-30"
        ints: [1, -2, 0x1f, 0o17, 017, 1_000, 1:30]
        floats: [1.5, 1e3, .inf, -.inf]
        bools: [yes, No, true, off]
        nulls: [~, null, ]
        day: 2026-02-28
        moment: 2026-01-02 03:04:05.5 +01:00
        binary: !!binary aGVsbG8=
        set: !!set {a, b}
        omap: !!omap [{a: 1}, {b: 2}]
        pairs: !!pairs [{a: 1}, {a: 2}]
        tagged: [!!str 12, !!float 3, !!int "4"]
        base: &base {x: 1, y: 2}
        merged: {<<: *base, y: 3}
        shared: [*base, *base]
        long: |
          two
          lines
        ? complex key
        : v
        """)
    value = load_yaml(text, libyaml=libyaml)
    assert value == yaml.safe_load(text)
    assert value["day"] == date(2026, 2, 28)
    assert value["moment"] == datetime(2026, 1, 2, 2, 4, 5, 500000, tzinfo=UTC)
    assert value["merged"] == {"x": 1, "y": 3}
    assert value["shared"][0] is value["shared"][1]


def test_empty_documents_are_none(libyaml: bool):
    assert load_yaml("", libyaml=libyaml) is None
    assert load_yaml("# only a comment\n", libyaml=libyaml) is None
    assert load_yaml("---\n", libyaml=libyaml) is None


# --- size --------------------------------------------------------------------------------------------


def test_a_file_over_one_mib_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * (MAX_BYTES - 3) + b"\n")  # exactly MAX_BYTES: read
    assert read_yaml_file(path) is None
    path.write_bytes(b"# " + b"x" * (MAX_BYTES - 2) + b"\n")
    with pytest.raises(YamlProblems) as caught:
        read_yaml_file(path)
    assert caught.value.issues == [
        "the file is larger than 1,048,576 bytes (1 MiB), the most a YAML file may hold here; make it smaller"
    ]


def test_a_text_over_one_mib_is_refused():
    assert problems("#" * (MAX_BYTES + 1)) == [
        "the text is larger than 1,048,576 bytes (1 MiB), the most a YAML file may hold here; make it smaller"
    ]


def test_a_file_that_cannot_be_read(tmp_path):
    for path, reason in ((tmp_path / "missing.yaml", "No such file or directory"), (tmp_path, "Is a directory")):
        with pytest.raises(YamlProblems) as caught:
            read_yaml_file(path)
        assert caught.value.issues == [f"cannot read: {reason}"]


# --- encoding ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (codecs.BOM_UTF16_LE + "a: 1\n".encode("utf-16-le"), "UTF-16 (LE)"),
        (codecs.BOM_UTF16_BE + "a: 1\n".encode("utf-16-be"), "UTF-16 (BE)"),
        ("a: 1\n".encode("utf-16-le"), "UTF-16 (LE)"),
        ("a: 1\n".encode("utf-16-be"), "UTF-16 (BE)"),
        (codecs.BOM_UTF32_LE + "a: 1\n".encode("utf-32-le"), "UTF-32 (LE)"),
        (codecs.BOM_UTF32_BE + "a: 1\n".encode("utf-32-be"), "UTF-32 (BE)"),
        ("a: 1\n".encode("utf-32-le"), "UTF-32 (LE)"),
        ("a: 1\n".encode("utf-32-be"), "UTF-32 (BE)"),
        ("a: 1\n".encode("utf-16"), "UTF-16 (LE)"),  # Python writes a BOM and little-endian
    ],
)
def test_utf16_and_utf32_files_are_named(tmp_path, data: bytes, name: str):
    with pytest.raises(YamlProblems) as caught:
        decode(data)
    assert caught.value.issues == [f"the file is {name}; save it as UTF-8"]
    path = tmp_path / "wide.yaml"
    path.write_bytes(data)
    with pytest.raises(YamlProblems) as caught:
        read_yaml_file(path)
    assert caught.value.issues == [f"the file is {name}; save it as UTF-8"]


def test_invalid_utf8_names_line_column_and_byte(tmp_path):
    data = "name: café\nowner: ".encode() + b"Ren\xe9\n"  # Latin-1 é on line 2
    with pytest.raises(YamlProblems) as caught:
        decode(data)
    assert caught.value.issues == ["line 2, column 11: byte 0xE9 is not valid UTF-8; save the file as UTF-8"]
    with pytest.raises(YamlProblems) as caught:
        decode("é: ".encode() + b"\xff")  # the column counts characters, not bytes
    assert caught.value.issues == ["line 1, column 4: byte 0xFF is not valid UTF-8; save the file as UTF-8"]


def test_utf8_with_a_bom_is_read(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(codecs.BOM_UTF8 + "name: café\n".encode())
    assert read_yaml_file(path) == {"name": "café"}
    assert decode(codecs.BOM_UTF8 + b"a: 1\n") == "a: 1\n"
    assert load_yaml("\ufeffa: 1\n") == {"a": 1}


@pytest.mark.parametrize(("char", "code"), [("\x07", "0007"), ("\x00", "0000"), ("\x1b", "001B"), ("\ud800", "D800")])
def test_a_control_character_is_placed(libyaml: bool, char: str, code: str):
    assert problems(f"name: x\nowner: ab{char}c\n", libyaml) == [
        f"line 2, column 10: character U+{code} is not allowed in YAML; remove it"
    ]


def test_a_control_character_in_a_file_is_placed(tmp_path):
    path = tmp_path / "bell.yaml"
    path.write_bytes(b"a: 1\nb: x\x07\n")
    with pytest.raises(YamlProblems) as caught:
        read_yaml_file(path)
    assert caught.value.issues == ["line 2, column 5: character U+0007 is not allowed in YAML; remove it"]


# --- nesting -----------------------------------------------------------------------------------------

DEEP = 50_000
DEPTH_MESSAGE = f"lists and mappings nest more than {MAX_DEPTH} levels deep here; flatten the structure"


def test_deep_flow_nesting_is_refused(libyaml: bool):
    assert problems("[" * DEEP + "]" * DEEP, libyaml) == [f"line 1, column {MAX_DEPTH + 1}: {DEPTH_MESSAGE}"]
    assert problems("{a: " * DEEP + "}" * DEEP, libyaml) == [f"line 1, column {4 * MAX_DEPTH + 1}: {DEPTH_MESSAGE}"]
    assert problems("x: " + "[" * DEEP, libyaml) == [f"line 1, column {MAX_DEPTH + 3}: {DEPTH_MESSAGE}"]  # unclosed


def test_deep_block_nesting_is_refused(libyaml: bool):
    mappings = "".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "end\n"
    assert problems(mappings, libyaml) == [f"line {MAX_DEPTH + 1}, column {2 * MAX_DEPTH + 1}: {DEPTH_MESSAGE}"]
    sequences = "".join(f"{'  ' * i}-\n" for i in range(200))
    assert problems(sequences, libyaml) == [f"line {MAX_DEPTH + 1}, column {2 * MAX_DEPTH + 1}: {DEPTH_MESSAGE}"]
    # A sequence under a mapping key without indentation ("indentless") is a level too.
    indentless = "".join(f"{'  ' * i}- k{i}:\n" for i in range(100))
    assert problems(indentless, libyaml) == [f"line {MAX_DEPTH // 2 + 1}, column {MAX_DEPTH + 1}: {DEPTH_MESSAGE}"]


def test_nesting_up_to_the_limit_is_read(libyaml: bool):
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert load_yaml(text, libyaml=libyaml) == yaml.safe_load(text)


def test_deep_nesting_does_not_crash_the_process():
    """libyaml's own composer dies of SIGSEGV on this (measured: 50,000 levels); ours refuses it in a few ms."""
    script = textwrap.dedent(f"""\
        from loadstack.safe_yaml import YamlProblems, load_yaml
        for text in ("[" * {DEEP} + "]" * {DEEP}, "{{a: " * {DEEP} + "}}" * {DEEP}, "- " * {DEEP} + "x"):
            for libyaml in (True, False):
                try:
                    load_yaml(text, libyaml=libyaml)
                except YamlProblems as exc:
                    print(exc.issues[0])
        """)
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(ROOT / "plugins"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 6 and all(line.endswith(DEPTH_MESSAGE) for line in lines), done.stdout


# --- aliases -----------------------------------------------------------------------------------------


def billion_laughs(levels: int = 10) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_fast(libyaml: bool):
    started = time.monotonic()
    found = problems(billion_laughs(), libyaml)
    assert time.monotonic() - started < 2
    # a0..a4 hold 74,732 values; the third *a4 in a5 (66,430 each) passes the limit.
    assert found == [(f"line 6, column 20: the document holds more than {MAX_VALUES:,} values here, counting an "
                      "alias's contents each time it is used; use fewer aliases or a smaller document")]


def test_aliases_within_the_limit_are_read(libyaml: bool):
    text = billion_laughs(levels=4)  # 1 + 10 + 9 * 10 + 9 * 91 + 9 * 820 values
    assert load_yaml(text, libyaml=libyaml) == yaml.safe_load(text)


@pytest.mark.parametrize(
    ("text", "where", "anchor"),
    [("a: &x [*x]\n", "line 1, column 8", "x"), ("a: &x {b: *x}\n", "line 1, column 11", "x"),
     ("steps:\n  net: &net\n    depends: [1, [*net]]\n", "line 3, column 19", "net")],
)
def test_a_recursive_alias_is_refused(libyaml: bool, text: str, where: str, anchor: str):
    assert problems(text, libyaml) == [
        f"{where}: alias *{anchor} is used inside the value anchored &{anchor} (a recursive alias); remove the alias"
    ]


def test_undefined_alias_and_twice_defined_anchor_are_placed(libyaml: bool):
    assert problems("a: *x\n", libyaml) == [("line 1, column 4: alias *x comes before any anchor &x; define &x first "
                                            "or remove the alias")]
    assert problems("a: &x 1\nb: &x 2\n", libyaml) == [
        "line 2, column 4: anchor &x is defined twice (first at line 1, column 4); rename one"
    ]


# --- keys --------------------------------------------------------------------------------------------


def test_a_key_given_twice_names_both_places(libyaml: bool):
    text = textwrap.dedent("""\
        name: shop
        owner: sre
        steps:
          app:
            kind: terraform
          network:
            kind: terraform
          app:
            kind: app
        owner: platform
        """)
    assert problems(text, libyaml) == [
        "line 8, column 3: key 'app' is given twice in this mapping (first at line 4, column 3); remove or rename one",
        ("line 10, column 1: key 'owner' is given twice in this mapping (first at line 2, column 1); remove or "
         "rename one"),
    ]


def test_nested_and_flow_duplicate_keys_are_found(libyaml: bool):
    text = "steps:\n  app:\n    vars:\n      a: 1\n      b: 2\n      a: 3\n  net: {x: 1, y: 2, x: 3}\n"
    assert problems(text, libyaml) == [
        "line 6, column 7: key 'a' is given twice in this mapping (first at line 4, column 7); remove or rename one",
        "line 7, column 21: key 'x' is given twice in this mapping (first at line 7, column 9); remove or rename one",
    ]


def test_keys_are_compared_as_values(libyaml: bool):
    assert problems("1: a\n01: b\n", libyaml) == [
        "line 2, column 1: key '01' is given twice in this mapping (first at line 1, column 1); remove or rename one"
    ]
    assert problems("a: &k x\nm: {*k : 1, x: 2}\n", libyaml) == [
        "line 2, column 13: key 'x' is given twice in this mapping (first at line 2, column 5); remove or rename one"
    ]
    # The same name in different mappings, and a merge overridden, are fine.
    assert load_yaml("a: {x: 1}\nb: {x: 2}\nc: {<<: {x: 1}, x: 2}\n", libyaml=libyaml) == {
        "a": {"x": 1}, "b": {"x": 2}, "c": {"x": 2}
    }


def test_many_key_problems_are_listed_up_to_a_limit():
    found = problems("".join(f"k{i}: 1\nk{i}: 2\n" for i in range(30)))
    assert len(found) == MAX_ISSUES + 1
    assert found[0].startswith("line 2, column 1: key 'k0' is given twice in this mapping (first at line 1, column 1)")
    assert found[-1] == f"{30 - MAX_ISSUES} more keys given twice or not plain values"


def test_a_key_must_be_a_plain_value(libyaml: bool):
    assert problems("? [a, b]\n: 1\n? {a: 1}\n: 2\n", libyaml) == [
        "line 1, column 3: a key must be a plain value, not a list; write it as one",
        "line 3, column 3: a key must be a plain value, not a mapping; write it as one",
    ]


# --- values ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\nb:\n  x: !!int three\n",
         "line 3, column 6: !!int 'three' is not an integer; remove the tag or fix the value"),
        ("a: !!float lots\n", "line 1, column 4: !!float 'lots' is not a number; remove the tag or fix the value"),
        ("a: !!bool maybe\n", "line 1, column 4: !!bool 'maybe' is not true or false; remove the tag or fix the value"),
        ("a: !!timestamp soon\n",
         "line 1, column 4: !!timestamp 'soon' is not a date; remove the tag or fix the value"),
        ("a: 1\nd: 2026-02-30\n", ("line 2, column 4: '2026-02-30' is not a valid date (day is out of range for "
                                   "month); "
                                  "quote it to keep it as text or fix the date")),
        ("t: 2026-01-01 25:00:00\n", ("line 1, column 4: '2026-01-01 25:00:00' is not a valid date (hour must be in "
                                     "0..23); quote it to keep it as text or fix the date")),
        ("n: " + "7" * 5000 + "\n", (f"line 1, column 4: an integer of 5,000 digits is too long (at most "
                                    f"{sys.get_int_max_str_digits():,}); quote it to keep it as text")),
        ("a: !python/object:os.system x\n",
         ("line 1, column 4: could not determine a constructor for the tag '!python/object:os.system'; remove the "
          "tag (only YAML's standard tags are read)")),
        ("a: !!str [1]\n", "line 1, column 4: expected a scalar node, but found sequence"),
        ("d:\n  <<: 3\n", "line 2, column 7: expected a mapping or list of mappings for merging, but found scalar"),
        ("? !!int x\n: 1\n", "line 1, column 3: !!int 'x' is not an integer; remove the tag or fix the value"),
    ],
)
def test_a_value_that_cannot_be_constructed_is_placed(libyaml: bool, text: str, message: str):
    assert problems(text, libyaml) == [message]


# --- syntax ------------------------------------------------------------------------------------------


def test_syntax_errors_are_placed():
    assert problems("name: x\nsteps:\n  net:\n      kind: terraform\n    module: network\n") == [
        "invalid YAML: line 5, column 5: did not find expected key"
    ]
    # PyYAML's own parser words some problems differently (the snapshot catalog's messages).
    assert problems("snapshots:\n  x: [1\n", libyaml=False) == [
        "invalid YAML: line 3, column 1: expected ',' or ']', but got '<stream end>'"
    ]


def test_one_document_per_file(libyaml: bool):
    assert problems("a: 1\n---\nb: 2\n", libyaml) == [
        ("invalid YAML: line 2, column 1: a second document starts here; a file holds one document (remove the '---' "
        "and what follows)")
    ]


# --- wired in ----------------------------------------------------------------------------------------


def test_snapshot_definitions_report_yaml_problems_with_the_file(tmp_path):
    from loadstack.snapshots.catalog import SnapshotDefinitionError, load_definitions

    path = tmp_path / "dup.yaml"
    path.write_text("snapshots:\n  db: {engine: mariadb, kind: migrated}\n  db: {engine: mariadb, kind: seeded}\n")
    with pytest.raises(SnapshotDefinitionError) as caught:
        load_definitions(tmp_path)
    assert str(caught.value) == (f"{path}: line 3, column 3: key 'db' is given twice in this mapping (first at line 2, "
                                 "column 3); remove or rename one")
