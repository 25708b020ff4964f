# -*- test-case-name: tests.fmz.test_connections -*-
"""
Bounded connections for the RPC site: a cap, oldest idle out first, and a deadline for
receiving each whole request.

Twisted's HTTP channel has one timer, an idle timeout that every received byte resets, so
a client trickling one header line every 10 s holds a connection (and a descriptor)
forever, and nothing stops idle connections from piling up until ``accept`` fails with
``EMFILE`` and every docker call is refused. :class:`ConnectionGuard` adds two rules:

- **A cap.** At most ``max_connections`` connections are open (see
  :func:`fmzokx.descriptors.connection_cap`). When one more arrives, the guard closes the
  connection that has been idle longest -- open, but with no request under way; failing
  that, the oldest one still sending an incomplete request; only when every other
  connection is having its request answered is the newcomer itself closed. A docker call
  on a new connection is therefore served however many idle connections a client holds.
- **A whole-request deadline.** A connection must deliver a complete request (headers and
  body) within ``request_timeout`` seconds of connecting, and each later request on a
  kept-alive connection within ``request_timeout`` of its first byte; otherwise it is
  answered 408 (if it had started a request) and closed. Between requests a kept-alive
  connection may stay idle up to the idle timeout (``IDLE_TIMEOUT``), and is the first to
  go when the cap is reached.

A request being answered is never cut off: once received, its own deadlines bound it.

A connection the cap closes gives its descriptor back only on a later turn of the
reactor, while Twisted's listening port accepts up to 100 queued connections in one turn
(more each turn the backlog stays full): a burst of 400 at once took the daemon past its
descriptor limit inside the headroom. :func:`bound_accepts` makes the port accept no more
in a turn than the guard can hold with :data:`ACCEPT_SLACK` descriptors still on their way
back.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from attrs import define, field
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel

from fmzokx.logs import logger

__all__ = [
    "ACCEPT_SLACK",
    "DEFAULT_REQUEST_TIMEOUT",
    "IDLE_TIMEOUT",
    "ConnectionGuard",
    "GuardedChannel",
    "bound_accepts",
]

DEFAULT_REQUEST_TIMEOUT = 10.0
"""Seconds a connection has to deliver one whole request (``--request-timeout``)."""

IDLE_TIMEOUT = 60.0
"""Seconds a kept-alive connection may sit idle between requests."""

ACCEPT_SLACK = 32
"""
Connections past the cap that may be open at once while the ones closed for them give
their descriptors back (a quarter of :data:`fmzokx.descriptors.HEADROOM`).
"""

WARN_INTERVAL = 10.0
"""Seconds between two warnings about closed connections (the metrics count each)."""

_IDLE = "idle"
_RECEIVING = "receiving"
_HANDLING = "handling"

_TIMEOUT_REPLY = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"Content-Type: application/json; charset=utf-8\r\n"
    b"Connection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s"
)
_TIMEOUT_BODY = b'{"error": "the request was not received whole within %g s"}'

log = logger(__name__)


class GuardedChannel(HTTPChannel):
    """
    An HTTP/1.1 channel that reports its phase to a :class:`ConnectionGuard`: idle (open,
    no request under way), receiving a request, or having one answered.
    """

    guard: ConnectionGuard
    phase: str = _IDLE
    _deadline: IDelayedCall | None = None

    def connectionMade(self) -> None:
        super().connectionMade()  # type: ignore[no-untyped-call]
        self.guard.opened(self)

    def dataReceived(self, data: bytes) -> None:
        if self.phase == _IDLE and data:
            self.guard.receiving(self)
        super().dataReceived(data)  # type: ignore[no-untyped-call]

    def allContentReceived(self) -> None:
        self.guard.handling(self)
        super().allContentReceived()  # type: ignore[no-untyped-call]

    def requestDone(self, request: Any) -> None:
        if self.persistent and len(self.requests) == 1:
            # Idle from now on; a pipelined request replayed by requestDone below makes
            # this channel "receiving" again through dataReceived.
            self.guard.idle(self)
        super().requestDone(request)  # type: ignore[no-untyped-call]

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.guard.closed(self)
        super().connectionLost(reason)  # type: ignore[no-untyped-call]

    # -- called by the guard ---------------------------------------------------------

    def arm(self, clock: IReactorTime, seconds: float) -> None:
        """
        Start the whole-request deadline unless one is already running.

        A timer of its own, not :func:`fmzokx.deferreds.with_deadline`: there is no
        Deferred to bound (the request arrives as bytes on the channel), and what the
        deadline ends is the connection -- a 408 if a request had started, then a close.
        """
        if self._deadline is None or not self._deadline.active():
            self._deadline = clock.callLater(seconds, self._request_timed_out)

    def disarm(self) -> None:
        """Stop the whole-request deadline (the request is complete, or the end came)."""
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _request_timed_out(self) -> None:
        self._deadline = None
        self.guard.timed_out(self)
        if self.transport is None:
            return
        if self.phase == _RECEIVING:
            body = _TIMEOUT_BODY % self.guard.request_timeout
            self.transport.write(_TIMEOUT_REPLY % (len(body), body))
        self.close(abort=False)

    def close(self, *, abort: bool) -> None:
        """Close the connection: gracefully (FIN, with a forced abort later) or at once."""
        transport = self.transport
        if transport is None:
            return
        abort_now = getattr(transport, "abortConnection", None) if abort else None
        if abort_now is not None:
            abort_now()
            return
        self.loseConnection()  # type: ignore[no-untyped-call]
        if self.abortTimeout is not None and self._abortingCall is None:
            self._abortingCall = self.callLater(  # type: ignore[no-untyped-call]
                self.abortTimeout, self.forceAbortClient
            )


@define(eq=False)
class ConnectionGuard:
    """
    Holds the RPC site's connections within ``max_connections`` and each request within
    ``request_timeout`` (see the module docstring).

    :ivar metrics: a :class:`~fmzokx.metrics.Metrics` to report open and closed
        connections to, or ``None``.
    """

    clock: IReactorTime
    max_connections: int
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    metrics: Any = None
    _idle: OrderedDict[GuardedChannel, None] = field(factory=OrderedDict, init=False)
    _receiving: OrderedDict[GuardedChannel, None] = field(factory=OrderedDict, init=False)
    _handling: set[GuardedChannel] = field(factory=set, init=False)
    _closing: set[GuardedChannel] = field(factory=set, init=False)
    closed_counts: dict[str, int] = field(factory=dict, init=False)
    _unreported: dict[str, int] = field(factory=dict, init=False)
    _last_warning: float | None = field(default=None, init=False)

    @property
    def open(self) -> int:
        """Connections open now (those closed by the guard no longer count)."""
        return len(self._idle) + len(self._receiving) + len(self._handling)

    def accept_budget(self) -> int:
        """
        How many connections may be accepted now: up to the cap, plus
        :data:`ACCEPT_SLACK` past it, counting those closed whose descriptors are not back
        yet; at least one, so a docker call always gets its turn.
        """
        in_use = self.open + len(self._closing)
        return max(1, self.max_connections + ACCEPT_SLACK - in_use)

    def counts(self) -> dict[str, int]:
        """Open connections by phase (for tests and /healthz)."""
        return {_IDLE: len(self._idle), _RECEIVING: len(self._receiving),
                _HANDLING: len(self._handling)}

    # -- phases -----------------------------------------------------------------------

    def opened(self, channel: GuardedChannel) -> None:
        """A new connection: idle, its first request due within the deadline."""
        channel.phase = _IDLE
        self._idle[channel] = None
        channel.arm(self.clock, self.request_timeout)
        self._make_room(channel)
        self._report()

    def receiving(self, channel: GuardedChannel) -> None:
        """The first byte of a request arrived."""
        if not self._forget(channel):
            return
        channel.phase = _RECEIVING
        self._receiving[channel] = None
        channel.arm(self.clock, self.request_timeout)

    def handling(self, channel: GuardedChannel) -> None:
        """The whole request arrived; it is being answered."""
        channel.disarm()
        if not self._forget(channel):
            return
        channel.phase = _HANDLING
        self._handling.add(channel)

    def idle(self, channel: GuardedChannel) -> None:
        """The answer went out on a kept-alive connection: idle, newest last."""
        if not self._forget(channel):
            return
        channel.phase = _IDLE
        self._idle[channel] = None

    def closed(self, channel: GuardedChannel) -> None:
        """The connection is gone (whoever closed it)."""
        channel.disarm()
        self._closing.discard(channel)
        if self._forget(channel):
            self._report()

    def timed_out(self, channel: GuardedChannel) -> None:
        """The whole-request deadline passed: the channel closes itself."""
        self._forget(channel)
        self._count("request-timeout")
        self._report()

    # -- the cap ----------------------------------------------------------------------

    def _make_room(self, newcomer: GuardedChannel) -> None:
        while self.open > self.max_connections:
            victim, reason = self._victim(newcomer)
            self._forget(victim)
            self._closing.add(victim)
            victim.disarm()
            self._count(reason)
            victim.close(abort=reason != "evicted-idle")
            if victim is newcomer:
                break

    def _victim(self, newcomer: GuardedChannel) -> tuple[GuardedChannel, str]:
        """The oldest idle connection, else the oldest incomplete request, else the newcomer."""
        for channel in self._idle:
            if channel is not newcomer:
                return channel, "evicted-idle"
        for channel in self._receiving:
            if channel is not newcomer:
                return channel, "evicted-incomplete"
        return newcomer, "refused"

    # -- bookkeeping ------------------------------------------------------------------

    def _forget(self, channel: GuardedChannel) -> bool:
        """Stop tracking ``channel``; False if it was not tracked (already closed by us)."""
        for tracked in (self._idle, self._receiving):
            if channel in tracked:
                del tracked[channel]
                return True
        if channel in self._handling:
            self._handling.discard(channel)
            return True
        return False

    def _count(self, reason: str) -> None:
        self.closed_counts[reason] = self.closed_counts.get(reason, 0) + 1
        self._unreported[reason] = self._unreported.get(reason, 0) + 1
        if self.metrics is not None:
            self.metrics.count_connection_closed(reason)

    def _report(self) -> None:
        if self.metrics is not None:
            self.metrics.set_connections(self.open)
        if not self._unreported:
            return
        now = self.clock.seconds()
        if self._last_warning is not None and now - self._last_warning < WARN_INTERVAL:
            return
        self._last_warning = now
        counts, self._unreported = self._unreported, {}
        log.warn(
            "closed connections to protect the RPC service (cap {cap}, request timeout "
            "{timeout:g} s): {summary}; {open} open",
            cap=self.max_connections,
            timeout=self.request_timeout,
            summary=", ".join(f"{count} {reason}" for reason, count in sorted(counts.items())),
            open=self.open,
        )


def bound_accepts(port: Any, guard: ConnectionGuard) -> bool:
    """
    Make the listening ``port`` accept at most ``guard.accept_budget()`` connections in one
    turn of the reactor; ``False`` (and nothing changed) for a port without Twisted's
    accept loop.

    Private Twisted API (pinned by tests/okx/test_twisted_private.py): ``tcp.Port.doRead``
    accepts ``numberAccepts`` connections per call and adjusts that number afterwards; it
    is bounded here just before each call.
    """
    accept = getattr(port, "doRead", None)
    if accept is None or not isinstance(getattr(port, "numberAccepts", None), int):
        return False

    def doRead() -> Any:  # noqa: N802 - Twisted's name
        port.numberAccepts = max(1, min(port.numberAccepts, guard.accept_budget()))
        return accept()

    port.doRead = doRead
    return True
