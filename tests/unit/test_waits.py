"""loadstack.waits: how a waiter's report becomes the event a job resumes with."""

from __future__ import annotations

from loadstack.waits import UnexpectedPhase, WaitEvent


def test_a_success_keeps_what_the_waiter_reported_besides_status_and_phase():
    event = WaitEvent.from_payload({"status": "success", "snapshot_id": "snap-1", "resume_at": "snapshot_ready"})
    assert event == WaitEvent(phase="snapshot_ready", succeeded=True, values={"snapshot_id": "snap-1"})


def test_a_failure_carries_its_message():
    event = WaitEvent.from_payload({"status": "error", "message": "cluster stuck", "resume_at": "p", "cluster_id": "c"})
    assert (event.succeeded, event.message, event.values) == (False, "cluster stuck", {"cluster_id": "c"})


def test_a_failure_without_a_message_is_shown_whole():
    event = WaitEvent.from_payload({"status": "timeout", "cluster_id": "c"})
    assert not event.succeeded and event.phase == ""
    assert event.message == "{'status': 'timeout', 'cluster_id': 'c'}"


def test_an_unexpected_phase_names_the_job_and_the_fix():
    message = str(UnexpectedPhase("building shop-seeded", "old_method", ("a", "b")))
    assert message == ("building shop-seeded: resumed at unknown phase 'old_method' (expected one of: a, b); "
                       "clear the task to start it again")
