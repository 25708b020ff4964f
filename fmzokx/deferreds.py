# -*- test-case-name: tests.okx.test_deadline,tests.okx.test_singleflight -*-
"""
The Deferred helpers the whole daemon shares, in one place.

Deadlines
---------
One overall deadline for all the reads a docker call makes.

Each upstream call has its own total deadline (``--timeout``), but a docker call may make
many: every page of a list, an instrument list and a ticker, a placement and the reads
that reconcile it. Without a bound on the whole, ``orders`` over 1,000 open orders at
3.5 s a page answers after 40 s however short ``--timeout`` is. So the reads of one
docker call share one :class:`Deadline`; a read that would run past it is cut short and
fails with :class:`~fmzokx.okx.errors.OkxTimeout` (phase ``"deadline"``), and a list
walk that hits it fails as a whole (never a truncated list).

The deadline is *ambient*: :func:`within` sets it for the code it wraps, and
:meth:`fmzokx.okx.rest.client.OkxClient.get` picks it up, so every read in a docker call
obeys it without each layer passing it along. Twisted runs a coroutine's steps in the
context it was started in, so the value follows ``await`` and the Deferreds started from
it, and never leaks into another docker call. Writes ignore it: cutting an order's POST
short would only turn a reply into an unknown outcome.

One wait, bounded
-----------------
:func:`with_deadline` is the one way the daemon bounds a single wait: a Deferred's
result, or a timeout error once ``seconds`` pass on the injected clock. Its rules:

* the verdict is delivered first, then the inner Deferred is cancelled, so the inner
  one's own failure on cancellation (often a transport error wrapping
  ``CancelledError``) never masquerades as the outcome, and a canceller that raises or
  leaves it unfired (twisted#9534) cannot make the caller wait past the deadline;
* work that cannot be cancelled (a job on another thread) is left running with
  ``cancel=False``; what it produces after the caller stopped waiting goes to a
  ``late`` hook (a success) or is dropped (a failure), never to the caller;
* cancelling the returned Deferred fails it with ``CancelledError`` at once, stops the
  timer, and is passed on to the inner Deferred like a timeout.

The REST transport (connect, headers), the OKX client (a call's total, the docker call's
read deadline), the placement's clock measurement, the order journal (a stalled disk)
and ``fmzokx-call`` all use it. Deadlines that end something other than one caller's
wait stay where they are and say why: the RPC site's per-request deadline
(:mod:`fmzokx.fmz.connections`) and the Redis and WebSocket connection set-ups end a
connection; Redis's per-command patience
(:mod:`fmzokx.okx.pacing.shared.patience`) moves its own deadline.

Single flight
-------------
Share one in-flight call per key among everyone who asks for it meanwhile.

The daemon has several "if the same thing is already being fetched, wait for that"
places: identical public reads in the OKX client, instrument lists per ``instType``, an
order placement repeated by the docker while the first is still running. They all need
the same four rules, which are easy to get subtly wrong by hand:

* the first :meth:`SingleFlight.run` for a key starts the call; later ones for the same
  key while it runs start nothing and get the same result (the same object, or the same
  failure);
* once the call settles the key is forgotten: the next ``run`` starts a new call (this
  is not a cache -- callers that want caching keep the result themselves); a call can
  also stop taking joiners earlier, with :meth:`SingleFlight.close`;
* every caller gets a Deferred of its own, so cancelling one caller fails only that
  caller with :class:`~twisted.internet.defer.CancelledError`; the shared call goes on
  for the others (and for callers still to come);
* the shared call's own failure is delivered to every waiter and never left unhandled.

Shielding and sleeping
----------------------
:func:`shielded` hands Klein a Deferred whose cancellation (the client left) leaves the
work running; :func:`sleep` waits on the injected clock. Nothing here starts a reactor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from typing import Generic, ParamSpec, TypeVar

from attrs import define, field, frozen
from twisted.internet.defer import CancelledError, Deferred, fail
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

from fmzokx.logs import logger

__all__ = [
    "Deadline",
    "SingleFlight",
    "current",
    "detached",
    "shielded",
    "sleep",
    "with_deadline",
    "within",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_log = logger(__name__)


@frozen
class Deadline:
    """
    A moment on the client's clock by which a group of reads must be done.

    :ivar at: the moment, in the clock's seconds.
    :ivar seconds: how long the group was given (for error messages).
    """

    at: float
    seconds: float

    @classmethod
    def after(cls, clock: IReactorTime, seconds: float) -> Deadline:
        """The deadline ``seconds`` from now."""
        return cls(at=clock.seconds() + seconds, seconds=seconds)

    def remaining(self, clock: IReactorTime) -> float:
        """Seconds left (negative once passed)."""
        return self.at - clock.seconds()


_AMBIENT: ContextVar[Deadline | None] = ContextVar("fmzokx_okx_deadline", default=None)


def current() -> Deadline | None:
    """The deadline the code running now is under, if any."""
    return _AMBIENT.get()


@contextmanager
def within(deadline: Deadline | None) -> Iterator[Deadline | None]:
    """
    Run the ``with`` block under ``deadline``; an enclosing one that ends sooner wins, so
    an inner scope can never extend the docker call's bound.
    """
    outer = _AMBIENT.get()
    if deadline is None or (outer is not None and outer.at <= deadline.at):
        yield outer
        return
    token = _AMBIENT.set(deadline)
    try:
        yield deadline
    finally:
        _AMBIENT.reset(token)


def detached(function: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """
    Call ``function`` with no deadline, whatever the caller is under: for work a docker
    call starts but must not bound -- a background order lookup outlives the call that
    began it by minutes, and under the call's deadline every lookup after it would fail.
    A coroutine's Deferred made inside keeps this context for all its steps.
    """
    context = copy_context()
    context.run(_AMBIENT.set, None)
    return context.run(function, *args, **kwargs)


def with_deadline(
    d: Deferred[V],
    clock: IReactorTime,
    seconds: float,
    on_timeout: Callable[[], BaseException],
    *,
    cancel: bool = True,
    late: Callable[[V], object] | None = None,
) -> Deferred[V]:
    """
    A Deferred with ``d``'s result, or ``on_timeout()`` if ``seconds`` pass first.

    On timeout the error is delivered first, then ``d`` is cancelled (unless ``cancel``
    is false) and whatever it later produces is kept from the caller, so the returned
    Deferred fires on time even when ``d``'s canceller raises (twisted#9534) or leaves
    ``d`` unfired. Cancelling the returned Deferred fails it with
    :class:`CancelledError` (whatever ``d`` then does), stops the timer and, unless
    ``cancel`` is false, cancels ``d``.

    :param on_timeout: builds the error at the deadline (called once, then, and only
        then: it may note the timeout, e.g. mark the work abandoned).
    :param cancel: whether to cancel ``d`` when the caller stops waiting; false for
        work that cannot be stopped and must finish (a job on another thread).
    :param late: called with ``d``'s result when it succeeds after the caller stopped
        waiting (timed out or cancelled). A failure that late is dropped; what the hook
        raises is logged.
    """

    def stop_waiting(error: BaseException) -> None:
        if timer.active():
            timer.cancel()
        # Deliver our verdict first: ``d``'s own failure on cancellation (often a
        # transport error wrapping CancelledError) must not masquerade as the outcome.
        if not result.called:
            result.errback(error)
        if not cancel:
            return
        try:
            d.cancel()
        except Exception:
            # A canceller that raises (twisted#9534) must not stop the verdict from
            # being delivered; the caller already has its error.
            _log.failure("cancelling an abandoned operation raised")

    result: Deferred[V] = Deferred(lambda _: stop_waiting(CancelledError()))
    timer = clock.callLater(seconds, lambda: stop_waiting(on_timeout()))

    def settle(outcome: V | Failure) -> None:
        if timer.active():
            timer.cancel()
        if not result.called:
            if isinstance(outcome, Failure):
                result.errback(outcome)
            else:
                result.callback(outcome)
        elif late is not None and not isinstance(outcome, Failure):
            try:
                late(outcome)
            except Exception:
                _log.failure("handling a result that came after its deadline raised")
        # Returning None consumes a failure nobody waits for any more.

    d.addBoth(settle)
    return result


async def _awaited(awaitable: Awaitable[V]) -> V:
    return await awaitable


@define
class _Flight(Generic[V]):
    """The callers waiting for one shared call."""

    waiters: list[Deferred[V]] = field(factory=list)

    def join(self) -> Deferred[V]:
        waiter: Deferred[V] = Deferred(self._leave)
        self.waiters.append(waiter)
        return waiter

    def _leave(self, waiter: Deferred[V]) -> None:
        # Cancelling a waiter only drops it (Deferred.cancel then fails it with
        # CancelledError); the shared call is not touched.
        if waiter in self.waiters:
            self.waiters.remove(waiter)

    def deliver(self, outcome: V | Failure) -> None:
        for waiter in tuple(self.waiters):
            if waiter.called:
                continue
            if isinstance(outcome, Failure):
                waiter.errback(outcome)
            else:
                waiter.callback(outcome)


@define
class SingleFlight(Generic[K, V]):
    """
    One in-flight call per key; see the module docstring for the rules.

    Typical use::

        self._loads: SingleFlight[str, Table] = SingleFlight()
        ...
        table = await self._loads.run(inst_type, lambda: self._fetch(inst_type))
    """

    _flights: dict[K, _Flight[V]] = field(factory=dict, init=False)

    def run(self, key: K, make: Callable[[], Awaitable[V]]) -> Deferred[V]:
        """
        The result of the call in flight for ``key``, starting it with ``make()`` if
        there is none.

        ``make`` is called at most once per flight, and only by the first caller; it may
        return a Deferred, a coroutine or any awaitable. If it raises, that failure is
        the flight's outcome.

        :returns: a Deferred of this caller's own, firing with the shared result or
            failure. Cancelling it fails it with ``CancelledError`` and nothing else.
        """
        flight = self._flights.get(key)
        if flight is not None:
            return flight.join()
        flight = self._flights[key] = _Flight()
        waiter = flight.join()
        try:
            made = make()
        except Exception:
            shared: Deferred[V] = fail()
        else:
            shared = made if isinstance(made, Deferred) else Deferred.fromCoroutine(_awaited(made))
        shared.addBoth(self._settle, key, flight)
        return waiter

    def in_flight(self, key: K) -> bool:
        """Whether a call for ``key`` is open to joiners now (a ``run`` would join it)."""
        return key in self._flights

    def close(self, key: K) -> None:
        """
        Let nobody else join the call for ``key``: the next :meth:`run` starts a new call,
        while the callers already waiting still get this one's result.

        Call it from the running call itself (``make``'s work), at the moment joining
        stops being right, e.g. once a read has been sent and a newcomer must not get
        an answer older than its own arrival.
        """
        self._flights.pop(key, None)

    def _settle(self, outcome: V | Failure, key: K, flight: _Flight[V]) -> None:
        # Forget the key before delivering: a waiter's callback that asks again starts a
        # new call instead of joining one that has already ended.
        if self._flights.get(key) is flight:
            del self._flights[key]
        flight.deliver(outcome)
        # Returning None consumes the shared Deferred's failure: the waiters have it.


def shielded(work: Deferred[V]) -> Deferred[V]:
    """
    ``work``'s result, in a Deferred whose cancellation leaves ``work`` running.

    Klein cancels a route's Deferred when the client disconnects. For a docker call that
    would cancel an order placement half way: the order may exist at OKX, but the
    reconciliation that finds it and the journal that answers the docker's retry would
    never run, and the retry would place it again. The call finishes; its answer just
    has nowhere to go.
    """
    answer: Deferred[V] = Deferred()

    def deliver(result: V | Failure) -> None:
        if answer.called:
            return  # the client left; the work is done all the same
        if isinstance(result, Failure):
            answer.errback(result)
        else:
            answer.callback(result)

    work.addBoth(deliver)
    return answer


def sleep(clock: IReactorTime, seconds: float) -> Deferred[None]:
    """A Deferred that fires with ``None`` after ``seconds`` on ``clock``."""
    return deferLater(clock, seconds, lambda: None)
