"""What the ramp page polls: a ramp's checkpoint, control record and status as one JSON document.

The page asks for the samples and decisions it has not seen yet (`samples_from`, `decisions_from`: how
many it holds) so a two-hour ramp (thousands of samples) is sent once, not at every poll. `epoch` (the
ramp's first start) tells the page when the checkpoint was started again from zero: it then asks for
everything again. Everything comes from the checkpoint as the ramp wrote it; nothing is recomputed but
the summary (loadstack.ramp.summary, the same numbers the report shows). A capacity search's checkpoint
fills the same fields (its target: the capacity found so far; its band: the bracket) and adds its levels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from loadstack.ramp.capacity import CapacityParams, CapacityState, result_of
from loadstack.ramp.modes import params_from_json, state_from_json
from loadstack.ramp.params import AbortRule, RampParams
from loadstack.ramp.summary import summarize, summarize_capacity
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
    params = params_from_json(checkpoint["params"])
    state = state_from_json(params, checkpoint["state"])
    samples = state.timeline.samples
    decisions = state.timeline.decisions
    epoch = state.started_at
    # The page's counts belong to another checkpoint (started again from zero): send everything.
    if samples_from > len(samples) or decisions_from > len(decisions):
        samples_from = decisions_from = 0
    latest = samples[-1] if samples else None
    if isinstance(params, CapacityParams):
        assert isinstance(state, CapacityState)
        result = result_of(params, state)
        mode = {"params": _capacity_params_view(params, result.capacity_qps, result.bracket_qps),
                "stages": 3, "hold_s": params.confirm_s, "summary": summarize_capacity(state.timeline, result)}  # fmt: skip
    else:
        mode = {"params": _params_view(params), "stages": len(params.stages), "hold_s": params.hold_s,
                "summary": summarize(params, state.timeline)}  # fmt: skip
    view.update(
        {
            "epoch": epoch,
            "params": mode["params"],
            "state": {
                "phase": state.phase,
                "stage": state.stage,
                "stages": mode["stages"],
                "buckets": state.buckets,
                "generated_qps": state.buckets * params.bucket_qps,
                "in_band_s": state.in_band_s,
                "hold_s": mode["hold_s"],
                "started_at": state.started_at,
                "ended_at": state.ended_at,
                "end_reason": state.end_reason,
                "paused": state.phase == "paused",
                "applied_control_seq": state.applied_control_seq,
                "tries": state.tries,
            },
            "latest": None if latest is None else {**latest.to_json(), "age_s": latest.age(now)},
            "summary": mode["summary"].to_json(),
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
        "abort_rules": _rules_view(params.abort_rules),
    }


def _capacity_params_view(
    params: CapacityParams, capacity_qps: float | None, bracket_qps: tuple[float, float] | None
) -> dict[str, Any]:
    """A capacity search in the fields the page draws: its target is the capacity found so far, its band the
    bracket the capacity lies in (None: not known yet)."""
    low, high = bracket_qps if bracket_qps is not None else (None, None)
    return {
        "mode": "capacity",
        "target_qps": capacity_qps,
        "low_watermark": low,
        "high_watermark": high,
        "stages": [],
        "stage_targets_qps": [],
        "bucket_qps": params.bucket_qps,
        "start_qps": params.start_qps,
        "max_qps": params.max_qps,
        "hold_s": params.confirm_s,
        "organic_qps": 0.0,
        "max_staleness_s": params.max_staleness_s,
        "trip_fraction": params.trip_fraction,
        "abort_rules": _rules_view(params.abort_rules),
    }


def _rules_view(rules: tuple[AbortRule, ...]) -> list[dict[str, Any]]:
    return [{"name": rule.name, "metric": rule.metric, "limit": rule.limit, "window_s": rule.window_s} for rule in rules]
