"""loadstack.ramp.control: the control record (numbered, JSON) and the rule deciding whether it is still a command."""

from __future__ import annotations

import json

import pytest

from loadstack.ramp.control import ControlRecord, MemoryControl


def test_records_are_numbered_one_after_the_other():
    first = ControlRecord.following(None, "pause", at=10.0, by="ana", reason="alert")
    second = ControlRecord.following(first, "resume", at=20.0, by="bo")
    assert (first.seq, second.seq) == (1, 2)
    assert second.describe() == "resume #2 by bo" and first.describe() == "pause #1 by ana: alert"


def test_a_record_round_trips_through_json():
    record = ControlRecord("terminate", seq=3, at=12.5, by="ana", reason="wrong target")
    assert ControlRecord.from_json(json.loads(json.dumps(record.to_json()))) == record


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "stop", "seq": 1, "at": 1.0}, "action 'stop' is not one of pause, resume, terminate"),
        ({"action": "pause", "seq": 0, "at": 1.0}, "seq must be an integer >= 1"),
        ({"action": "pause", "at": 1.0}, "missing seq"),
    ],
)
def test_a_bad_record_says_what_is_wrong(data, message):
    with pytest.raises(ValueError, match=message):
        ControlRecord.from_json(data)


def test_a_record_is_a_command_only_while_its_number_is_above_the_applied_one():
    record = ControlRecord("terminate", seq=2, at=50.0)
    assert record.is_pending(applied_seq=1, ramp_started_at=40.0)
    assert not record.is_pending(applied_seq=2, ramp_started_at=40.0)  # applied by an earlier try
    assert not record.is_pending(applied_seq=0, ramp_started_at=60.0)  # set before this ramp started
    assert record.is_pending(applied_seq=0, ramp_started_at=None)


def test_memory_control_keeps_the_current_record():
    control = MemoryControl()
    assert control.read() is None
    control.set("pause", at=1.0, by="ana")
    record = control.set("resume", at=2.0, by="ana")
    assert control.read() == record and record.seq == 2


def test_a_command_is_numbered_after_the_record_in_force_and_the_last_one_applied():
    from loadstack.ramp.control import command_after

    first = command_after(None, None, "pause", at=5.0, by="ana", reason="alert")
    assert (first.action, first.seq, first.by, first.reason) == ("pause", 1, "ana", "alert")
    assert command_after(first.to_json(), {"applied_control_seq": 0}, "resume", at=6.0, by="bo", reason="").seq == 2
    # The record was deleted (or garbled) after the ramp applied #3: the next one is #4, not #1.
    assert command_after(None, {"applied_control_seq": 3}, "resume", at=7.0, by="bo", reason="").seq == 4
    assert command_after({"seq": "7"}, {"applied_control_seq": True}, "pause", at=8.0, by="bo", reason="").seq == 1
