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


def test_advance_jumps_from_timer_to_timer_flushing_after_each() -> None:
    """advance() moves the clock by exactly the stretch asked for, stopping at each timer
    (which fires at its own time, not a step later) and flushing after every move (so a
    reply can be delivered between two timers), once more at the end."""
    clock = Clock()
    stub = Recorder(clock)
    fired: list[float] = []
    clock.callLater(0.12, lambda: fired.append(clock.seconds()))
    clock.callLater(0.2, lambda: clock.callLater(0.01, lambda: fired.append(clock.seconds())))
    advance(clock, 0.25, stubs=(stub,), step=0.1)
    assert clock.seconds() == pytest.approx(0.25)
    assert stub.flushed == pytest.approx([0.0, 0.12, 0.2, 0.21, 0.25, 0.25])
    assert fired == [pytest.approx(0.12), pytest.approx(0.21)]


def test_advance_without_timers_is_one_move() -> None:
    clock = Clock()
    stub = Recorder(clock)
    advance(clock, 400, stubs=(stub,))
    assert stub.flushed == [0.0, 400.0, 400.0]


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
