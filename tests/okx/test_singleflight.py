"""
SingleFlight: one in-flight call per key, shared by every caller meanwhile, not cached
after it settles, with per-caller cancellation. Reactor-free: every call is a Deferred
the test fires by hand.
"""

from __future__ import annotations

import gc
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.python.failure import Failure

from fmzokx.deferreds import SingleFlight
from tests.helpers import LogEvents


class Calls:
    """A ``make`` factory that records each start and hands out a Deferred per call."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.pending: list[Deferred[Any]] = []
        self.cancelled: list[str] = []

    def make(self, name: str) -> Deferred[Any]:
        self.started.append(name)
        d: Deferred[Any] = Deferred(lambda _: self.cancelled.append(name))
        self.pending.append(d)
        return d


def result_of(d: Deferred[Any]) -> list[Any]:
    """``[result]`` once ``d`` fired (a Failure for an error), ``[]`` before."""
    seen: list[Any] = []
    d.addBoth(seen.append)
    return seen


def test_concurrent_callers_share_one_call_and_its_result() -> None:
    """The second caller starts nothing; both get the very same object."""
    flight: SingleFlight[str, object] = SingleFlight()
    calls = Calls()
    first = result_of(flight.run("k", lambda: calls.make("first")))
    second = result_of(flight.run("k", lambda: calls.make("second")))
    assert calls.started == ["first"]
    assert flight.in_flight("k")
    assert first == second == []
    value = object()
    calls.pending[0].callback(value)
    assert first == [value] and second == [value]
    assert first[0] is second[0]
    assert not flight.in_flight("k")


def test_keys_are_independent() -> None:
    """Different keys run different calls, settled separately."""
    flight: SingleFlight[tuple[str, int], str] = SingleFlight()
    calls = Calls()
    a = result_of(flight.run(("a", 1), lambda: calls.make("a")))
    b = result_of(flight.run(("b", 1), lambda: calls.make("b")))
    assert calls.started == ["a", "b"]
    calls.pending[1].callback("B")
    assert (a, b) == ([], ["B"])
    assert flight.in_flight(("a", 1)) and not flight.in_flight(("b", 1))
    calls.pending[0].callback("A")
    assert a == ["A"]


def test_the_result_is_not_cached_after_it_settles() -> None:
    """A caller after the settlement starts a new call and gets the new result."""
    flight: SingleFlight[str, int] = SingleFlight()
    calls = Calls()
    first = result_of(flight.run("k", lambda: calls.make("1")))
    calls.pending[0].callback(1)
    later = result_of(flight.run("k", lambda: calls.make("2")))
    assert calls.started == ["1", "2"]
    assert later == []
    calls.pending[1].callback(2)
    assert (first, later) == ([1], [2])


def test_failure_reaches_every_waiter_and_is_not_cached() -> None:
    """Every waiter gets the same exception; the next caller tries again."""
    flight: SingleFlight[str, int] = SingleFlight()
    calls = Calls()
    waiters = [result_of(flight.run("k", lambda: calls.make("x"))) for _ in range(3)]
    error = ValueError("upstream refused")
    calls.pending[0].errback(error)
    for outcome in waiters:
        assert isinstance(outcome[0], Failure)
        assert outcome[0].value is error
    retry = result_of(flight.run("k", lambda: calls.make("again")))
    assert calls.started == ["x", "again"]
    calls.pending[1].callback(7)
    assert retry == [7]


def test_failure_is_consumed_even_when_every_waiter_left(info_events: LogEvents) -> None:
    """No 'Unhandled error in Deferred' when nobody is left to receive the failure."""
    flight: SingleFlight[str, int] = SingleFlight()
    calls = Calls()
    waiter = flight.run("k", lambda: calls.make("x"))
    waiter.cancel()
    result_of(waiter)
    with info_events.during() as events:
        calls.pending[0].errback(RuntimeError("nobody listens"))
        del calls.pending[:]
        gc.collect()
    assert not [e for e in events if e.get("isError") or e.get("log_failure")]


def test_cancelling_one_waiter_does_not_cancel_the_shared_call() -> None:
    """The cancelled caller fails with CancelledError; the others get the result."""
    flight: SingleFlight[str, str] = SingleFlight()
    calls = Calls()
    leaving = flight.run("k", lambda: calls.make("x"))
    staying = result_of(flight.run("k", lambda: calls.make("y")))
    left = result_of(leaving)
    leaving.cancel()
    assert isinstance(left[0], Failure) and left[0].check(CancelledError)
    assert calls.cancelled == []
    assert flight.in_flight("k")
    calls.pending[0].callback("done")
    assert staying == ["done"]


def test_cancelling_the_first_caller_keeps_the_call_for_later_ones() -> None:
    """Even with every waiter gone the call runs on, and a newcomer joins it."""
    flight: SingleFlight[str, str] = SingleFlight()
    calls = Calls()
    first = flight.run("k", lambda: calls.make("x"))
    first.cancel()
    result_of(first)
    assert calls.cancelled == [] and flight.in_flight("k")
    newcomer = result_of(flight.run("k", lambda: calls.make("y")))
    assert calls.started == ["x"]
    calls.pending[0].callback("done")
    assert newcomer == ["done"]


def test_synchronous_results_and_failures() -> None:
    """An already-fired Deferred, or ``make`` raising, settles at once and leaves no key."""
    flight: SingleFlight[str, int] = SingleFlight()
    assert result_of(flight.run("k", lambda: succeed(5))) == [5]
    assert not flight.in_flight("k")

    def boom() -> Deferred[int]:
        raise KeyError("no such thing")

    raised = result_of(flight.run("k", boom))
    assert isinstance(raised[0], Failure) and raised[0].check(KeyError)
    assert not flight.in_flight("k")
    failed = result_of(flight.run("k", lambda: fail(OSError("gone"))))
    assert isinstance(failed[0], Failure) and failed[0].check(OSError)
    assert not flight.in_flight("k")


def test_coroutines_are_accepted() -> None:
    """``make`` may return a coroutine; it is started once and shared."""
    flight: SingleFlight[str, str] = SingleFlight()
    gate: Deferred[str] = Deferred()
    runs: list[int] = []

    async def load() -> str:
        runs.append(1)
        return (await gate).upper()

    one = result_of(flight.run("k", load))
    two = result_of(flight.run("k", load))
    assert runs == [1]
    gate.callback("ok")
    assert one == two == ["OK"]


def test_a_waiter_asking_again_from_its_callback_starts_a_new_call() -> None:
    """The key is forgotten before the waiters hear: re-asking does not join a dead flight."""
    flight: SingleFlight[str, int] = SingleFlight()
    calls = Calls()
    again: list[Any] = []
    first = flight.run("k", lambda: calls.make("1"))
    first.addCallback(lambda _: again.append(flight.run("k", lambda: calls.make("2"))))
    calls.pending[0].callback(1)
    assert calls.started == ["1", "2"]
    assert flight.in_flight("k")
    outcome = result_of(again[0])
    calls.pending[1].callback(2)
    assert outcome == [2]


def test_one_waiters_failing_callback_does_not_starve_the_others() -> None:
    """Each caller's chain is its own: an exception in one does not stop delivery."""
    flight: SingleFlight[str, int] = SingleFlight()
    calls = Calls()
    broken = flight.run("k", lambda: calls.make("x"))
    broken.addCallback(lambda _: 1 / 0)
    fine = result_of(flight.run("k", lambda: calls.make("x")))
    calls.pending[0].callback(3)
    assert fine == [3]
    crashed = result_of(broken)
    assert isinstance(crashed[0], Failure) and crashed[0].check(ZeroDivisionError)


def test_a_cancelled_waiter_in_a_long_flight_is_dropped() -> None:
    """Callers that leave do not pile up while the call runs."""
    flight: SingleFlight[str, int] = SingleFlight()
    calls = Calls()
    for _ in range(100):
        waiter = flight.run("k", lambda: calls.make("x"))
        waiter.addErrback(lambda f: f.trap(CancelledError))
        waiter.cancel()
    stays = result_of(flight.run("k", lambda: calls.make("x")))
    assert len(flight._flights["k"].waiters) == 1
    calls.pending[0].callback(9)
    assert stays == [9] and calls.started == ["x"]


def test_a_closed_call_takes_no_more_joiners_but_still_answers_its_own() -> None:
    """
    After close(), the next caller starts a new call; those who joined before still get
    the first call's result, and settling the first does not disturb the second.
    """
    flight: SingleFlight[str, str] = SingleFlight()
    calls = Calls()
    first = result_of(flight.run("k", lambda: calls.make("first")))
    joiner = result_of(flight.run("k", lambda: calls.make("joiner")))
    flight.close("k")
    assert not flight.in_flight("k")
    later = result_of(flight.run("k", lambda: calls.make("later")))
    assert calls.started == ["first", "later"]
    calls.pending[0].callback("old")
    assert first == joiner == ["old"]
    assert later == []
    assert flight.in_flight("k")
    also_later = result_of(flight.run("k", lambda: calls.make("also")))
    calls.pending[1].callback("new")
    assert later == also_later == ["new"]
    assert calls.started == ["first", "later"]


def test_closing_from_inside_make_is_safe() -> None:
    """A call that closes itself while starting (sent at once) takes no joiners."""
    flight: SingleFlight[str, str] = SingleFlight()
    calls = Calls()

    def make() -> Deferred[Any]:
        flight.close("k")
        return calls.make("first")

    first = result_of(flight.run("k", make))
    second = result_of(flight.run("k", lambda: calls.make("second")))
    assert calls.started == ["first", "second"]
    calls.pending[0].callback("a")
    calls.pending[1].callback("b")
    assert first == ["a"] and second == ["b"]
