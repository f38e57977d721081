"""What the ramp page polls: a ramp's checkpoint, control record and status as one JSON document.

The page asks for the samples and decisions it has not seen yet (`samples_from`, `decisions_from`: how
many it holds) so a two-hour ramp (thousands of samples) is sent once, not at every poll. `epoch` (the
ramp's first start) tells the page when the checkpoint was started again from zero: it then asks for
everything again. Everything comes from the checkpoint as the ramp wrote it; nothing is recomputed but
the summary (loadstack.ramp.summary, the same numbers the report shows).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from loadstack.ramp.params import RampParams
from loadstack.ramp.state import RampState
from loadstack.ramp.summary import summarize
from loadstack.rest_client.ramp import RAMP_TASK_SUFFIX


class NotARampTask(LookupError):
    """The task id does not name a ramp kind's main task (`<step>.ramp`)."""


def ramp_step(task_id: str) -> str:
    """The ramp step a task id belongs to: `surge.ramp` -> `surge` (its checkpoint is keyed by step)."""
    step = task_id.removesuffix(RAMP_TASK_SUFFIX)
    if step == task_id or not step:
        raise NotARampTask(
            f"task {task_id!r} is not a ramp task: the ramp page shows the `ramp` task of a ramp step "
            f"(<step>{RAMP_TASK_SUFFIX}); open it from that task"
        )
    return step


@dataclass(frozen=True)
class RampAddress:
    dag_id: str
    run_id: str
    task_id: str

    @property
    def step(self) -> str:
        return ramp_step(self.task_id)


def live_view(
    where: RampAddress,
    *,
    task_state: str | None,
    checkpoint_location: str,
    checkpoint: dict[str, Any] | None,
    control: Any,
    status: Any,
    samples_from: int = 0,
    decisions_from: int = 0,
    now: float | None = None,
) -> dict[str, Any]:
    """The page's document. `checkpoint` is what loadstack.ramp_store saved (None before the first one)."""
    now = time.time() if now is None else now
    view: dict[str, Any] = {
        "dag_id": where.dag_id,
        "run_id": where.run_id,
        "task_id": where.task_id,
        "step": where.step,
        "task_state": task_state,
        "checkpoint": checkpoint_location,
        "found": checkpoint is not None,
        "control": control if isinstance(control, dict) else None,
        "status": status if isinstance(status, dict) else None,
        "now": now,
    }
    if checkpoint is None:
        return view
    params = RampParams.from_json(checkpoint["params"])
    state = RampState.from_json(checkpoint["state"])
    samples = state.timeline.samples
    decisions = state.timeline.decisions
    epoch = state.started_at
    # The page's counts belong to another checkpoint (started again from zero): send everything.
    if samples_from > len(samples) or decisions_from > len(decisions):
        samples_from = decisions_from = 0
    latest = samples[-1] if samples else None
    view.update(
        {
            "epoch": epoch,
            "params": _params_view(params),
            "state": {
                "phase": state.phase,
                "stage": state.stage,
                "stages": len(params.stages),
                "buckets": state.buckets,
                "generated_qps": state.buckets * params.bucket_qps,
                "in_band_s": state.in_band_s,
                "hold_s": params.hold_s,
                "started_at": state.started_at,
                "ended_at": state.ended_at,
                "end_reason": state.end_reason,
                "paused": state.phase == "paused",
                "applied_control_seq": state.applied_control_seq,
                "tries": state.tries,
            },
            "latest": None if latest is None else {**latest.to_json(), "age_s": latest.age(now)},
            "summary": summarize(params, state.timeline).to_json(),
            "samples": {
                "from": samples_from,
                "total": len(samples),
                "items": [s.to_json() for s in samples[samples_from:]],
            },
            "decisions": {
                "from": decisions_from,
                "total": len(decisions),
                "items": [d.to_json() for d in decisions[decisions_from:]],
            },
        }
    )
    return view


def _params_view(params: RampParams) -> dict[str, Any]:
    return {
        "target_qps": params.target_qps,
        "low_watermark": params.low_watermark,
        "high_watermark": params.high_watermark,
        "stages": list(params.stages),
        "stage_targets_qps": [fraction * params.target_qps for fraction in params.stages],
        "bucket_qps": params.bucket_qps,
        "bucket_group": params.bucket_group,
        "hold_s": params.hold_s,
        "organic_qps": params.organic_qps,
        "max_staleness_s": params.max_staleness_s,
        "abort_rules": [
            {"name": rule.name, "metric": rule.metric, "limit": rule.limit, "window_s": rule.window_s}
            for rule in params.abort_rules
        ],
    }
