# -*- test-case-name: tests.okx.test_singleflight -*-
"""
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

Nothing here uses a reactor or a clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from attrs import define, field
from twisted.internet.defer import Deferred, fail
from twisted.python.failure import Failure

__all__ = ["SingleFlight"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


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
