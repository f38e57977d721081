"""Which stacks are live, and which of their Terraform steps a drift run plans.

A stack is live when at least one of its Terraform steps has managed resources in its remote state
in the profile's state bucket (a torn-down step keeps its state object, empty): the state itself is the
truth about what exists. `find_live_stacks` reads the specs under include/stacks; the variant planned is
the one the stack registry says the stack was stood up with (`loadstack.stack_registry`), else the spec's
default variant.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadstack.artifacts import read_object
from loadstack.kinds.terraform import TerraformStep
from loadstack.profiles import Profile
from loadstack.spec import SpecError, Stack, load_stack
from loadstack.stack_registry import StackRegistry


@dataclass(frozen=True)
class DriftTarget:
    """One Terraform step of a live stack, with what planning it needs; JSON primitives only (it is
    what the DAG maps its plan tasks over)."""

    stack: str
    step: str
    owner: str
    variant: str
    module_dir: str
    modules_root: str
    workspace: str
    state_key: str
    # The spec's values for the variant, references unresolved: they are answered at plan time.
    variables: dict[str, Any] = field(default_factory=dict)
    # Upstream steps' state objects, where references to their outputs are read (as teardown does).
    state_objects: dict[str, str] = field(default_factory=dict)
    resources: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DriftTarget:
        return cls(**data)


@dataclass(frozen=True)
class LiveStack:
    stack: Stack
    variant: str


@dataclass(frozen=True)
class LiveStacks:
    stacks: tuple[LiveStack, ...]
    # Spec files that could not be read, with the reason (their own DAG shows the full message).
    unreadable: dict[str, str] = field(default_factory=dict)


def managed_resources(profile: Profile, state_object: str) -> int:
    """How many managed resources a remote state holds (0 when there is no state object)."""
    body = read_object(profile.client("s3"), profile.state_bucket, state_object)
    if body is None:
        return 0
    # The state holds secrets: only its resource list is looked at, nothing of it is logged.
    resources = json.loads(body).get("resources") or []
    return sum(1 for r in resources if r.get("mode") == "managed" and r.get("instances"))


def stack_targets(profile: Profile, live: LiveStack) -> list[DriftTarget]:
    """The stack's Terraform steps that hold resources, in dependency order."""
    stack = live.stack
    targets = []
    for name in stack.graph.topological_order():
        step = stack.steps[name]
        if not isinstance(step, TerraformStep):
            continue
        workspace = step.workspace_for(stack.name, name)
        count = managed_resources(profile, step.state_object(stack.name, name))
        if not count:
            continue
        state_objects = stack.upstream_state_objects(name)
        targets.append(
            DriftTarget(
                stack=stack.name,
                step=name,
                owner=stack.model.owner,
                variant=live.variant,
                module_dir=str(stack.modules_dir / step.module),
                modules_root=str(stack.modules_dir),
                workspace=workspace,
                state_key=step.state_key(),
                variables=step.variables_for(live.variant),
                state_objects=state_objects,
                resources=count,
            )
        )
    return targets


def find_live_stacks(profile: Profile, stacks_dir: Path, *, modules_dir: Path | None = None) -> LiveStacks:
    """Every spec in `stacks_dir` with at least one Terraform step holding resources in the state bucket."""
    live, unreadable = [], {}
    # A registered stack is planned with the variant it was stood up with; one stood up before the registry
    # existed (or by hand) with its spec's default variant.
    registered = {entry.stack: entry for entry in StackRegistry(profile).list()}
    for path in sorted(Path(stacks_dir).glob("*.yaml")):
        try:
            stack = load_stack(path, modules_dir=None if modules_dir is None else Path(modules_dir), display=path.name)
        except SpecError as exc:
            unreadable[path.name] = str(exc)
            continue
        entry = registered.get(stack.name)
        candidate = LiveStack(stack=stack, variant=entry.variant if entry is not None else stack.model.default_variant)
        if any(
            managed_resources(profile, step.state_object(stack.name, name))
            for name, step in stack.steps.items()
            if isinstance(step, TerraformStep)
        ):
            live.append(candidate)
    return LiveStacks(stacks=tuple(live), unreadable=unreadable)


def live_targets(
    profile: Profile, stacks_dir: Path, *, modules_dir: Path | None = None
) -> tuple[list[DriftTarget], dict[str, str]]:
    """Every Terraform step of every live stack, and the spec files that could not be read."""
    found = find_live_stacks(profile, stacks_dir, modules_dir=modules_dir)
    return [t for live in found.stacks for t in stack_targets(profile, live)], found.unreadable
