"""The ramp's two modes, where a task, its checks, its report and the live view meet them: in one place.

- hold (the default): `RampController` ramps to a target in stages and holds it in band (`RampParams`,
  `RampState`);
- capacity: `CapacitySearch` raises load until an abort rule is about to trip and reports the highest
  sustainable QPS (`CapacityParams`, `CapacityState`).

Both run under the same runner (`run_ramp`) and checkpoint to the same store; a mode's params JSON says
which it is (`"mode": "capacity"`; none: hold), so whatever reads a checkpoint or a task's parameters picks
the mode's classes here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from loadstack.ramp.capacity import MODE as CAPACITY
from loadstack.ramp.capacity import STAGE_NAMES, CapacityParams, CapacitySearch, CapacityState, result_of
from loadstack.ramp.controller import RampController
from loadstack.ramp.params import RampParams
from loadstack.ramp.runner import describe
from loadstack.ramp.state import RampState

HOLD = "hold"
Params = RampParams | CapacityParams
State = RampState | CapacityState
Controller = RampController | CapacitySearch


def mode_of(params: Params) -> str:
    return CAPACITY if isinstance(params, CapacityParams) else HOLD


def params_from_json(data: Mapping[str, Any]) -> Params:
    """A mode's params from their JSON (a task's `params_by_variant` entry, a checkpoint's `params`)."""
    mode = data.get("mode", HOLD)
    if mode == CAPACITY:
        return CapacityParams.from_json(data)
    if mode != HOLD:
        raise ValueError(f"ramp params: unknown mode {mode!r}; known: {HOLD}, {CAPACITY}")
    return RampParams.from_json({k: v for k, v in data.items() if k != "mode"})


def state_from_json(params: Params, data: Mapping[str, Any]) -> State:
    """The checkpointed state of the mode `params` belong to."""
    return CapacityState.from_json(data) if isinstance(params, CapacityParams) else RampState.from_json(data)


def build_controller(params: Params, state: State | None = None) -> Controller:
    """The mode's controller, resumed on a checkpointed state (None: from zero)."""
    if isinstance(params, CapacityParams):
        assert state is None or isinstance(state, CapacityState)
        return CapacitySearch(params, state)
    assert state is None or isinstance(state, RampState)
    return RampController(params, state)


def describe_plan(params: Params) -> str:
    """What the task is about to do, for its log."""
    if isinstance(params, CapacityParams):
        ceiling = f"at most {params.max_qps:g} QPS" if params.max_qps is not None else "no max_qps"
        return (
            f"capacity search from {params.start_qps:g} QPS (x{params.growth:g}, then bisection; {ceiling}; "
            f"unhealthy at {params.trip_fraction:g} x {', '.join(rule.name for rule in params.abort_rules)})"
        )
    return (
        f"ramp to {params.target_qps:g} QPS (band {params.low_watermark:g}..{params.high_watermark:g}) in stages "
        f"{list(params.stages)}"
    )


def outcome_extras(controller: Controller) -> dict[str, Any]:
    """What the task's XCom adds to the runner's outcome: the target (hold) or the search's result (capacity)."""
    if isinstance(controller, CapacitySearch):
        return {"mode": CAPACITY, "capacity": result_of(controller.params, controller.state).to_json()}
    return {"target_qps": controller.params.target_qps}


def capacity_status(state: CapacityState, params: CapacityParams, now: float | None = None) -> dict[str, Any]:
    """The few numbers `loadstack ramp status` shows for a capacity search (small: the task state store's limit)."""
    now = time.time() if now is None else now
    last = state.timeline.decisions[-1] if state.timeline.decisions else None
    sample = state.timeline.samples[-1] if state.timeline.samples else None
    result = result_of(params, state) if state.finished else CapacitySearch(params, state).result(now)
    return {
        "mode": CAPACITY,
        "phase": state.phase,
        "stage": state.stage,
        "stage_name": STAGE_NAMES.get(state.stage, str(state.stage)),
        "buckets": state.buckets,
        "generated_qps": round(state.buckets * params.bucket_qps, 3),
        "measured_qps": None if sample is None or sample.qps is None else round(sample.qps, 2),
        "levels": len(state.levels),
        "capacity_qps": None if result.capacity_qps is None else round(result.capacity_qps, 2),
        "bracket_qps": None if result.bracket_qps is None else [round(v, 2) for v in result.bracket_qps],
        "limited_by": result.limited_by,
        "max_qps": params.max_qps,
        "elapsed_s": None if result.duration_s is None else round(result.duration_s, 1),
        "last_decision": describe(last) if last else "",
        "reason": state.end_reason,
        # `loadstack ramp pause|resume|terminate` numbers its record after this one (see rest_client.ramp).
        "applied_control_seq": state.applied_control_seq,
        "updated_at": now,
    }
