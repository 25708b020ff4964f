"""
One deadline for all the reads of a docker call: the scope rules, how a read is cut short,
and that a list walk that runs out of time fails whole instead of answering short; and
the one bound on a single wait, :func:`~fmzokx.deferreds.with_deadline`.
"""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import Clock, deferLater

from fmzokx.deferreds import Deadline, current, detached, with_deadline, within
from fmzokx.okx.bounds import read_budget
from fmzokx.okx.errors import OkxPaginationError, OkxTimeout
from fmzokx.sim import DEFAULT_ACCOUNT
from tests.helpers import LogEvents

from .support import CREDS, RESTING_BUY, Harness, outcome_of

PENDING = "/api/v5/trade/orders-pending"
TICKER = "/api/v5/market/ticker"
BALANCE = "/api/v5/account/balance"


def test_inner_scope_never_extends_the_outer_one() -> None:
    """A nested scope may shorten the deadline, never lengthen it; leaving restores it."""
    outer, later, sooner = Deadline(10, 10), Deadline(20, 20), Deadline(5, 5)
    assert current() is None
    with within(outer):
        with within(later) as kept:
            assert kept is outer and current() is outer
        with within(sooner) as inner:
            assert inner is sooner and current() is sooner
        assert current() is outer
        with within(None):
            assert current() is outer
    assert current() is None


def test_detached_work_is_under_no_deadline_even_after_its_caller_returns() -> None:
    """
    Work a docker call starts in the background (an order lookup) runs with no deadline,
    in every later step too, while the caller's own scope is untouched.
    """
    clock = Clock()
    seen: list[Deadline | None] = []

    async def background() -> None:
        seen.append(current())
        await deferLater(clock, 60, lambda: None)
        seen.append(current())

    with within(Deadline(10, 10)) as call:
        task = detached(lambda: Deferred.fromCoroutine(background()))
        assert current() is call
    clock.advance(60)
    assert task.called and seen == [None, None]


def test_scope_follows_awaits_and_started_deferreds_only() -> None:
    """The ambient deadline reaches the Deferreds a call starts, and nothing concurrent."""
    clock = Clock()
    seen: list[tuple[str, Any]] = []

    async def leaf() -> None:
        await deferLater(clock, 1)
        seen.append(("leaf", current()))

    async def call() -> None:
        with within(Deadline(50, 50)):
            await Deferred.fromCoroutine(leaf())
        seen.append(("after", current()))

    async def other() -> None:
        await deferLater(clock, 0.5)
        seen.append(("other", current()))

    Deferred.fromCoroutine(call())
    Deferred.fromCoroutine(other())
    clock.advance(1)
    assert seen == [("other", None), ("leaf", Deadline(50, 50)), ("after", None)]


def test_read_is_cut_at_the_deadline_with_its_own_phase() -> None:
    """A read that would outlast its deadline fails when the deadline passes, not at T."""
    h = Harness(timeout=10)
    h.sim.add_fault(BALANCE, "delay", delay_ms=8000)
    deadline = Deadline.after(h.clock, 3)
    started = h.clock.seconds()
    error = h.failure(h.client.get(BALANCE, credentials=CREDS, deadline=deadline))
    assert isinstance(error, OkxTimeout) and error.phase == "deadline"
    assert h.clock.seconds() - started == pytest.approx(3, abs=0.02)
    assert "reads together took longer than 3 s" in str(error)


def test_passed_deadline_sends_nothing() -> None:
    h = Harness()
    error = h.failure(h.client.get(BALANCE, credentials=CREDS,
                                   deadline=Deadline(h.clock.seconds() - 1, 2)))
    assert isinstance(error, OkxTimeout) and error.phase == "deadline"
    assert h.count(BALANCE) == 0


def test_writes_ignore_the_read_deadline() -> None:
    """An order's POST inside a docker call's scope keeps its full timeout."""
    h = Harness(timeout=10)
    h.sim.add_fault("/api/v5/trade/order", "delay", delay_ms=4000)

    async def place() -> Any:
        with within(Deadline.after(h.clock, 1)):
            return await h.client.post("/api/v5/trade/order", RESTING_BUY, credentials=CREDS)

    reply = h.run(place())
    assert reply.items[0].ok


def test_joined_read_bounds_each_caller_by_its_own_deadline() -> None:
    """
    Two identical reads wait together for a rate-limit slot and so share one request; the
    hurried caller gives up at its deadline, the other still gets the reply.
    """
    h = Harness(timeout=10)
    for i in range(20):  # the ticker's whole budget for the next 2 s
        h.start(h.client.get(TICKER, {"instId": f"NOSUCH-{i}"})).addErrback(lambda _: None)
    h.sim.add_fault(TICKER, "delay", skip=20, delay_ms=3000)

    async def read(seconds: float) -> Any:
        with within(Deadline.after(h.clock, seconds)):
            return await h.client.get(TICKER, {"instId": "BTC-USDT"})

    hurried = outcome_of(h.start(read(1)))
    patient = outcome_of(h.start(read(8)))
    h.advance(1.05)
    assert hurried and hurried[0].check(OkxTimeout) and hurried[0].value.phase == "deadline"
    assert patient == []
    h.advance(5)
    assert patient[0].data[0]["instId"] == "BTC-USDT"
    assert h.count(TICKER) == 21


@pytest.mark.parametrize(
    ("timeout", "per_page", "read"), [(1.0, 0.875, 3), (4.0, 3.5, 3), (10.0, 7.0, 4)]
)
def test_slow_list_fails_whole_within_three_timeouts(
    timeout: float, per_page: float, read: int
) -> None:
    """
    1,000 open orders at 3.5 s per page with T = 4 (and the like for other T): every page
    is within its own timeout, but the walk is bounded by 3 T and then fails saying the
    list could not be fetched whole -- it never answers with the pages it had.
    """
    h = Harness(timeout=timeout)
    order = {**RESTING_BUY, "ordType": "post_only"}
    for i in range(1000):
        assert h.sim.exchange.place(
            DEFAULT_ACCOUNT.key, {**order, "clOrdId": f"rest{i}"}, h.sim.now_ms()
        )["sCode"] == "0"
    h.sim.add_fault(PENDING, "delay", count=-1, delay_ms=per_page * 1000)
    started = h.clock.seconds()
    error = h.failure(h.client.paginate(PENDING, {"instType": "SPOT"}, credentials=CREDS))
    elapsed = h.clock.seconds() - started
    assert isinstance(error, OkxPaginationError)
    assert f"could not fetch the whole list within {read_budget(timeout):g} s" in str(error)
    assert f"({read} pages read)" in str(error)
    assert elapsed == pytest.approx(read_budget(timeout), abs=0.05)
    assert h.count(PENDING) == read + 1


# -- with_deadline: one wait, bounded --------------------------------------------------


class Late(Exception):
    """The error a test's deadline gives."""


def test_bounded_wait_passes_a_failure_in_time_through() -> None:
    """A failure before the deadline is the caller's, and the timer is gone."""
    clock = Clock()
    d: Deferred[str] = Deferred()
    box = outcome_of(with_deadline(d, clock, 2.0, Late))
    d.errback(ValueError("no"))
    assert isinstance(box[0].value, ValueError)
    assert clock.getDelayedCalls() == []


def test_bounded_wait_delivers_the_verdict_before_cancelling() -> None:
    """
    At the deadline the caller gets ``on_timeout()``'s error, not the failure the inner
    Deferred's canceller produces (a transport error wrapping CancelledError).
    """
    clock = Clock()
    seen: list[Any] = []

    def canceller(d: Deferred[str]) -> None:
        seen.append(list(box))  # what the caller had when the inner one was cancelled
        d.errback(RuntimeError("connection aborted"))

    inner: Deferred[str] = Deferred(canceller)
    box = outcome_of(with_deadline(inner, clock, 2.0, lambda: Late("2 s")))
    clock.advance(1.99)
    assert box == [] and seen == []
    clock.advance(0.01)
    assert len(box) == 1 and isinstance(box[0].value, Late)
    assert len(seen) == 1 and isinstance(seen[0][0].value, Late)
    assert inner.called  # cancelled, and its failure consumed (no unhandled error)


def test_bounded_wait_can_leave_uncancellable_work_running() -> None:
    """
    ``cancel=False``: at the deadline the caller fails, ``on_timeout`` runs once, the
    work is not cancelled, and its late success goes to ``late``, not to the caller.
    """
    clock = Clock()
    timeouts: list[float] = []
    late: list[str] = []

    def on_timeout() -> Late:
        timeouts.append(clock.seconds())
        return Late("2 s")

    work: Deferred[str] = Deferred(lambda _: pytest.fail("work was cancelled"))
    box = outcome_of(with_deadline(work, clock, 2.0, on_timeout, cancel=False, late=late.append))
    clock.advance(2.0)
    assert timeouts == [2.0]
    assert len(box) == 1 and isinstance(box[0].value, Late)
    assert not work.called
    work.callback("durable")
    assert late == ["durable"]
    assert len(box) == 1
    clock.advance(10.0)
    assert timeouts == [2.0]


def test_bounded_wait_drops_a_late_failure() -> None:
    """A failure after the deadline reaches neither the caller nor ``late``."""
    clock = Clock()
    late: list[str] = []
    work: Deferred[str] = Deferred()
    box = outcome_of(with_deadline(work, clock, 1.0, Late, cancel=False, late=late.append))
    clock.advance(1.0)
    work.errback(ValueError("disk error"))
    assert late == [] and len(box) == 1 and isinstance(box[0].value, Late)
    # Consumed: a Deferred still holding a failure would have a non-None result.
    assert work.result is None


def test_bounded_wait_logs_a_late_hook_that_raises(info_events: LogEvents) -> None:
    """What ``late`` raises is logged, not left in the work's Deferred."""
    clock = Clock()
    work: Deferred[str] = Deferred()

    def late(result: str) -> None:
        raise RuntimeError("hook bug")

    outcome_of(with_deadline(work, clock, 1.0, Late, cancel=False, late=late))
    clock.advance(1.0)
    with info_events.during() as events:
        work.callback("durable")
    assert any(event.get("log_failure") is not None for event in events)
    assert work.result is None


def test_cancelling_a_bounded_wait_stops_its_timer() -> None:
    """
    Cancelling the caller's Deferred fails it with CancelledError at once, cancels the
    work, and leaves no timer behind (``on_timeout`` never runs).
    """
    clock = Clock()
    cancelled: list[bool] = []
    work: Deferred[str] = Deferred(lambda _: cancelled.append(True))
    waiting = with_deadline(work, clock, 2.0, lambda: pytest.fail("timed out after a cancel"))
    box = outcome_of(waiting)
    waiting.cancel()
    assert len(box) == 1 and isinstance(box[0].value, CancelledError)
    assert cancelled == [True]
    assert clock.getDelayedCalls() == []
    clock.advance(5.0)


def test_cancelling_a_bounded_wait_leaves_uncancellable_work_to_late() -> None:
    """With ``cancel=False`` a cancelled caller's work goes on; its success goes to ``late``."""
    clock = Clock()
    late: list[str] = []
    work: Deferred[str] = Deferred(lambda _: pytest.fail("work was cancelled"))
    waiting = with_deadline(work, clock, 2.0, Late, cancel=False, late=late.append)
    box = outcome_of(waiting)
    waiting.cancel()
    assert isinstance(box[0].value, CancelledError)
    assert clock.getDelayedCalls() == []
    work.callback("done")
    assert late == ["done"] and len(box) == 1
