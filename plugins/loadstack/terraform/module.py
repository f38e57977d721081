"""What loadstack reads from a Terraform module's source without running Terraform."""

from __future__ import annotations

import re
from pathlib import Path

_VARIABLE_BLOCK = re.compile(r'^\s*variable\s+"([^"]+)"', re.MULTILINE)


def module_variables(module_dir: Path) -> set[str]:
    """The input variables a module declares (in its own *.tf files)."""
    names: set[str] = set()
    for tf_file in sorted(Path(module_dir).glob("*.tf")):
        names.update(_VARIABLE_BLOCK.findall(tf_file.read_text()))
    return names
