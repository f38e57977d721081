"""Reading a user's YAML file (a stack spec, a snapshot definition) in bounded time and memory.

`read_yaml_file` and `load_yaml` give the same values as `yaml.safe_load` for a good file; for a bad one
they raise `YamlProblems`, one line per problem, each placed (`line L, column C: ...`) and naming the fix,
never a traceback, a hang or a crash. Beyond what `yaml.safe_load` checks:

- size: at most MAX_BYTES, refused before the file is read whole;
- encoding: UTF-8 only (a BOM is allowed); UTF-16/UTF-32 and undecodable bytes are named;
- nesting: at most MAX_DEPTH collections deep. libyaml's composer recurses in C and crashes the process
  (SIGSEGV) on a few tens of thousands of levels; its parser does not recurse. So the nodes are composed
  here, in Python, from libyaml's events, and the depth is counted as they arrive: the 65th level is
  refused before anything recurses into it;
- aliases: a recursive alias is refused, and so is a document whose values, counting an alias's contents
  each time it is used, exceed MAX_VALUES (a "billion laughs" stops after MAX_VALUES, in milliseconds);
- keys: a key given twice in one mapping (which yaml.safe_load resolves silently, last wins) names both
  places; a key must be a plain value;
- values: a tagged value that is not of its tag (`!!int three`), an impossible date (`2026-02-30`), an
  integer too long for Python to convert: placed messages instead of ValueError and friends.

No Airflow here.
"""

from __future__ import annotations

import codecs
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent, MappingEndEvent, ScalarEvent, SequenceStartEvent
from yaml.nodes import MappingNode, ScalarNode
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import Resolver
from yaml.scanner import Scanner

try:  # libyaml: events several times faster than the pure-Python parser's
    from yaml.cyaml import CParser as _CParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _CParser = None

MAX_BYTES = 1 << 20  # 1 MiB
MAX_DEPTH = 64  # collections inside collections
MAX_VALUES = 250_000  # nodes, an alias counting its whole contents each time it is used
MAX_ISSUES = 20  # key problems listed; the rest are counted

# What YAML 1.1 allows in a stream (yaml.reader.Reader.NON_PRINTABLE) and, as a str cannot be encoded
# to UTF-8 with them in it, lone surrogates.
_NOT_ALLOWED = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TAG = "tag:yaml.org,2002:"
_SKIP_KEY_TAGS = (_TAG + "merge", _TAG + "value")  # `<<` and `=`: SafeConstructor's own business
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32 (LE)"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "UTF-32 (BE)"),
    (codecs.BOM_UTF16_LE, "UTF-16 (LE)"),
    (codecs.BOM_UTF16_BE, "UTF-16 (BE)"),
)


class YamlProblems(Exception):
    """Why a YAML text was refused: `issues`, one message per problem, placed when the place is known."""

    def __init__(self, issues: list[str]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(self.issues))


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _too_big(what: str) -> YamlProblems:
    return YamlProblems([(f"{what} larger than {MAX_BYTES:,} bytes (1 MiB), the most a YAML file may hold here; "
                         "make it smaller")])


# --- bytes to text ---------------------------------------------------------------------------------


def decode(data: bytes) -> str:
    """The text of a UTF-8 file (a BOM is dropped); YamlProblems for any other encoding or a bad byte."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise YamlProblems([f"the file is {name}; save it as UTF-8"])
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    else:  # no BOM: YAML's own detection, by where the first character's NUL bytes are
        head = data[:4]
        name = None
        if len(head) == 4 and head[:3] == b"\0\0\0" and head[3]:
            name = "UTF-32 (BE)"
        elif len(head) == 4 and head[0] and head[1:] == b"\0\0\0":
            name = "UTF-32 (LE)"
        elif len(head) >= 2 and not head[0] and head[1]:
            name = "UTF-16 (BE)"
        elif len(head) >= 2 and head[0] and not head[1]:
            name = "UTF-16 (LE)"
        if name:
            raise YamlProblems([f"the file is {name}; save it as UTF-8"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = exc.start
        line_start = data.rfind(b"\n", 0, start) + 1
        line = data.count(b"\n", 0, start) + 1
        column = len(data[line_start:start].decode("utf-8", "replace")) + 1
        raise YamlProblems([(f"line {line}, column {column}: byte 0x{data[start]:02X} is not "
                            "valid UTF-8; save the file as UTF-8")]) from None


# --- text to nodes: composed in Python from the parser's events, checked as they come ------------


class _CheckingComposer(Composer):
    """yaml's Composer (recursive, in Python) counting depth and values and checking each mapping's keys.

    Depth: refused at the first collection past MAX_DEPTH, so recursion never goes deeper. Values: each
    node counts 1, each alias the values of its anchored node (known once that node is composed; an alias
    to a node still being composed is a recursive alias). Keys: scalar keys are constructed here already
    (the constructor keeps them for the document's construction) and compared as the values they become.
    """

    def __init__(self) -> None:
        Composer.__init__(self)
        self._depth = 0
        self._values = 0
        self._sizes: dict[str, int] = {}  # anchor -> values of its node, once the node is composed
        self._issues: list[tuple[int, int, str]] = []

    def _count(self, values: int, mark: Any) -> None:
        self._values += values
        if self._values > MAX_VALUES:
            raise YamlProblems([(f"{_at(mark)}: the document holds more than {MAX_VALUES:,} values here, counting an "
                                "alias's contents each time it is used; use fewer aliases or a smaller document")])

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Composer's, counting values and depth (scalars composed here: one call less on the hot path)."""
        event = self.peek_event()
        kind = type(event)
        anchor = event.anchor
        if kind is AliasEvent:
            self.get_event()
            node = self.anchors.get(anchor)
            if node is None:
                raise YamlProblems([(f"{_at(event.start_mark)}: alias *{anchor} comes before any anchor &{anchor}; "
                                    f"define &{anchor} first or remove the alias")])
            size = self._sizes.get(anchor)
            if size is None:
                raise YamlProblems([(f"{_at(event.start_mark)}: alias *{anchor} is used inside the value anchored "
                                    f"&{anchor} (a recursive alias); remove the alias")])
            self._count(size, event.start_mark)
            return node
        if anchor is not None and anchor in self.anchors:
            raise YamlProblems([(f"{_at(event.start_mark)}: anchor &{anchor} is defined twice (first at "
                                f"{_at(self.anchors[anchor].start_mark)}); rename one")])
        before = self._values
        self._count(1, event.start_mark)
        paths = self.yaml_path_resolvers  # type: ignore[attr-defined] - none unless someone adds them
        if paths:
            self.descend_resolver(parent, index)  # type: ignore[attr-defined]
        if kind is ScalarEvent:
            self.get_event()
            tag = event.tag
            if tag is None or tag == "!":
                tag = self.resolve(ScalarNode, event.value, event.implicit)  # type: ignore[attr-defined]
            node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
            if anchor is not None:
                self.anchors[anchor] = node
        else:
            if self._depth == MAX_DEPTH:
                raise YamlProblems([(f"{_at(event.start_mark)}: lists and mappings nest more than {MAX_DEPTH} levels "
                                    "deep here; flatten the structure")])
            self._depth += 1
            if kind is SequenceStartEvent:
                node = self.compose_sequence_node(anchor)
            else:
                node = self.compose_mapping_node(anchor)
            self._depth -= 1
        if paths:
            self.ascend_resolver()  # type: ignore[attr-defined]
        if anchor is not None:
            self._sizes[anchor] = self._values - before
        return node

    def compose_mapping_node(self, anchor: Any) -> Any:
        """Composer's, checking each key as it comes (an alias's place is the alias's, not its anchor's)."""
        start_event = self.get_event()
        tag = start_event.tag
        if tag is None or tag == "!":
            tag = self.resolve(MappingNode, None, start_event.implicit)  # type: ignore[attr-defined]
        node = MappingNode(tag, [], start_event.start_mark, None, flow_style=start_event.flow_style)
        if anchor is not None:
            self.anchors[anchor] = node
        seen: dict[Any, Any] = {}  # key -> where it was first given
        while not self.check_event(MappingEndEvent):
            mark = self.peek_event().start_mark
            key_node = self.compose_node(node, None)
            self._check_key(key_node, mark, seen)
            node.value.append((key_node, self.compose_node(node, key_node)))
        node.end_mark = self.get_event().end_mark
        return node

    def _check_key(self, key_node: Any, mark: Any, seen: dict[Any, Any]) -> None:
        if type(key_node) is not ScalarNode:
            kind = "mapping" if type(key_node) is MappingNode else "list"
            self._issues.append((mark.line, mark.column, (f"{_at(mark)}: a key must be a plain value, not a {kind}; "
                                 "write it as one")))
            return
        if key_node.tag in _SKIP_KEY_TAGS:
            return
        key = self.construct_object(key_node)  # type: ignore[attr-defined] - the loader's constructor keeps it
        try:
            first = seen.setdefault(key, mark)
        except TypeError:  # unhashable: the constructor reports it
            return
        if first is not mark:
            self._issues.append((mark.line, mark.column, (f"{_at(mark)}: key '{_short(key_node.value)}' is given twice "
                                 f"in this mapping (first at {_at(first)}); remove or rename one")))


# --- nodes to values -------------------------------------------------------------------------------


def _value_problem(node: Any, exc: Exception) -> str:
    """`line L, column C: what is wrong with this value; the fix`, for a value its constructor refused."""
    where = _at(node.start_mark)
    if isinstance(exc, ConstructorError):
        mark = exc.problem_mark or node.start_mark
        problem = exc.problem or str(exc)
        if "could not determine a constructor" in problem:
            problem += "; remove the tag (only YAML's standard tags are read)"
        return f"{_at(mark)}: {problem}"
    if isinstance(exc, RecursionError):
        return f"{where}: the value nests too deeply to be read; flatten the structure"
    if not isinstance(node, ScalarNode):
        return f"{where}: cannot read this value ({type(exc).__name__}: {exc}); fix it"
    tag = node.tag
    text = _short(node.value)
    if tag == _TAG + "int":
        if "limit" in str(exc) and "digits" in str(exc):
            digits = sum(c.isdigit() for c in node.value)
            return (f"{where}: an integer of {digits:,} digits is too long (at most {sys.get_int_max_str_digits():,}); "
                    "quote it to keep it as text")
        return f"{where}: !!int '{text}' is not an integer; remove the tag or fix the value"
    if tag == _TAG + "float":
        return f"{where}: !!float '{text}' is not a number; remove the tag or fix the value"
    if tag == _TAG + "bool":
        return f"{where}: !!bool '{text}' is not true or false; remove the tag or fix the value"
    if tag == _TAG + "timestamp":
        if isinstance(exc, ValueError) and SafeConstructor.timestamp_regexp.match(node.value):
            return f"{where}: '{text}' is not a valid date ({exc}); quote it to keep it as text or fix the date"
        return f"{where}: !!timestamp '{text}' is not a date; remove the tag or fix the value"
    short_tag = "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag
    return f"{where}: cannot read {short_tag} '{text}' ({exc}); fix the value"


class _CheckingConstructor(SafeConstructor):
    """SafeConstructor whose failures are YamlProblems placed at the node that failed."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return SafeConstructor.construct_object(self, node, deep)
        except YamlProblems:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of a constructor is a problem of this value
            raise YamlProblems([_value_problem(node, exc)]) from None


if _CParser is not None:

    class _CLoader(_CheckingComposer, _CParser, _CheckingConstructor, Resolver):  # type: ignore[misc, valid-type]
        def __init__(self, text: str) -> None:
            _CParser.__init__(self, text)
            _CheckingComposer.__init__(self)
            _CheckingConstructor.__init__(self)
            Resolver.__init__(self)
else:  # pragma: no cover
    _CLoader = None


class _PyLoader(Reader, Scanner, Parser, _CheckingComposer, _CheckingConstructor, Resolver):
    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        _CheckingComposer.__init__(self)
        _CheckingConstructor.__init__(self)
        Resolver.__init__(self)


def _placed_character(text: str, offset: int, character: int) -> YamlProblems:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    message = f"line {line}, column {column}: character U+{character:04X} is not allowed in YAML; remove it"
    return YamlProblems([message])


def _syntax_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if (getattr(exc, "context", None) or "").startswith("expected a single document"):
        problem = "a second document starts here; a file holds one document (remove the '---' and what follows)"
    return f"invalid YAML: {_at(mark)}: {problem}" if mark else f"invalid YAML: {problem}"


def load_yaml(text: str, *, libyaml: bool = True) -> Any:
    """The value of one YAML document, as yaml.safe_load gives it; YamlProblems when it cannot be read safely.

    libyaml=False: PyYAML's pure-Python parser, several times slower; its syntax messages are the ones
    yaml.safe_load gives (libyaml words some differently). Without libyaml that parser is used anyway.
    """
    if len(text) > MAX_BYTES:
        raise _too_big("the text is")
    text = text.removeprefix("\ufeff")
    bad = _NOT_ALLOWED.search(text)
    if bad:
        raise _placed_character(text, bad.start(), ord(bad.group()))
    loader = _CLoader(text) if libyaml and _CLoader is not None else _PyLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except ReaderError as exc:  # a character _NOT_ALLOWED let through (not expected)
            raise _placed_character(text, min(exc.position, len(text)), exc.character) from None
        except yaml.YAMLError as exc:
            raise YamlProblems([_syntax_problem(exc)]) from None
        if loader._issues:
            issues = [message for *_, message in sorted(loader._issues)]
            if len(issues) > MAX_ISSUES:
                issues[MAX_ISSUES:] = [f"{len(issues) - MAX_ISSUES} more keys given twice or not plain values"]
            raise YamlProblems(issues)
        if node is None:
            return None
        try:
            return loader.construct_document(node)
        except YamlProblems:
            raise
        except Exception as exc:  # noqa: BLE001 - a mapping's merge or a collection's constructor refused it
            raise YamlProblems([_value_problem(node, exc)]) from None
    finally:
        loader.dispose()


def read_yaml_file(path: str | Path, *, libyaml: bool = True) -> Any:
    """The value of a YAML file: size checked first, UTF-8 only, then `load_yaml`. YamlProblems on any failure."""
    try:
        with open(path, "rb") as stream:
            if os.fstat(stream.fileno()).st_size > MAX_BYTES:
                raise _too_big("the file is")
            data = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise YamlProblems([f"cannot read: {exc.strerror or exc}"]) from None
    if len(data) > MAX_BYTES:
        raise _too_big("the file is")
    return load_yaml(decode(data), libyaml=libyaml)
