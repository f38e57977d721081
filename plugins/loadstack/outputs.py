"""Step outputs between tasks: what goes to XCom, and how `${...}` references are answered at run time.

Non-sensitive outputs travel in XCom, visible in the UI. A sensitive output never does: XCom gets a
marker naming the remote state object it lives in, and a consumer that needs the value reads it from
there and masks it in its log.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from loadstack.masking import mask
from loadstack.profiles import Profile
from loadstack.refs import Ref
from loadstack.terraform.state import read_state_outputs, state_exists

SENSITIVE_MARKER = "__loadstack_sensitive__"


def publishable_outputs(raw: Mapping[str, Mapping[str, Any]], state_object: str) -> dict[str, Any]:
    """`terraform output -json` → the XCom value: plain values, sensitive ones replaced by markers."""
    published: dict[str, Any] = {}
    for name, item in sorted(raw.items()):
        if item.get("sensitive"):
            mask(item.get("value"))
            published[name] = {SENSITIVE_MARKER: {"state_object": state_object, "output": name}}
        else:
            published[name] = item.get("value")
    return published


def is_sensitive_marker(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SENSITIVE_MARKER}


class OutputResolver:
    """Answers references for one task. `output_sources` maps a step name to the task id holding its
    outputs, and `pull(task_id)` fetches that task's return value (XCom, inside Airflow)."""

    def __init__(
        self,
        *,
        pull: Callable[[str], Any],
        profile: Profile,
        stack_fields: Mapping[str, str],
        output_sources: Mapping[str, str],
        own_step: str | None = None,
        state_objects: Mapping[str, str] | None = None,
    ) -> None:
        self.pull = pull
        self.profile = profile
        self.stack_fields = dict(stack_fields)
        self.output_sources = dict(output_sources)
        # Teardown runs without the applies: there, outputs come from each step's remote state.
        self.state_objects = dict(state_objects or {})
        self.own_step = own_step
        self._cache: dict[str, dict[str, Any]] = {}

    def outputs_of(self, step: str) -> dict[str, Any]:
        if step in self._cache:
            return self._cache[step]
        task_id = self.output_sources.get(step)
        if task_id is not None:
            value = self.pull(task_id)
            if not isinstance(value, dict):
                raise LookupError(f"step '{step}' has published no outputs (task {task_id} returned {type(value).__name__})")
        elif step in self.state_objects:
            state_object = self.state_objects[step]
            if not state_exists(self.profile, state_object):
                raise LookupError(
                    f"step '{step}' has no outputs at s3://{self.profile.state_bucket}/{state_object}: it was never "
                    "applied, or was applied by an older loadstack; run the stack DAG once, then tear it down"
                )
            value = publishable_outputs(read_state_outputs(self.profile, state_object), state_object)
        else:
            known = sorted({*self.output_sources, *self.state_objects})
            raise KeyError(f"step '{step}' is not upstream of this task (known: {', '.join(known)})")
        self._cache[step] = value
        return value

    def __call__(self, ref: Ref) -> Any:
        if ref.scope == "stack":
            return self.stack_fields[ref.name]
        step = self.own_step if ref.scope == "own" else ref.step
        assert step is not None
        outputs = self.outputs_of(step)
        if ref.name not in outputs:
            raise LookupError(f"{ref}: step '{step}' has no output '{ref.name}' (has: {', '.join(sorted(outputs))})")
        value = outputs[ref.name]
        if is_sensitive_marker(value):
            where = value[SENSITIVE_MARKER]
            value = read_state_outputs(self.profile, where["state_object"])[where["output"]]["value"]
            mask(value)
        return value
