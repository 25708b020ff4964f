# -*- test-case-name: tests.okx.test_deadline -*-
"""
One overall deadline for all the reads a docker call makes.

Each upstream call has its own total deadline (``--timeout``), but a docker call may make
many: every page of a list, an instrument list and a ticker, a placement and the reads
that reconcile it. Without a bound on the whole, ``orders`` over 1,000 open orders at
3.5 s a page answers after 40 s however short ``--timeout`` is. So the reads of one
docker call share one :class:`Deadline`; a read that would run past it is cut short and
fails with :class:`~fmzokx.okx.errors.OkxTimeout` (phase ``"deadline"``), and a list
walk that hits it fails as a whole (never a truncated list).

The deadline is *ambient*: :func:`within` sets it for the code it wraps, and
:meth:`fmzokx.okx.client.OkxClient.get` picks it up, so every read in a docker call obeys
it without each layer passing it along. Twisted runs a coroutine's steps in the context
it was started in, so the value follows ``await`` and the Deferreds started from it, and
never leaks into another docker call. Writes ignore it: cutting an order's POST short
would only turn a reply into an unknown outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from typing import ParamSpec, TypeVar

from attrs import frozen
from twisted.internet.interfaces import IReactorTime

__all__ = ["Deadline", "current", "detached", "within"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


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
