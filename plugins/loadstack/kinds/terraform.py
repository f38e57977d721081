"""The `terraform` step kind: one module from include/terraform, one workspace and remote state."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Iterable, Literal

from pydantic import Field

from loadstack.issues import did_you_mean, listing, shown, unknown_name
from loadstack.kinds.base import (
    VARIANTS,
    CheckContext,
    StepBase,
    StepKind,
    Variant,
    register_kind,
)
from loadstack.terraform.local_modules import SourceProblem, local_module_dirs
from loadstack.terraform.module import config_files, module_outputs, module_variables
from loadstack.terraform.s3_backend import foreign_state_storage

MODULE_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
_MODULE_NAME = re.compile(MODULE_NAME_PATTERN)


class TerraformStep(StepBase):
    kind: Literal["terraform"]
    module: str = Field(pattern=MODULE_NAME_PATTERN)
    vars: dict[str, Any] = Field(default_factory=dict)
    variants: dict[Variant, dict[str, Any]] = Field(default_factory=dict)
    workspace: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,90}$")

    reference_fields: ClassVar[tuple[str, ...]] = ("vars", "variants")

    def workspace_for(self, stack: str, step: str) -> str:
        return self.workspace or f"{stack}-{step}"

    def state_key(self) -> str:
        """The backend `key`; with workspaces, state lives at env:/<workspace>/<key>."""
        return f"loadstack/{self.module}.tfstate"

    def state_object(self, stack: str, step: str) -> str:
        return f"env:/{self.workspace_for(stack, step)}/{self.state_key()}"

    def declared_outputs(self, modules_dir: Path) -> set[str] | None:
        """The `output` blocks of its module; None when there is no such module (reported on its own)."""
        module_dir = _existing_module(modules_dir, self.module)
        return module_outputs(module_dir) if module_dir is not None else None

    def variables_for(self, variant: str) -> dict[str, Any]:
        """Spec values for one variant: `vars`, overlaid by `variants[variant]`."""
        return {**self.vars, **self.variants.get(variant, {})}  # type: ignore[call-overload]


class _ModulesRootNames:
    """Paths in messages as a user finds them: "include/terraform/app/main.tf", not absolute."""

    def __init__(self, modules_dir: Path) -> None:
        self.root = modules_dir.absolute()
        self.label = f"{self.root.parent.name}/{self.root.name}"

    def __call__(self, path: Path, line: int = 0) -> str:
        path = path.absolute()
        shown = f"{self.label}/{path.relative_to(self.root)}" if self.root in path.parents else str(path)
        return f"{shown}:{line}" if line else shown


def _source_message(problem: SourceProblem, names: _ModulesRootNames) -> str:
    call = problem.call
    where = f'{names(call.file, call.line)}: module "{call.name}" source "{call.source}"'
    if problem.reason == "outside":
        return (f"{where} leaves {names.label}/, and a step's working copy holds only {names.label}/; "
                f"move the shared module under it (e.g. {names.label}/modules/{problem.target.name}) and point source there")
    if problem.reason == "missing":
        return f"{where} points at {names(problem.target)}, which does not exist; create it or fix the path"
    return f"{where} points at {names(problem.target)}, which holds no *.tf files; fix the path"


def _state_storage_messages(module_dir: Path, names: _ModulesRootNames) -> Iterable[str]:
    for declared, what in foreign_state_storage(module_dir):
        where = names(declared.file, declared.line)
        if declared.kind == "s3":
            yield (f'{where}: {what}; loadstack supplies them from the profile (state bucket, key, locking): '
                   'leave the block empty (backend "s3" {}) or remove it')
        else:
            yield (f"{where}: {what}, but loadstack keeps every step's state in the profile's S3 state bucket; "
                   'remove the block (or leave an empty backend "s3" {})')


def _existing_module(modules_dir: Path, module: str) -> Path | None:
    """The module's directory, or None if there is none (a name too long for the file system included)."""
    try:
        return modules_dir / module if (modules_dir / module).is_dir() else None
    except OSError:
        return None


def _check(step: StepBase, ctx: CheckContext) -> Iterable[tuple[str, str]]:
    assert isinstance(step, TerraformStep)
    module_dir = _existing_module(ctx.modules_dir, step.module)
    if module_dir is None:
        # Only names a step may give: a suggestion must itself pass the `module` pattern.
        known = [p.name for p in sorted(ctx.modules_dir.iterdir()) if _MODULE_NAME.fullmatch(p.name) and p.is_dir()
                 and config_files(p)] if ctx.modules_dir.is_dir() else []
        yield "module", unknown_name("module", step.module, known)
        return
    names = _ModulesRootNames(ctx.modules_dir)
    _, source_problems = local_module_dirs(module_dir, ctx.modules_dir)
    for problem in source_problems:
        yield "module", _source_message(problem, names)
    for message in _state_storage_messages(module_dir, names):
        yield "module", message
    declared = module_variables(module_dir)
    for variant in VARIANTS:
        if not (module_dir / f"{variant}.tfvars").is_file():
            yield "module", f"module '{step.module}' has no {variant}.tfvars; add {module_dir / (variant + '.tfvars')}"
    sources: list[tuple[str, dict[str, Any]]] = [("vars", step.vars)]
    sources += [(f"variants.{v}", values) for v, values in step.variants.items()]
    for prefix, values in sources:
        for name in values:
            if name not in declared:
                hint = did_you_mean(name, declared) or f"declared: {listing(declared)}"
                yield f"{prefix}.{name}", f"module '{step.module}' has no variable {shown(name)} ({hint.strip()})"


TERRAFORM = register_kind(
    StepKind(
        name="terraform",
        model=TerraformStep,
        outputs_task_id="apply",
        check=_check,
    )
)
