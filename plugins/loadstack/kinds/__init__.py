"""Step kinds. Each kind is one module that registers a `StepKind`; importing this package loads them."""

from loadstack.kinds.base import STEP_KINDS, VARIANTS, CheckContext, StepBase, StepKind, register_kind
from loadstack.kinds import terraform  # noqa: F401  (registers "terraform")

__all__ = ["STEP_KINDS", "VARIANTS", "CheckContext", "StepBase", "StepKind", "register_kind"]
