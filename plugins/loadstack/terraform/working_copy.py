"""A step's private working copy: the whole modules root, so relative module sources resolve.

Terraform runs in `<copy>/<module>`; `source = "../modules/x"` then finds `<copy>/modules/x` exactly
as in the repository (Terragrunt does the same). The modules root is a few dozen small text files,
so copying all of it costs less than deciding what to leave out, and also covers `file()` and
`templatefile()` paths that reach beside the module. Local state, plans, `.terraform` folders and
files loadstack writes are never copied.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from loadstack.terraform.module import LOADSTACK_FILES

PLAN_FILE = "tfplan"
VARS_FILE = "loadstack.auto.tfvars.json"
LOCK_FILE = ".terraform.lock.hcl"
NOT_COPIED = (".terraform", "*.tfstate", "*.tfstate.*", "terraform.tfstate.d", "crash.log", ".git",
              PLAN_FILE, VARS_FILE, *LOADSTACK_FILES)


def module_path(module_dir: Path, modules_root: Path) -> Path:
    """Where the module sits inside the modules root (refused if it is not inside it)."""
    module_dir, modules_root = Path(module_dir).absolute(), Path(modules_root).absolute()
    try:
        return module_dir.relative_to(modules_root)
    except ValueError:
        raise ValueError(f"module {module_dir} is not inside the modules root {modules_root}") from None


def copy_modules_root(modules_root: Path, module_dir: Path, dest: Path) -> Path:
    """A fresh copy of the modules root at `dest` (private to the user); returns where Terraform runs."""
    modules_root, dest = Path(modules_root).absolute(), Path(dest).absolute()
    relative = module_path(module_dir, modules_root)
    if dest == modules_root or modules_root in dest.parents:
        raise ValueError(f"working copy {dest} would lie inside the modules root {modules_root} it copies")
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(modules_root, dest, ignore=shutil.ignore_patterns(*NOT_COPIED))
    os.chmod(dest, 0o700)
    return dest / relative


def has_committed_lock(module_dir: Path) -> bool:
    """Whether the step's own (root) module pins its providers; child modules' lock files do not count."""
    return (Path(module_dir) / LOCK_FILE).is_file()
