"""
How long a call waits for Redis: the deadline ends the wait only when Redis shows no
sign of life, not when this process was too busy to read its answer.
"""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import Clock

from fmzokx.okx.pacing.shared.patience import (
    BACKLOG,
    CAP,
    SETTLE,
    SharedStateTimeout,
    patiently,
)
from tests.helpers import failure_result_of, success_result_of


def waiting(alive: list[bool] | None = None) -> tuple[Clock, Deferred[Any], Deferred[Any]]:
    clock = Clock()
    answer: Deferred[Any] = Deferred()
    flags = alive if alive is not None else [False]
    result = patiently(answer, clock, 0.05, answered_since=lambda _: flags[0])
    return clock, answer, result


def step(clock: Clock, seconds: float) -> None:
    for _ in range(round(seconds / 0.001)):
        clock.advance(0.001)


def test_answer_in_time() -> None:
    clock, answer, result = waiting()
    step(clock, 0.03)
    answer.callback("ok")
    assert success_result_of(result) == "ok"
    assert clock.getDelayedCalls() == []


def test_silence_times_out_after_the_deadline_and_the_settle() -> None:
    clock, answer, result = waiting()
    step(clock, 0.05)
    assert not result.called
    step(clock, SETTLE)
    assert "no answer within 50 ms" in str(failure_result_of(result, SharedStateTimeout).value)
    answer.callback("late")  # discarded


def test_an_answer_just_after_the_deadline_wins() -> None:
    clock, answer, result = waiting()
    step(clock, 0.051)
    answer.callback("just in time")
    assert success_result_of(result) == "just in time"


def test_a_late_timer_is_congestion_not_silence() -> None:
    """The reactor was busy for 300 ms: the deadline starts over instead of failing."""
    clock, answer, result = waiting()
    clock.advance(0.3)  # one long blocked turn: the timer fires 250 ms late
    assert not result.called
    answer.callback("read at last")
    assert success_result_of(result) == "read at last"


def test_congestion_is_bounded() -> None:
    """Late timers extend the wait, but never past CAP deadlines after the send."""
    clock, answer, result = waiting()
    while clock.seconds() + 0.07 < CAP * 0.05:
        clock.advance(0.07)  # 20 ms late each time: a fresh deadline
        assert not result.called
    clock.advance(0.07)  # past CAP x 50 ms: no more extensions
    step(clock, SETTLE)
    failure_result_of(result, SharedStateTimeout)


def test_a_frozen_redis_under_a_burst_costs_the_cap_not_seconds() -> None:
    """
    Every timer 300 ms late (a reactor busy with a burst): the verdict comes at the
    first timer past the cap (0.5 s), not after ten fresh deadlines (once 4.3 s).
    """
    clock, answer, result = waiting()
    clock.advance(0.3)
    assert not result.called  # a fresh deadline, up to the cap
    clock.advance(0.3)
    assert not result.called  # the settle still lets an answer already read win
    clock.advance(0.3)
    failure_result_of(result, SharedStateTimeout)
    assert clock.seconds() <= 3 * 0.3 < 4.3


def test_a_backlog_gets_more_time_but_not_forever() -> None:
    alive = [True]
    clock, answer, result = waiting(alive)
    step(clock, (0.05 + SETTLE) * BACKLOG)
    assert not result.called
    step(clock, 0.05 + SETTLE)
    failure_result_of(result, SharedStateTimeout)


def test_failure_and_cancellation_pass_through() -> None:
    clock, answer, result = waiting()
    answer.errback(RuntimeError("refused"))
    failure_result_of(result, RuntimeError)
    clock, answer, result = waiting()
    result.cancel()
    failure_result_of(result, CancelledError)
    assert answer.called  # cancelled too
    assert clock.getDelayedCalls() == []


@pytest.mark.parametrize("seconds", [0.001, 0.05, 1.0])
def test_no_timer_left_behind(seconds: float) -> None:
    clock, answer, result = waiting()
    step(clock, seconds)
    answer.callback(None)
    result.addErrback(lambda _: None)
    assert clock.getDelayedCalls() == []
