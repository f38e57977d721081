"""A drift run's report: one result per planned step, their summary, and the report's files.

Each plan task keeps its step's result in the state bucket (`result_key`), where the report task of
the same run reads it on whatever host it runs. The report (drift.json, drift.md, index.html) goes
to the report bucket under drift/<run_id>/. Results carry attribute names, and values only where
the plan marks neither side sensitive (`changes`).
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loadstack.artifacts import read_object
from loadstack.drift.changes import ResourceDrift
from loadstack.profiles import Profile

REPORT_FORMAT = 1
STATUSES = ("clean", "drifted", "error")
JSON_FILE, MARKDOWN_FILE, HTML_FILE = "drift.json", "drift.md", "index.html"


def run_slug(run_id: str) -> str:
    """A run id as one path segment (S3 key, working copy folder)."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", run_id)[:200]


def result_key(run_id: str, stack: str, step: str) -> str:
    """Where a plan task leaves its step's result for the run's report task (state bucket)."""
    return f"loadstack/drift/{run_slug(run_id)}/{stack}/{step}.json"


def report_prefix(run_id: str) -> str:
    """Where a drift run's report lives in the report bucket."""
    return f"drift/{run_slug(run_id)}/"


@dataclass(frozen=True)
class StepDrift:
    stack: str
    step: str
    workspace: str
    variant: str
    status: str
    resources: tuple[ResourceDrift, ...] = ()
    outputs: tuple[str, ...] = ()
    error: str | None = None
    reapplied: bool = False
    clean_after_reapply: bool | None = None
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r}: one of {', '.join(STATUSES)}")

    @property
    def name(self) -> str:
        return f"{self.stack}/{self.step}"

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack, "step": self.step, "workspace": self.workspace, "variant": self.variant,
            "status": self.status, "resources": [r.to_json() for r in self.resources],
            "outputs": list(self.outputs), "error": self.error, "reapplied": self.reapplied,
            "clean_after_reapply": self.clean_after_reapply, "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepDrift:
        return cls(
            **{k: data[k] for k in ("stack", "step", "workspace", "variant", "status")},
            resources=tuple(ResourceDrift.from_json(r) for r in data.get("resources", ())),
            outputs=tuple(data.get("outputs", ())),
            error=data.get("error"),
            reapplied=bool(data.get("reapplied")),
            clean_after_reapply=data.get("clean_after_reapply"),
            seconds=float(data.get("seconds", 0.0)),
        )


def save_step_result(profile: Profile, run_id: str, result: StepDrift) -> str:
    key = result_key(run_id, result.stack, result.step)
    profile.client("s3").put_object(
        Bucket=profile.state_bucket, Key=key, Body=json.dumps(result.to_json(), sort_keys=True).encode(),
        ContentType="application/json",
    )
    return key


def load_step_result(profile: Profile, run_id: str, stack: str, step: str) -> StepDrift | None:
    body = read_object(profile.client("s3"), profile.state_bucket, result_key(run_id, stack, step))
    return None if body is None else StepDrift.from_json(json.loads(body))


@dataclass(frozen=True)
class DriftReport:
    run_id: str
    profile: str
    steps: tuple[StepDrift, ...]
    reapply: bool = False
    generated_at: float = field(default_factory=time.time)
    # Spec files skipped because they do not load (file name → reason).
    unreadable_specs: dict[str, str] = field(default_factory=dict)

    def with_status(self, status: str) -> list[StepDrift]:
        return [s for s in self.steps if s.status == status]

    def summary(self) -> dict[str, Any]:
        drifted = self.with_status("drifted")
        return {
            "run_id": self.run_id,
            "profile": self.profile,
            "steps": len(self.steps),
            "stacks": sorted({s.stack for s in self.steps}),
            "clean": [s.name for s in self.with_status("clean")],
            "drifted": [s.name for s in drifted],
            "errors": [s.name for s in self.with_status("error")],
            "drifted_resources": sorted(f"{s.name}:{r.address}" for s in drifted for r in s.resources),
            "reapplied": [s.name for s in drifted if s.reapplied],
            "still_drifted_after_reapply": [s.name for s in drifted if s.reapplied and not s.clean_after_reapply],
            "unreadable_specs": sorted(self.unreadable_specs),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "generated_at": self.generated_at,
            "reapply": self.reapply,
            "summary": self.summary(),
            "steps": [s.to_json() for s in self.steps],
            "unreadable_specs": dict(self.unreadable_specs),
        }

    # --- renderings -------------------------------------------------------------------------
    def _headline(self) -> str:
        s = self.summary()
        return (f"{s['steps']} Terraform steps in {len(s['stacks'])} live stacks: {len(s['clean'])} clean, "
                f"{len(s['drifted'])} drifted ({len(s['drifted_resources'])} resources), {len(s['errors'])} errors")

    def markdown(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.generated_at))
        lines = [f"# Drift report — profile `{self.profile}`", "",
                 f"Run `{self.run_id}`, {when}. {self._headline()}.", ""]
        if not self.steps:
            lines += ["No live stack: no Terraform step holds resources in the state bucket.", ""]
        for step in self.steps:
            lines.append(f"## {step.name} — {step.status}" + (" (reapplied)" if step.reapplied else ""))
            lines.append("")
            lines.append(f"workspace `{step.workspace}`, variant `{step.variant}`, {step.seconds:.0f} s")
            if step.error:
                lines += ["", "```", step.error, "```"]
            if step.reapplied:
                lines.append(f"after reapply: {'clean' if step.clean_after_reapply else 'still drifted'}")
            for resource in step.resources:
                lines.append(f"- `{resource.address}` ({resource.type}): **{resource.action}**")
                for attr in resource.attributes:
                    lines.append(f"  - `{attr.name}`: {attr.before} → {attr.after}")
                if resource.replace_paths:
                    lines.append(f"  - replaced because of: {', '.join(resource.replace_paths)}")
            if step.outputs:
                lines.append(f"- outputs that change: {', '.join(step.outputs)}")
            lines.append("")
        for name, reason in sorted(self.unreadable_specs.items()):
            lines.append(f"- spec `{name}` skipped: {reason.splitlines()[0] if reason else ''}")
        return "\n".join(lines).rstrip() + "\n"

    def html(self) -> str:
        esc = html.escape
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.generated_at))
        rows = []
        for step in self.steps:
            resources = "".join(
                f"<li><code>{esc(r.address)}</code> ({esc(r.type)}): <b>{esc(r.action)}</b>"
                + ("<ul>" + "".join(f"<li><code>{esc(a.name)}</code>: {esc(a.before)} → {esc(a.after)}</li>"
                                    for a in r.attributes) + "</ul>" if r.attributes else "")
                + "</li>"
                for r in step.resources
            )
            detail = (f"<ul>{resources}</ul>" if resources else "") + (
                f"<pre>{esc(step.error)}</pre>" if step.error else "") + (
                f"<p>outputs that change: {esc(', '.join(step.outputs))}</p>" if step.outputs else "")
            after = ("clean" if step.clean_after_reapply else "still drifted") if step.reapplied else ""
            rows.append(
                f'<tr class="{esc(step.status)}"><td>{esc(step.stack)}</td><td>{esc(step.step)}</td>'
                f"<td>{esc(step.status)}</td><td>{esc(after)}</td><td>{detail}</td></tr>"
            )
        body = "".join(rows) or '<tr><td colspan="5">No live stack: no Terraform step holds resources.</td></tr>'
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title>Drift report</title><style>"
            "body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}"
            "table{border-collapse:collapse}.drifted td{background:#fff4e0}.error td{background:#ffe4e4}"
            "</style></head><body>"
            f"<h1>Drift report — profile {esc(self.profile)}</h1><p>Run <code>{esc(self.run_id)}</code>, {esc(when)}. "
            f"{esc(self._headline())}.</p><table><tr><th>stack</th><th>step</th><th>status</th><th>after reapply</th>"
            f"<th>planned changes</th></tr>{body}</table></body></html>\n"
        )

    def files(self) -> dict[str, bytes]:
        return {
            JSON_FILE: json.dumps(self.to_json(), indent=2, sort_keys=True).encode(),
            MARKDOWN_FILE: self.markdown().encode(),
            HTML_FILE: self.html().encode(),
        }


def collect_report(
    profile: Profile, run_id: str, targets: Iterable[tuple[str, str, str, str]], *, reapply: bool,
    unreadable_specs: Mapping[str, str] | None = None,
) -> DriftReport:
    """The run's report from its plan tasks' results; `targets` are (stack, step, workspace, variant).
    A target without a result is an error: its plan task failed before it could record one."""
    steps = []
    for stack, step, workspace, variant in targets:
        found = load_step_result(profile, run_id, stack, step)
        steps.append(found or StepDrift(
            stack=stack, step=step, workspace=workspace, variant=variant, status="error",
            error="its plan task recorded no result (it failed or did not run): see that task's log",
        ))
    return DriftReport(run_id=run_id, profile=profile.name, steps=tuple(steps), reapply=reapply,
                       unreadable_specs=dict(unreadable_specs or {}))
