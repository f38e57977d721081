"""Step kinds. Each kind is one module that registers a `StepKind`; importing this package loads them."""

from loadstack.kinds import app, aurora_restore, ramp, redis_restore, seed, terraform  # noqa: F401, I001  (each registers its kind)
from loadstack.kinds.base import STEP_KINDS, VARIANTS, CheckContext, StepBase, StepKind, Variant, register_kind

__all__ = ["STEP_KINDS", "VARIANTS", "CheckContext", "StepBase", "StepKind", "Variant", "register_kind"]
