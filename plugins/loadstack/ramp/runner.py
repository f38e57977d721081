"""The ramp loop the Airflow task calls: read control, read the source, tick, apply, checkpoint, repeat.

`run_ramp` owns the order of things and the safety net; the decisions are the controller's. Every
tick it reads the current control record and the newest sample, lets the controller decide, applies
the generated rate through the driver and reads back what the driver really applied. It hands the
state (JSON) to `checkpoint` after every action and at least every `checkpoint_every_s`, so a retry
resumes where this try was. While the ramp waits at its approval point, each tick also asks `approval`
for a human's answer. A tick that keeps the rate calls `driver.keep_alive()` (a rate lease's renewal). It stops when the ramp is done, aborted or terminated, draining the traffic; on
any exception (the driver failed, the checkpoint store failed, the task was killed) it drains first and
then re-raises, so no load is ever left behind by a failed ramp.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from loadstack.ramp.approval import ApprovalSource
from loadstack.ramp.clock import Clock
from loadstack.ramp.control import ControlSource
from loadstack.ramp.controller import RampController
from loadstack.ramp.samples import MetricSource
from loadstack.ramp.timeline import Decision, Phase
from loadstack.ramp.traffic import TrafficDriver

Checkpoint = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class RampOutcome:
    """How a ramp ended: `succeeded` only when it held its band for the hold; `reason` says why either way."""

    succeeded: bool
    phase: Phase
    reason: str
    stage: int
    in_band_s: float
    started_at: float | None
    ended_at: float | None
    ticks: int

    def to_json(self) -> dict[str, Any]:
        return {
            "succeeded": self.succeeded,
            "phase": self.phase,
            "reason": self.reason,
            "stage": self.stage,
            "in_band_s": self.in_band_s,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "ticks": self.ticks,
        }


class RampTickLimit(RuntimeError):
    """The loop ran `max_ticks` ticks without the ramp ending (a safety bound for tests and simulations)."""


def describe(decision: Decision) -> str:
    """One log line per decision: what, why, and the traffic it left."""
    age = f", sample {decision.sample_age_s:.1f} s old" if decision.sample_age_s is not None else ""
    return (
        f"[ramp] {decision.action} stage {decision.stage}, buckets {decision.buckets_before} -> "
        f"{decision.buckets_after} ({decision.rate_qps:g} QPS generated{age}): {decision.reason}"
    )


def run_ramp(
    controller: RampController,
    driver: TrafficDriver,
    source: MetricSource,
    control: ControlSource | None,
    clock: Clock,
    checkpoint: Checkpoint,
    tick_s: float = 1.0,
    *,
    checkpoint_every_s: float = 5.0,
    log: Callable[[str], None] | None = None,
    max_ticks: int | None = None,
    approval: ApprovalSource | None = None,
) -> RampOutcome:
    if tick_s <= 0:
        raise ValueError(f"run_ramp: tick_s must be > 0, got {tick_s}")
    # The controller must not judge a change before the driver has even made it.
    controller.settle_s = max(controller.settle_s, driver.settle_s)
    state = controller.state
    asked: float | None = None
    applied: float | None = None
    last_checkpoint: float | None = None
    ticks = 0
    try:
        # This loop renews: a driver with a lease (Locust) leases every rate from now on.
        driver.keep_alive()
        while True:
            if max_ticks is not None and ticks >= max_ticks:
                raise RampTickLimit(
                    f"ramp did not end within {max_ticks} ticks (phase {state.phase}, stage "
                    f"{state.stage}); raise max_ticks or check the ramp's parameters"
                )
            ticks += 1
            now = clock.now()
            record = control.read() if control is not None else None
            # Asked only while the ramp waits at its approval point (one call to Airflow per tick, then).
            answer = approval.read() if approval is not None and controller.awaiting_approval else None
            sample = source.read(now)
            result = controller.tick(now, sample, record, answer)
            if result.finished:
                driver.drain()
                applied = driver.applied_rate()
            elif asked is None or result.rate_qps != asked:
                asked = result.rate_qps
                driver.set_rate(asked)
                applied = driver.applied_rate()
            else:
                # The same rate: a driver with a lease renews it (a ramp killed outright stops renewing,
                # and its load generator stops on its own); it also raises if its generator broke.
                driver.keep_alive()
            if result.decisions:
                _note_applied(controller, result.decisions, applied)
                if log is not None:
                    for decision in result.decisions:
                        log(describe(decision))
            if (
                result.finished
                or result.acted
                or last_checkpoint is None
                or now - last_checkpoint >= checkpoint_every_s
            ):
                checkpoint(state.to_json())
                last_checkpoint = now
            if result.finished:
                return RampOutcome(
                    succeeded=bool(result.succeeded),
                    phase=result.phase,
                    reason=result.reason,
                    stage=result.stage,
                    in_band_s=state.in_band_s,
                    started_at=state.started_at,
                    ended_at=state.ended_at,
                    ticks=ticks,
                )
            clock.sleep(tick_s)
    except BaseException as error:
        try:
            driver.drain()
        except BaseException as drain_error:  # noqa: BLE001 - the original error matters more; note this one
            error.add_note(
                f"loadstack ramp: draining traffic after this error failed too: {drain_error!r}; "
                "stop the load generator by hand"
            )
        raise


def _note_applied(controller: RampController, decisions: tuple[Decision, ...], applied: float | None) -> None:
    """Add the rate the driver reported back to this tick's decisions (the report shows asked vs applied)."""
    if applied is None:
        return
    recorded = controller.state.timeline.decisions
    count = len(decisions)
    for i in range(len(recorded) - count, len(recorded)):
        recorded[i] = replace(recorded[i], values={**recorded[i].values, "applied_qps": applied})
