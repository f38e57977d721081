"""What loadstack reads from a Terraform module's source without running Terraform.

An HCL-lite reader: enough of the native syntax (comments, strings with `${...}` templates,
heredocs, nested blocks) to find blocks and their literal string attributes, plus the JSON syntax
(`*.tf.json`). It does not evaluate expressions, and needs none: `variable` names, a `module`
block's `source` and a `backend` block's type are literals in Terraform itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator

# Files loadstack writes into a working copy: never part of what a user's module declares.
OVERRIDE_FILE = "loadstack_override.tf.json"  # the provider pinned to the profile's allowed accounts
BACKEND_OVERRIDE_FILE = "loadstack_backend_override.tf.json"  # the S3 backend every step gets
LOADSTACK_FILES = (OVERRIDE_FILE, BACKEND_OVERRIDE_FILE)

_IDENT = r"[A-Za-z_][A-Za-z0-9_-]*"
_BLOCK_HEADER = re.compile(rf'^[ \t]*({_IDENT})((?:[ \t]+(?:"[^"\n]*"|{_IDENT}))*)[ \t]*\{{', re.MULTILINE)
_LABEL = re.compile(rf'"([^"\n]*)"|({_IDENT})')
_HEREDOC = re.compile(rf"<<-?({_IDENT})[ \t]*\n")


@dataclass(frozen=True)
class Block:
    """One block of a configuration file: `type "label" ... { body }`."""

    type: str
    labels: tuple[str, ...]
    file: Path
    line: int
    # The body with comments, string contents and heredocs blanked out (same length as `body`).
    skeleton: str = field(repr=False)
    body: str = field(repr=False)
    json_body: dict | None = field(default=None, repr=False)

    def children(self) -> list["Block"]:
        if self.json_body is not None:
            return list(_json_blocks(self.json_body, self.file))
        return _blocks(self.body, self.skeleton, self.file, self.line)

    def string_attribute(self, name: str) -> str | None:
        """The value of `name = "literal"` directly in this block, or None."""
        if self.json_body is not None:
            value = self.json_body.get(name)
            return value if isinstance(value, str) else None
        for match in re.finditer(rf"^[ \t]*{re.escape(name)}[ \t]*=[ \t]*\"", self.skeleton, re.MULTILINE):
            if _depth_at(self.skeleton, match.start()) == 0:
                start = match.end()
                end = self.skeleton.index('"', start)
                return self.body[start:end]
        return None

    def attribute_names(self) -> list[str]:
        """Names of the attributes (not nested blocks) set directly in this block."""
        if self.json_body is not None:
            return [k for k, v in self.json_body.items() if not isinstance(v, (dict, list))]
        return [
            m.group(1)
            for m in re.finditer(rf"^[ \t]*({_IDENT})[ \t]*=(?!=)", self.skeleton, re.MULTILINE)
            if _depth_at(self.skeleton, m.start()) == 0
        ]

    def is_empty(self) -> bool:
        if self.json_body is not None:
            return not self.json_body
        return not self.skeleton.strip()


def skeleton_of(text: str) -> str:
    """`text` with comments, the contents of strings (templates included) and heredoc bodies replaced
    by spaces, newlines kept: braces left in it are structure, and offsets match `text`."""
    out = list(text)
    i = 0
    n = len(text)

    def blank(start: int, end: int) -> None:
        for k in range(start, min(end, n)):
            if out[k] != "\n":
                out[k] = " "

    def skip_string(i: int) -> int:
        """i is just after an opening quote; returns the index of the closing quote."""
        while i < n:
            ch = text[i]
            if ch == "\\":
                i += 2
            elif ch == '"':
                return i
            elif ch in "$%" and text.startswith(ch + "{", i + 1):
                i += 3  # $${ and %%{ are literal text
            elif ch in "$%" and text.startswith("{", i + 1):
                i = skip_expression(i + 2)
            elif ch == "\n":
                return i  # unterminated on this line: stop rather than eat the file
            else:
                i += 1
        return n

    def skip_expression(i: int) -> int:
        """i is just after `${`; returns the index after its closing brace."""
        depth = 0
        while i < n:
            ch = text[i]
            if ch == '"':
                i = skip_string(i + 1) + 1
            elif ch == "{":
                depth += 1
                i += 1
            elif ch == "}":
                if depth == 0:
                    return i + 1
                depth -= 1
                i += 1
            else:
                i += 1
        return n

    while i < n:
        ch = text[i]
        if ch == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            blank(i, end)
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            blank(i, end)
            i = end
        elif ch == '"':
            end = skip_string(i + 1)
            blank(i + 1, end)
            i = end + 1
        elif text.startswith("<<", i) and (heredoc := _HEREDOC.match(text, i)):
            marker = re.compile(rf"^[ \t]*{re.escape(heredoc.group(1))}[ \t]*$", re.MULTILINE)
            close = marker.search(text, heredoc.end())
            end = n if close is None else close.end()
            blank(heredoc.end(), end)
            i = end
        else:
            i += 1
    return "".join(out)


def _depth_at(skeleton: str, offset: int) -> int:
    return skeleton.count("{", 0, offset) - skeleton.count("}", 0, offset)


def _matching_brace(skeleton: str, open_at: int) -> int:
    depth = 0
    for k in range(open_at, len(skeleton)):
        if skeleton[k] == "{":
            depth += 1
        elif skeleton[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    return len(skeleton)


def _blocks(text: str, skeleton: str, file: Path, first_line: int = 1) -> list[Block]:
    found: list[Block] = []
    pos = 0
    while match := _BLOCK_HEADER.search(skeleton, pos):
        if _depth_at(skeleton, match.start()) != 0:
            pos = match.end()
            continue
        open_at = match.end() - 1
        close = _matching_brace(skeleton, open_at)
        header = text[match.start(2) : match.end(2)]
        labels = tuple(m.group(1) if m.group(1) is not None else m.group(2) for m in _LABEL.finditer(header))
        found.append(
            Block(
                type=match.group(1),
                labels=labels,
                file=file,
                line=first_line + text.count("\n", 0, match.start(1)),
                skeleton=skeleton[open_at + 1 : close],
                body=text[open_at + 1 : close],
            )
        )
        pos = close + 1
    return found


def _json_blocks(document: dict, file: Path) -> Iterator[Block]:
    """Blocks of the JSON syntax: {"type": {"label": {...}}}, labels nested as deep as the type needs."""
    label_depth = {"module": 1, "variable": 1, "backend": 1, "resource": 2, "data": 2, "provider": 1, "output": 1}
    for block_type, value in document.items():
        if not isinstance(value, (dict, list)):
            continue
        for item in value if isinstance(value, list) else [value]:
            yield from _json_labelled(block_type, item, label_depth.get(block_type, 0), (), file)


def _json_labelled(block_type: str, value, depth: int, labels: tuple[str, ...], file: Path) -> Iterator[Block]:
    if depth == 0:
        for body in value if isinstance(value, list) else [value]:
            if isinstance(body, dict):
                yield Block(type=block_type, labels=labels, file=file, line=0, skeleton="", body="", json_body=body)
        return
    if isinstance(value, dict):
        for label, inner in value.items():
            yield from _json_labelled(block_type, inner, depth - 1, (*labels, label), file)


def config_files(module_dir: Path) -> list[Path]:
    """The module's own configuration files (native and JSON syntax), loadstack's overrides excluded."""
    files = [*Path(module_dir).glob("*.tf"), *Path(module_dir).glob("*.tf.json")]
    return sorted(f for f in files if f.is_file() and f.name not in LOADSTACK_FILES)


def file_blocks(path: Path) -> list[Block]:
    """Top-level blocks of one configuration file. A JSON file that does not parse has none (Terraform
    itself reports it, with a better message than ours).

    Cached on the file's path, size and mtime: every step of every stack asks at parse time, and the
    dag-processor parses often (uncached, reading the modules made a stack's parse ~15x slower).
    """
    stat = path.stat()
    return list(_file_blocks(str(path), stat.st_mtime_ns, stat.st_size))


@lru_cache(maxsize=512)
def _file_blocks(name: str, mtime_ns: int, size: int) -> tuple[Block, ...]:
    return tuple(_read_blocks(Path(name)))


def _read_blocks(path: Path) -> list[Block]:
    text = path.read_text()
    if path.name.endswith(".tf.json"):
        try:
            document = json.loads(text)
        except ValueError:
            return []
        return list(_json_blocks(document, path)) if isinstance(document, dict) else []
    return _blocks(text, skeleton_of(text), path)


def module_blocks(module_dir: Path) -> list[Block]:
    return [block for path in config_files(module_dir) for block in file_blocks(path)]


def module_variables(module_dir: Path) -> set[str]:
    """The input variables a module declares (in its own configuration files)."""
    return {b.labels[0] for b in module_blocks(module_dir) if b.type == "variable" and b.labels}


def module_outputs(module_dir: Path) -> set[str]:
    """The outputs a module declares: the labels of its top-level `output "name" {` blocks (native syntax,
    comments, strings and heredocs skipped) and of `"output"` in its JSON files. A pure read of the
    module's own files: no Terraform, nothing written."""
    return {b.labels[0] for b in module_blocks(Path(module_dir)) if b.type == "output" and b.labels}


@dataclass(frozen=True)
class ModuleCall:
    """A `module "name" { source = ... }` block."""

    name: str
    source: str | None
    file: Path
    line: int


def module_calls(module_dir: Path) -> list[ModuleCall]:
    return [
        ModuleCall(name=b.labels[0] if b.labels else "?", source=b.string_attribute("source"), file=b.file, line=b.line)
        for b in module_blocks(module_dir)
        if b.type == "module"
    ]


@dataclass(frozen=True)
class StateStorage:
    """Where a module's own `terraform` block says state lives: `backend "<type>"` or a `cloud` block."""

    kind: str  # the backend type ("s3", "local", "remote", ...) or "cloud"
    settings: tuple[str, ...]  # attribute names set in the block
    file: Path
    line: int


def state_storage(module_dir: Path) -> list[StateStorage]:
    found = []
    for block in module_blocks(module_dir):
        if block.type != "terraform":
            continue
        for child in block.children():
            if child.type == "backend" and child.labels:
                found.append(StateStorage(child.labels[0], tuple(child.attribute_names()), child.file, child.line))
            elif child.type == "cloud":
                found.append(StateStorage("cloud", tuple(child.attribute_names()), child.file, child.line))
    return found
