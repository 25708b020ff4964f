"""The one fake-clock driver the reactor-free tests share (tests/helpers.py)."""

from __future__ import annotations

import pytest
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock

from tests.helpers import advance, drive, failure_result_of, success_result_of


class Recorder:
    """A stand-in transport that notes the clock each time it is flushed."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.flushed: list[float] = []

    def flush(self) -> None:
        self.flushed.append(round(self.clock.seconds(), 6))


def test_advance_steps_and_flushes_after_each_step() -> None:
    """advance() moves the clock by exactly the stretch asked for, flushing after every step
    (so a reply can be delivered between two timers) and once more at the end."""
    clock = Clock()
    stub = Recorder(clock)
    fired: list[float] = []
    clock.callLater(0.12, lambda: fired.append(clock.seconds()))
    advance(clock, 0.25, stubs=(stub,), step=0.1)
    assert clock.seconds() == pytest.approx(0.25)
    assert stub.flushed == [0.1, 0.2, 0.25, 0.25]
    assert fired == [pytest.approx(0.2)]


def test_drive_runs_work_to_completion_in_fake_time() -> None:
    """drive() returns the result once the clock has moved far enough, and raises the
    failure of work that failed."""
    clock = Clock()
    later: Deferred[str] = Deferred()
    clock.callLater(3.0, later.callback, "done")
    assert drive(later, clock=clock, step=0.5) == "done"
    assert clock.seconds() == pytest.approx(3.0)
    with pytest.raises(ZeroDivisionError):
        drive(fail(ZeroDivisionError()))


def test_drive_gives_up_after_the_limit() -> None:
    """Work that never finishes fails the test after ``limit`` seconds of fake time."""
    clock = Clock()
    with pytest.raises(AssertionError, match="did not finish"):
        drive(Deferred(), clock=clock, limit=2.0, step=0.5)
    assert clock.seconds() == pytest.approx(2.0)


def test_result_helpers_read_fired_deferreds_only() -> None:
    """success_result_of/failure_result_of read a fired Deferred and refuse a pending one."""
    assert success_result_of(succeed(5)) == 5
    assert failure_result_of(fail(KeyError("k")), KeyError).check(KeyError)
    with pytest.raises(Exception, match="Success result expected"):
        success_result_of(Deferred())
