"""loadstack.ramp.clock: fake time moves only when slept through; the system clock is epoch seconds."""

from __future__ import annotations

import time

import pytest

from loadstack.ramp.clock import FakeClock, SystemClock


def test_a_fake_clock_moves_only_when_slept_through():
    clock = FakeClock(start=100.0)
    assert clock.now() == clock.now() == 100.0
    clock.sleep(2.5)
    clock.advance(0.5)
    assert clock.now() == 103.0


def test_a_fake_clock_refuses_to_go_back():
    with pytest.raises(ValueError, match="negative time"):
        FakeClock().sleep(-1)


def test_the_system_clock_is_epoch_seconds():
    before = time.time()
    now = SystemClock().now()
    assert before <= now <= time.time()
    SystemClock().sleep(0)  # nothing to wait for: returns at once
