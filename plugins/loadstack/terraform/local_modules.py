"""Local module calls (`source = "../modules/x"`) and the modules root they must stay inside.

A step's working copy holds the whole modules root (include/terraform), so a relative source
resolves there exactly as it does in the repository, as long as it points inside the root. This
module finds the calls that would not: checked when a spec is validated, before any run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from loadstack.terraform.module import ModuleCall, config_files, module_calls


def is_local_source(source: str) -> bool:
    """Terraform's rule: a local path starts with ./ or ../ (anything else is a registry or remote address)."""
    return source.startswith(("./", "../")) or source in (".", "..")


@dataclass(frozen=True)
class SourceProblem:
    call: ModuleCall
    target: Path
    # "outside": leaves the modules root; "missing": no such folder; "empty": no configuration files.
    reason: str


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def local_module_dirs(module_dir: Path, modules_root: Path) -> tuple[list[Path], list[SourceProblem]]:
    """Every local module the module calls, transitively (resolved, inside the root), and the calls
    that leave the root, point at no folder, or at a folder without configuration files."""
    root = Path(os.path.normpath(Path(modules_root).absolute()))
    start = Path(os.path.normpath(Path(module_dir).absolute()))
    seen = {start}
    queue = [start]
    found: list[Path] = []
    problems: list[SourceProblem] = []
    while queue:
        current = queue.pop(0)
        for call in module_calls(current):
            if call.source is None or not is_local_source(call.source):
                continue
            # Lexical, as Terraform resolves it: "../x" is beside the calling module, links or not.
            target = Path(os.path.normpath(current / call.source))
            if not _inside(target, root):
                problems.append(SourceProblem(call, target, "outside"))
            elif not target.is_dir():
                problems.append(SourceProblem(call, target, "missing"))
            elif not config_files(target):
                problems.append(SourceProblem(call, target, "empty"))
            elif target not in seen:
                seen.add(target)
                found.append(target)
                queue.append(target)
    return found, problems
