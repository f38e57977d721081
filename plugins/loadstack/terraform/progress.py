"""Turn Terraform's `-json` UI stream into short, live task-log lines (resource, action, elapsed).

Only the message types below are shown. `outputs` messages are never logged (they carry values),
and `resource_drift` is skipped: with provider 5.x it fires on most resources at every refresh for
null -> empty changes, so it is noise, not drift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

_PAST = {"create": "created", "update": "updated", "delete": "destroyed", "replace": "replaced", "read": "read"}
_PRESENT = {"create": "creating", "update": "updating", "delete": "destroying", "replace": "replacing", "read": "reading"}
_SYMBOL = {"create": "+", "update": "~", "delete": "-", "replace": "-/+", "read": "<=", "noop": " "}


@dataclass
class TerraformProgress:
    """Consumes one stream of `-json` lines; keeps what the caller needs afterwards."""

    emit: Callable[[str], None]
    # `apply <planfile>` repeats the saved plan's planned_change messages: shown once, at plan time.
    show_planned: bool = True
    planned: list[tuple[str, str]] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    applied: int = 0

    def __call__(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        try:
            message = json.loads(line)
        except ValueError:
            self.emit(line)
            return
        text = self.format(message)
        if text:
            self.emit(text)

    def format(self, message: dict) -> str | None:
        kind = message.get("type")
        if kind == "planned_change":
            change = message.get("change", {})
            address = change.get("resource", {}).get("addr", "?")
            action = change.get("action", "?")
            self.planned.append((address, action))
            if not self.show_planned:
                return None
            return f"plan     {_SYMBOL.get(action, '?')} {address} ({action})"
        if kind == "change_summary":
            self.summary = {k: int(v) for k, v in message.get("changes", {}).items() if isinstance(v, int)}
            return message.get("@message")
        if kind in ("apply_start", "apply_progress", "apply_complete", "apply_errored"):
            hook = message.get("hook", {})
            address = hook.get("resource", {}).get("addr", "?")
            action = hook.get("action", "?")
            elapsed = hook.get("elapsed_seconds")
            if kind == "apply_start":
                return f"start    {address}: {_PRESENT.get(action, action)}"
            if kind == "apply_progress":
                return f"running  {address}: still {_PRESENT.get(action, action)} ({elapsed}s elapsed)"
            if kind == "apply_complete":
                self.applied += 1
                return f"done     {address}: {_PAST.get(action, action)} in {elapsed}s"
            return f"FAILED   {address}: {action} failed after {elapsed}s"
        if kind == "diagnostic":
            diag = message.get("diagnostic", {})
            severity = diag.get("severity", "error")
            where = diag.get("address") or (diag.get("range") or {}).get("filename", "")
            text = f"{severity}: {diag.get('summary', '')}" + (f" [{where}]" if where else "")
            if diag.get("detail"):
                text += f": {diag['detail']}"
            if severity == "error":
                self.errors.append(text)
            return text
        return None
