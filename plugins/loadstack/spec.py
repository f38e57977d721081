"""Stack specs: YAML in, a validated `Stack` out, or one `SpecError` listing every problem.

Validation runs over the whole file at once: top-level fields, each step against its kind's model,
each completion handler against its registered config, references, dependencies, and finally the
graph. Each problem names the file, the field path and the fix. No Airflow here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from loadstack.graph import StepGraph
from loadstack.handlers import HANDLERS, UnknownHandlerError, get_handler
from loadstack.issues import (
    SpecIssue,
    did_you_mean,
    format_issue,
    issues_from_validation,
    join_path,
    kind_of,
    listing,
    not_a_name,
    shown,
    unknown_name,
)
from loadstack.kinds import STEP_KINDS, VARIANTS, CheckContext, StepBase, Variant
from loadstack.kinds.base import STEP_NAME_PATTERN
from loadstack.refs import Ref, RefSyntaxError, walk_refs
from loadstack.safe_yaml import YamlProblems, read_yaml_file

STACK_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
_STEP_NAME = re.compile(STEP_NAME_PATTERN)
# A duration such as 30m, 8h, 2d or 1h30m; the lookahead refuses the empty string. JSON-Schema compatible
# (ECMA-262): the trigger form validates the `ttl` Param with it too.
DURATION_PATTERN = r"^(?=\d)(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$"
_DURATION = re.compile(DURATION_PATTERN)
SCHEDULE_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@yearly")


class SpecError(ValueError):
    """Every problem found in one spec file; `str()` gives one line per problem."""

    def __init__(self, source: str, issues: Iterable[SpecIssue]) -> None:
        self.source = source
        self.issues = sorted(set(issues), key=lambda i: (i.path, i.message))
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """One line per issue: control characters (a name's line break) are escaped, never printed."""
        return [format_issue(self.source, i) for i in self.issues]


def parse_duration(text: str) -> timedelta:
    m = _DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if not m or not any(m.groups()):
        raise ValueError(f"{shown(text)} is not a duration; write e.g. 30m, 8h, 2d or 1h30m")
    days, hours, minutes, seconds = (int(g or 0) for g in m.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


class StackModel(BaseModel):
    """Top-level spec fields; steps are checked one by one against their kind afterwards."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=STACK_NAME_PATTERN)
    description: str
    owner: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    schedule: str | None = None
    ttl: str = "8h"
    default_variant: Variant = "minimal"
    retries: int = Field(default=1, ge=0, le=10)
    steps: dict[str, Any] = Field(min_length=1)

    @field_validator("ttl")
    @classmethod
    def _ttl_is_duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule_is_cron(cls, value: str | None) -> str | None:
        if value is None or value in SCHEDULE_PRESETS:
            return value
        # croniter costs ~0.1 s to import: only specs with a cron schedule pay it at parse time.
        from croniter import croniter

        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(
                f"{shown(value)} is not a 5-field cron expression or one of {', '.join(SCHEDULE_PRESETS)}"
            )
        return value


@dataclass(frozen=True)
class HandlerSpec:
    handler: str
    config: dict[str, Any]
    task_id: str


@dataclass(frozen=True)
class Stack:
    """A validated spec, ready to render."""

    model: StackModel
    steps: dict[str, StepBase]
    handlers: dict[str, tuple[HandlerSpec, ...]]
    graph: StepGraph
    source: Path
    modules_dir: Path
    ttl: timedelta = field(default=timedelta(hours=8))

    @property
    def name(self) -> str:
        return self.model.name

    def retries_for(self, step: str) -> int:
        own = self.steps[step].retries
        return self.model.retries if own is None else own

    def upstream_state_objects(self, step: str) -> dict[str, str]:
        """{upstream step: the state bucket object holding its outputs}: where a step's references are answered
        when the steps it depends on are not part of the run (a teardown, a drift plan)."""
        return {
            up: obj for up in self.graph.ancestors(step) if (obj := self.steps[up].state_object(self.name, up))
        }


# --- loading ---------------------------------------------------------------------------------------


def default_modules_dir(spec_path: Path) -> Path:
    """Specs in include/stacks/ use modules in include/terraform/."""
    return spec_path.resolve().parent.parent / "terraform"


def load_stack(path: str | Path, *, modules_dir: Path | None = None, display: str | None = None) -> Stack:
    """Read and validate one spec file. Raises SpecError naming `display` (default: the path as given)."""
    path = Path(path)
    source = display or str(path)
    try:
        data = read_yaml_file(path)
    except YamlProblems as problems:
        raise SpecError(source, [SpecIssue("", message) for message in problems.issues]) from None
    return parse_stack(data, source=source, path=path, modules_dir=modules_dir or default_modules_dir(path))


def parse_stack(data: Any, *, source: str, path: Path, modules_dir: Path) -> Stack:
    if not isinstance(data, dict):
        raise SpecError(source, [SpecIssue("", "a stack spec must be a YAML mapping with name, owner, steps, ...")])
    issues: list[SpecIssue] = []
    try:
        model = StackModel.model_validate(data)
    except ValidationError as exc:
        issues.extend(issues_from_validation(exc, StackModel))
        model = None
    if path.suffix in (".yaml", ".yml") and model is not None and model.name != path.stem:
        issues.append(SpecIssue("name", f"'{model.name}' must match the file name '{path.stem}' (one DAG per file)"))

    raw_steps = data.get("steps") if isinstance(data.get("steps"), dict) else {}
    stack_name = data.get("name") if isinstance(data.get("name"), str) else path.stem
    steps: dict[str, StepBase] = {}
    handlers: dict[str, tuple[HandlerSpec, ...]] = {}
    # Only kinds given as names: a list or mapping there is reported by the step itself.
    step_kinds = {
        str(n): r["kind"] for n, r in raw_steps.items() if isinstance(r, dict) and isinstance(r.get("kind"), str)
    }
    taken = frozenset(str(n) for n in raw_steps)
    for step_name, raw in raw_steps.items():
        step, step_handlers, step_issues = _parse_step(
            str(step_name), raw, stack_name, path, modules_dir, step_kinds, taken=taken
        )
        issues.extend(step_issues)
        if step is not None:
            steps[str(step_name)] = step
            handlers[str(step_name)] = step_handlers

    edges, edge_issues = _collect_edges(raw_steps, steps, modules_dir)
    issues.extend(edge_issues)
    if issues or model is None:
        raise SpecError(source, issues)
    graph = StepGraph(steps, edges)
    if cycle := graph.find_cycle():
        raise SpecError(source, [SpecIssue("steps", f"cycle: {_chain(cycle)}; remove one of these dependencies")])
    return Stack(
        model=model,
        steps=steps,
        handlers=handlers,
        graph=graph,
        source=path,
        modules_dir=modules_dir,
        ttl=parse_duration(model.ttl),
    )


def _parse_step(
    name: str,
    raw: Any,
    stack_name: str,
    path: Path,
    modules_dir: Path,
    step_kinds: dict[str, str],
    *,
    taken: Iterable[str] = (),
) -> tuple[StepBase | None, tuple[HandlerSpec, ...], list[SpecIssue]]:
    prefix = f"steps.{name}"
    if not _STEP_NAME.fullmatch(name):
        suggestion = _slug(name, taken=taken)
        message = f"step name {shown(name)} must match {_STEP_NAME.pattern} (e.g. '{suggestion}')"
        return None, (), [SpecIssue(prefix, message)]
    if not isinstance(raw, dict):
        return None, (), [SpecIssue(prefix, f"a step must be a mapping with at least `kind` (got {kind_of(raw)})")]
    kind_name = raw.get("kind")
    if not isinstance(kind_name, str) or kind_name not in STEP_KINDS:
        known = sorted(STEP_KINDS)
        if kind_name is None:
            return None, (), [SpecIssue(f"{prefix}.kind", f"required key 'kind' is missing; one of: {listing(known)}")]
        if not isinstance(kind_name, str):
            return None, (), [SpecIssue(f"{prefix}.kind", not_a_name("step kind", kind_name, known))]
        return None, (), [SpecIssue(f"{prefix}.kind", unknown_name("step kind", kind_name, known))]
    kind = STEP_KINDS[kind_name]
    try:
        step = kind.model.model_validate(raw)
    except ValidationError as exc:
        return None, (), issues_from_validation(exc, kind.model, prefix)
    ctx = CheckContext(
        stack_name=stack_name, step_name=name, spec_dir=path.parent, modules_dir=modules_dir, step_kinds=step_kinds
    )
    issues = [SpecIssue(join_path(prefix, rel), message) for rel, message in kind.check(step, ctx)]
    step_handlers, handler_issues = _parse_handlers(prefix, step.on_complete)
    return step, step_handlers, issues + handler_issues


_STEP_NAME_MAX = 49  # STEP_NAME_PATTERN: a letter and up to 48 more


def _slug(name: str, taken: Iterable[str] = ()) -> str:
    """A valid step name close to `name` (it always matches STEP_NAME_PATTERN), and none of `taken`."""
    base = re.sub(r"[^a-z0-9_]+", "_", str(name).lower()).lstrip("_0123456789").rstrip("_")
    base = re.sub(r"_+", "_", base)[:_STEP_NAME_MAX].rstrip("_") or "step"
    taken = taken if isinstance(taken, (set, frozenset)) else set(taken)
    slug, number = base, 1
    while slug in taken:
        number += 1
        suffix = f"_{number}"
        slug = base[: _STEP_NAME_MAX - len(suffix)].rstrip("_") + suffix
    return slug


def _parse_handlers(prefix: str, items: list[dict[str, Any]]) -> tuple[tuple[HandlerSpec, ...], list[SpecIssue]]:
    issues: list[SpecIssue] = []
    parsed: list[HandlerSpec] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        where = f"{prefix}.on_complete[{index}]"
        config = dict(item)
        name = config.pop("handler", None)
        if name is None:
            message = f"required key 'handler' is missing; one of: {listing(HANDLERS)}"
            issues.append(SpecIssue(f"{where}.handler", message))
            continue
        try:
            handler_cls = get_handler(name)
        except UnknownHandlerError as exc:
            issues.append(SpecIssue(f"{where}.handler", exc.message))
            continue
        try:
            validated = handler_cls.validate_config(config)
        except ValidationError as exc:
            issues.extend(issues_from_validation(exc, handler_cls.Config, where, echo_input=False))
            continue
        try:
            # Parse time has no profile yet; check() may only look at the config.
            handler_cls(validated, None).check()  # type: ignore[arg-type]
        except (ValueError, TypeError, ImportError) as exc:
            issues.append(SpecIssue(where, str(exc)))
            continue
        for path, ref in walk_refs(config):
            if isinstance(ref, RefSyntaxError):
                issues.append(SpecIssue(join_path(where, path), str(ref)))
        seen[name] = seen.get(name, 0) + 1
        task_id = f"publish_{name}" if seen[name] == 1 else f"publish_{name}_{seen[name]}"
        parsed.append(HandlerSpec(handler=name, config=config, task_id=task_id))
    return tuple(parsed), issues


def _chain(cycle: list[str], limit: int = 12) -> str:
    """`a -> b -> c -> a`; a long cycle with its middle left out, so the line stays short."""
    if len(cycle) <= limit:
        return " -> ".join(cycle)
    head, tail = cycle[: limit - 3], cycle[-3:]
    return f"{' -> '.join(head)} -> ... ({len(cycle) - limit} more) -> {' -> '.join(tail)}"


def step_references(step: StepBase) -> list[tuple[str, Ref | RefSyntaxError]]:
    """References in the fields that feed the step itself (not its completion handlers)."""
    found: list[tuple[str, Ref | RefSyntaxError]] = []
    for field_name in type(step).reference_fields:
        value = getattr(step, field_name)
        found.extend(walk_refs(value.model_dump() if isinstance(value, BaseModel) else value, field_name))
    return found


def _collect_edges(
    raw_steps: dict[str, Any], steps: dict[str, StepBase], modules_dir: Path
) -> tuple[list[tuple[str, str]], list[SpecIssue]]:
    edges: list[tuple[str, str]] = []
    issues: list[SpecIssue] = []
    # A suggestion must itself be a name a step may have (a misnamed step is reported on its own).
    names = sorted(str(n) for n in raw_steps)
    valid_names = [n for n in names if _STEP_NAME.fullmatch(n)]
    declared: dict[str, set[str] | None] = {}

    def outputs_of(step: str) -> set[str] | None:
        if step not in declared:
            declared[step] = steps[step].declared_outputs(modules_dir) if step in steps else None
        return declared[step]

    def check_target(where: str, target: str, me: str) -> bool:
        if target not in raw_steps:
            issues.append(SpecIssue(where, unknown_name("step", target, [n for n in valid_names if n != me])))
            return False
        if target == me:
            issues.append(SpecIssue(where, f"cycle: {me} -> {me}; a step cannot depend on itself"))
            return False
        return True

    def check_output(where: str, ref: Ref, step: str, whose: str) -> None:
        outputs = outputs_of(step)
        if outputs is None or ref.name in outputs:
            return
        hint = did_you_mean(ref.name, outputs)
        issues.append(SpecIssue(where, f"{whose} has no output {shown(ref.name)} "
                                       f"({hint}declared: {listing(outputs)}; fix the name or declare the output)"))

    for name, step in steps.items():
        for index, upstream in enumerate(step.depends):
            if check_target(f"steps.{name}.depends[{index}]", upstream, name):
                edges.append((upstream, name))
        for path, target in step.step_links():
            if check_target(f"steps.{name}.{path}", target, name):
                edges.append((target, name))
        for path, ref in step_references(step):
            where = f"steps.{name}.{path}"
            if isinstance(ref, RefSyntaxError):
                issues.append(SpecIssue(where, str(ref)))
            elif ref.scope == "own":
                issues.append(SpecIssue(where, f"{ref} is only available in on_complete handlers; "
                                               f"use ${{steps.<step>.outputs.{ref.name}}} for another step"))
            elif ref.scope == "step" and check_target(where, ref.step, name):
                edges.append((ref.step, name))
                check_output(where, ref, ref.step, f"step {shown(ref.step)}")
        for handler_index, item in enumerate(step.on_complete):
            for path, ref in walk_refs({k: v for k, v in item.items() if k != "handler"}):
                where = f"steps.{name}.on_complete[{handler_index}].{path}"
                if isinstance(ref, Ref) and ref.scope == "own":
                    check_output(where, ref, name, "this step")
                elif isinstance(ref, Ref) and ref.scope == "step":
                    if ref.step == name:
                        issues.append(SpecIssue(where, f"write ${{outputs.{ref.name}}} for this step's own output"))
                    elif check_target(where, ref.step, name):
                        edges.append((ref.step, name))
                        check_output(where, ref, ref.step, f"step {shown(ref.step)}")
    return edges, issues


__all__ = [
    "VARIANTS",
    "HandlerSpec",
    "SpecError",
    "SpecIssue",
    "Stack",
    "StackModel",
    "load_stack",
    "parse_duration",
    "parse_stack",
    "step_references",
]
