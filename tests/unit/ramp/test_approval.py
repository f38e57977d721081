"""A human's approval before a stage or the hold: the ramp holds its traffic at the point until answered."""

from __future__ import annotations

import json

import pytest

from loadstack.ramp.approval import Approval, ApprovalSource, MemoryApproval, point_problem
from loadstack.ramp.clock import FakeClock
from loadstack.ramp.state import RampState


class ScheduledApproval(ApprovalSource):
    """A human who answers `answer` `after_s` seconds after the ramp first asked (reads before that: None)."""

    def __init__(self, clock: FakeClock, after_s: float, answer: Approval) -> None:
        self.clock, self.after_s, self.answer = clock, after_s, answer
        self.first_read: float | None = None
        self.reads = 0

    def read(self) -> Approval | None:
        self.reads += 1
        now = self.clock.now()
        if self.first_read is None:
            self.first_read = now
        if now - self.first_read < self.after_s:
            return None
        return Approval(self.answer.approved, self.answer.by, now, self.answer.comment)


def decision(controller, action: str):
    return next(d for d in controller.state.timeline.decisions if d.action == action)


def rates_between(rig, start: float, end: float) -> set[float]:
    return {rate for t, rate in rig.sim.driver.calls if start <= t < end}


def test_before_stage_3_the_ramp_holds_its_traffic_until_approved_then_goes_on(kit):
    rig = kit.Rig()
    approval = ScheduledApproval(rig.clock, 120, Approval(True, "ana", comment="stage 2 looks healthy"))
    controller = rig.controller(kit.with_params(approve_before="stage_3"))
    outcome = rig.run(controller, approval=approval)

    assert outcome.succeeded
    asked, approved = decision(controller, "approval_requested"), decision(controller, "approved")
    stage_2 = [d for d in kit.actions(controller, "stage_reached") if d.stage == 2][0]
    assert asked.at == stage_2.at and asked.stage == 3
    assert "before stage 3" in asked.reason and asked.thresholds["approval_timeout_s"] == 3600.0
    assert approved.at - asked.at == pytest.approx(120, abs=1.5)
    assert approved.reason == "approved by ana: stage 2 looks healthy: going on to stage 3"
    # Nothing moved while the human looked, and the ramp went on to the band afterwards.
    assert [d for d in kit.actions(controller) if asked.at < d.at < approved.at] == []
    assert rates_between(rig, asked.at, approved.at) <= {asked.rate_qps}
    assert [d for d in kit.actions(controller, "step_up") if d.at > approved.at and d.stage == 3]
    # The source is asked only while the ramp waits (once a tick), not during the rest of the ramp.
    assert approval.reads == pytest.approx(approved.at - asked.at, abs=2)


def test_before_the_hold_it_waits_in_band_and_the_hold_starts_after_approval(kit):
    rig = kit.Rig()
    approval = ScheduledApproval(rig.clock, 45, Approval(True, "bo"))
    controller = rig.controller(kit.with_params(approve_before="hold"))
    outcome = rig.run(controller, approval=approval)

    assert outcome.succeeded
    asked, approved, hold = (decision(controller, a) for a in ("approval_requested", "approved", "hold_started"))
    assert "before the hold" in asked.reason and asked.at < approved.at <= hold.at
    assert kit.PARAMS.low_watermark <= asked.values["level_qps"] <= kit.PARAMS.high_watermark
    # The wait is not hold time: the whole hold is counted after the approval.
    assert controller.state.hold_started_at >= approved.at - kit.PARAMS.max_staleness_s
    assert controller.state.approval == {"approved": True, "by": "bo", "at": approved.at, "comment": ""}


def test_a_rejection_terminates_the_ramp_and_drains_naming_who(kit):
    rig = kit.Rig()
    approval = ScheduledApproval(rig.clock, 30, Approval(False, "ana", comment="db replica lag"))
    controller = rig.controller(kit.with_params(approve_before="stage_3"))
    outcome = rig.run(controller, approval=approval)

    assert not outcome.succeeded and outcome.phase == "terminated"
    assert outcome.reason == "rejected by ana: db replica lag at the approval before stage 3"
    assert rig.sim.driver.applied_rate() == 0.0


def test_no_answer_within_the_approval_timeout_terminates(kit):
    rig = kit.Rig()
    controller = rig.controller(kit.with_params(approve_before="stage_2", approval_timeout_s=90))
    outcome = rig.run(controller, approval=MemoryApproval())

    assert outcome.phase == "terminated"
    assert outcome.reason == "no approval before stage 2 within approval_timeout_s 90 s"
    asked = decision(controller, "approval_requested")
    assert controller.state.ended_at - asked.at == pytest.approx(90, abs=1.5)


def asked_offset(kit, params) -> float:
    """When this (deterministic) ramp reaches its approval point, from a first run that is approved at once."""
    probe = kit.Rig()
    controller = probe.controller(params)
    probe.run(controller, approval=MemoryApproval(Approval(True, "probe")))
    return decision(controller, "approval_requested").at - probe.start


def test_abort_rules_still_hold_while_it_waits(kit):
    params = kit.with_params(approve_before="stage_3")
    asked = asked_offset(kit, params)
    rig = kit.Rig()
    rig.sim.inject_error_burst(rig.start + asked + 20, error_ratio=0.9)
    controller = rig.controller(params)
    outcome = rig.run(controller, approval=MemoryApproval())

    assert outcome.phase == "aborted" and "error_ratio > 0.5 (hard limit)" in outcome.reason
    assert controller.state.ended_at - (rig.start + asked) < 60
    assert rig.sim.driver.applied_rate() == 0.0


def test_an_answer_given_before_the_ramp_asked_is_stale(kit):
    rig = kit.Rig()
    early = Approval(False, "ana", at=rig.start - 10, comment="left from another run")
    controller = rig.controller(kit.with_params(approve_before="stage_3", approval_timeout_s=30))
    outcome = rig.run(controller, approval=MemoryApproval(early))
    assert outcome.reason.startswith("no approval before stage 3")


def test_a_retry_keeps_the_approval_and_does_not_ask_again(kit):
    rig = kit.Rig()
    controller = rig.controller(kit.with_params(approve_before="stage_3"))
    rig.run(controller, approval=MemoryApproval(Approval(True, "ana")))
    saved = json.loads(json.dumps(rig.checkpoints[-1][1]))
    saved["phase"], saved["ended_at"] = "holding", None  # as if the worker died during the hold

    retry = rig.controller(kit.with_params(approve_before="stage_3"), state=RampState.from_json(saved))
    never = MemoryApproval()
    outcome = rig.run(retry, approval=never)
    assert outcome.succeeded and never.reads == 0


def test_a_pause_while_waiting_resumes_into_the_wait(kit):
    params = kit.with_params(approve_before="stage_3")
    asked = asked_offset(kit, params)
    rig = kit.Rig()
    rig.schedule((asked + 10, "pause", "bo", "look"), (asked + 40, "resume", "bo", ""))
    controller = rig.controller(params)
    outcome = rig.run(controller, approval=ScheduledApproval(rig.clock, 80, Approval(True, "ana")))

    assert outcome.succeeded
    order = [d.action for d in kit.actions(controller) if d.action in ("approval_requested", "pause", "resume", "approved")]
    assert order == ["approval_requested", "pause", "resume", "approved"]
    resume, approved = decision(controller, "resume"), decision(controller, "approved")
    assert [d for d in kit.actions(controller) if resume.at < d.at < approved.at] == []


@pytest.mark.parametrize(
    ("point", "stages", "problem"),
    [
        ("hold", 3, None),
        ("stage_3", 3, None),
        ("stage_2", 2, None),
        ("stage_1", 3, "stages 2..3"),
        ("stage_4", 3, "stages 2..3"),
        ("stage3", 3, "neither 'hold' nor 'stage_N'"),
        ("before_hold", 3, "neither 'hold' nor 'stage_N'"),
        ("stage_3\n", 3, "neither 'hold' nor 'stage_N'"),
    ],
)
def test_approval_points(point, stages, problem):
    found = point_problem(point, stages)
    assert (found is None) if problem is None else (problem in found)


def test_params_refuse_a_bad_point_and_timeout(kit):
    with pytest.raises(ValueError, match="approve_before 'stage_9'"):
        kit.with_params(approve_before="stage_9")
    with pytest.raises(ValueError, match="approval_timeout_s must be > 0"):
        kit.with_params(approve_before="hold", approval_timeout_s=0)
