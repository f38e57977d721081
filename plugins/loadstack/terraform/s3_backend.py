"""The S3 backend every step gets, whatever its module declares.

loadstack writes a Terraform override file with an empty `backend "s3" {}` and passes the settings
with `-backend-config` at init. An override's backend block replaces the module's own backend or
cloud block, and adds one to a module that declares none (checked with Terraform 1.11): no step can
keep its state in the throw-away working copy. A module that declares another backend is still a
spec error, because its author expects state somewhere else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loadstack.terraform.module import BACKEND_OVERRIDE_FILE, StateStorage, state_storage


class LocalStateError(RuntimeError):
    """A working copy whose state would stay on this machine: the run must stop before it plans."""


def backend_override() -> dict[str, Any]:
    return {"terraform": {"backend": {"s3": {}}}}


def write_backend_override(terraform_dir: Path) -> None:
    (Path(terraform_dir) / BACKEND_OVERRIDE_FILE).write_text(json.dumps(backend_override(), indent=2))


def foreign_state_storage(module_dir: Path) -> list[tuple[StateStorage, str]]:
    """The module's backend/cloud declarations that do not match loadstack's S3 backend, with the fix."""
    problems = []
    for declared in state_storage(module_dir):
        if declared.kind == "cloud":
            problems.append((declared, "declares a `cloud` block (HCP Terraform)"))
        elif declared.kind != "s3":
            problems.append((declared, f'declares backend "{declared.kind}"'))
        elif declared.settings:
            problems.append((declared, f'sets {", ".join(declared.settings)} in backend "s3"'))
    return problems


def verify_remote_state(terraform_dir: Path, *, bucket: str) -> None:
    """After init: state must live in the S3 backend and nowhere in the working copy."""
    terraform_dir = Path(terraform_dir)
    for local in ("terraform.tfstate", "terraform.tfstate.d"):
        if (terraform_dir / local).exists():
            raise LocalStateError(
                f"{terraform_dir / local} exists after init: this run would keep state in its working copy; "
                "remove the module's local state and backend settings"
            )
    backend_state = terraform_dir / ".terraform" / "terraform.tfstate"
    try:
        backend = json.loads(backend_state.read_text()).get("backend") or {}
    except (OSError, ValueError) as exc:
        raise LocalStateError(f"cannot read {backend_state} after init ({exc}): the backend is unknown") from None
    kind = backend.get("type")
    configured_bucket = (backend.get("config") or {}).get("bucket")
    if kind != "s3" or configured_bucket != bucket:
        raise LocalStateError(
            f"{backend_state} says backend {kind!r} (bucket {configured_bucket!r}) after init, not s3 in "
            f"{bucket!r}: state would not reach the state bucket; check {BACKEND_OVERRIDE_FILE}"
        )
