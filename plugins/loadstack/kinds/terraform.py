"""The `terraform` step kind: one module from include/terraform, one workspace and remote state."""

from __future__ import annotations

from typing import Any, ClassVar, Iterable, Literal

from pydantic import Field

from loadstack.issues import did_you_mean, unknown_name
from loadstack.kinds.base import (
    VARIANTS,
    CheckContext,
    StepBase,
    StepKind,
    Variant,
    register_kind,
)
from loadstack.terraform.module import module_variables

MODULE_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


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

    def variables_for(self, variant: str) -> dict[str, Any]:
        """Spec values for one variant: `vars`, overlaid by `variants[variant]`."""
        return {**self.vars, **self.variants.get(variant, {})}  # type: ignore[call-overload]


def _check(step: StepBase, ctx: CheckContext) -> Iterable[tuple[str, str]]:
    assert isinstance(step, TerraformStep)
    module_dir = ctx.modules_dir / step.module
    if not module_dir.is_dir():
        known = sorted(p.name for p in ctx.modules_dir.iterdir() if p.is_dir()) if ctx.modules_dir.is_dir() else []
        yield "module", unknown_name("module", step.module, known)
        return
    declared = module_variables(module_dir)
    for variant in VARIANTS:
        if not (module_dir / f"{variant}.tfvars").is_file():
            yield "module", f"module '{step.module}' has no {variant}.tfvars; add {module_dir / (variant + '.tfvars')}"
    sources: list[tuple[str, dict[str, Any]]] = [("vars", step.vars)]
    sources += [(f"variants.{v}", values) for v, values in step.variants.items()]
    for prefix, values in sources:
        for name in values:
            if name not in declared:
                hint = did_you_mean(name, declared) or f"declared: {', '.join(sorted(declared))}"
                yield f"{prefix}.{name}", f"module '{step.module}' has no variable '{name}' ({hint.strip()})"


TERRAFORM = register_kind(
    StepKind(
        name="terraform",
        model=TerraformStep,
        outputs_task_id="apply",
        check=_check,
    )
)
