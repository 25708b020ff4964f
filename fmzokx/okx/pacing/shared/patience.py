# -*- test-case-name: tests.okx.sharedbudget.test_patience -*-
"""
How long to wait for Redis's answer before pacing locally, without mistaking a busy
daemon for a slow Redis.

A plain timer cannot tell the two apart. Under a burst the reactor may be busy for tens
of milliseconds at a time (hundreds of docker calls arriving together): the command may
not even have been written to the socket when the deadline passes, or the answer sits
unread in it. Falling back then would degrade a healthy Redis exactly when bursts come,
and one daemon pacing locally while the others take shared slots overruns OKX. So the
deadline only ends the wait when Redis shows no sign of life:

1. a timer that fires late (the reactor was busy past it by more than :data:`LATE`)
   proves only that this process was congested: the deadline starts over (at most
   :data:`CONGESTED` times);
2. on time, the verdict still waits :data:`SETTLE`, so an answer already travelling
   over the LAN, or unread in the socket, lands first;
3. if Redis answered a command sent before this one in the meantime, the wait is this
   process's own backlog of replies: the deadline starts over (at most :data:`BACKLOG`
   times);
4. otherwise Redis is slow or gone: :class:`SharedStateTimeout`.

Fresh deadlines never reach past :data:`CAP` deadlines from the send: a frozen Redis
under a burst once kept callers waiting 4.3 s, a fresh deadline after every late timer.
A frozen or unreachable Redis is therefore detected after the deadline plus
:data:`SETTLE` on an idle daemon, and within ``CAP`` deadlines (plus however late the
reactor runs that last timer) on a congested one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

__all__ = [
    "BACKLOG", "CAP", "CONGESTED", "LATE", "SETTLE", "SharedStateTimeout", "patiently",
]

T = TypeVar("T")

LATE = 0.01
"""A timer firing this much after its time means the reactor was busy (seconds)."""
SETTLE = 0.002
"""Extra wait at the deadline for an answer on its way (seconds)."""
CONGESTED = 10
"""At most this many fresh deadlines for a congested reactor."""
BACKLOG = 3
"""At most this many fresh deadlines while Redis answers earlier commands."""
CAP = 10
"""No wait is extended past this many deadlines after the send (500 ms by default)."""


class SharedStateTimeout(Exception):
    """Redis did not answer within the per-call deadline."""


def patiently(
    answer: Deferred[T],
    clock: IReactorTime,
    seconds: float,
    *,
    answered_since: Callable[[float], bool],
) -> Deferred[T]:
    """
    ``answer``'s result, or :class:`SharedStateTimeout` once Redis has shown no sign of
    life for ``seconds`` (see the module's rules). Cancelling the result cancels
    ``answer``.

    :param answered_since: whether Redis answered any command after the given time on
        ``clock`` (an answer to a command sent before this one).

    Not :func:`fmzokx.deferreds.with_deadline`, whose deadline is one fixed moment: this
    one starts over under the rules above, and ends in a verdict only after
    :data:`SETTLE`.
    """
    sent = clock.seconds()
    last_call = sent + CAP * seconds
    result: Deferred[T] = Deferred(lambda _: answer.cancel())
    congested = 0
    backlog = 0
    timer: IDelayedCall | None = None

    def arm(delay: float, then: Callable[[float], None]) -> None:
        nonlocal timer
        timer = clock.callLater(delay, then, clock.seconds() + delay)

    def extend() -> bool:
        """A fresh deadline, cut at the cap; ``False`` when the cap has been reached."""
        left = last_call - clock.seconds()
        if left <= SETTLE:
            return False
        arm(min(seconds, left), at_deadline)
        return True

    def was_congested(due: float) -> bool:
        nonlocal congested
        if clock.seconds() - due > LATE and congested < CONGESTED and extend():
            congested += 1
            return True
        return False

    def at_deadline(due: float) -> None:
        if not was_congested(due):
            arm(SETTLE, verdict)

    def verdict(due: float) -> None:
        nonlocal backlog
        if result.called or was_congested(due):
            return
        if answered_since(sent) and backlog < BACKLOG and extend():
            backlog += 1
            return
        result.errback(SharedStateTimeout(f"no answer within {seconds * 1000:g} ms"))

    def settle(outcome: Any) -> None:
        if timer is not None and timer.active():
            timer.cancel()
        if result.called:
            return
        if isinstance(outcome, Failure):
            result.errback(outcome)
        else:
            result.callback(outcome)

    arm(seconds, at_deadline)
    answer.addBoth(settle)
    return result
