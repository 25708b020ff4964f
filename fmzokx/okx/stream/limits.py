# -*- test-case-name: tests.stream.test_limits -*-
"""
OKX's WebSocket limits, kept on our side so OKX never has to enforce them:

- new connections: 3 per second per IP (WebSocket › Connect, "Connection limit"), shared
  by every connection this process opens, so :class:`ConnectLimiter` is one object;
- ``subscribe``/``unsubscribe``/``login`` requests: 480 per hour per connection
  ("Request limit"), one :class:`OpBudget` per connection.

The reconnect schedule, exponential backoff with jitter so a fleet of daemons that lost
OKX together does not come back in lockstep, is the daemon's one
:class:`fmzokx.backoff.Backoff` (re-exported here).
"""

from __future__ import annotations

from collections import deque

from attrs import define, field
from twisted.internet.interfaces import IReactorTime

from fmzokx.backoff import Backoff

__all__ = ["Backoff", "ConnectLimiter", "OpBudget"]


@define
class _Window:
    """At most ``limit`` events in any ``window`` seconds, on ``clock``."""

    clock: IReactorTime
    limit: int
    window: float
    _times: deque[float] = field(factory=deque, init=False)

    def wait(self) -> float:
        """Seconds until one more event fits (0 when it fits now)."""
        now = self.clock.seconds()
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        if len(self._times) < self.limit:
            return 0.0
        return self._times[0] + self.window - now

    def record(self) -> None:
        """Count one event now."""
        self._times.append(self.clock.seconds())


@define
class ConnectLimiter:
    """
    OKX's connection limit (3 a second per IP), with a margin so that network jitter
    cannot make OKX count 4 in one of its seconds.

    Other processes behind the same IP spend the same limit unseen, so a refused
    handshake (:meth:`refused`) makes every connection of this process wait, longer after
    each refusal in a row (exponential backoff with jitter), until one opens
    (:meth:`opened`).
    """

    clock: IReactorTime
    limit: int = 3
    window: float = 1.25
    backoff: Backoff = field(factory=lambda: Backoff(base=1.0, cap=60.0))
    _window: _Window = field(init=False)
    _paused_until: float = field(init=False, default=0.0)

    def __attrs_post_init__(self) -> None:
        self._window = _Window(self.clock, self.limit, self.window)

    def wait(self) -> float:
        """Seconds before the next connection attempt may start."""
        paused = self._paused_until - self.clock.seconds()
        return max(self._window.wait(), paused, 0.0)

    def refused(self) -> None:
        """
        A handshake was refused (or failed): pause every new connection a while. Refusals
        during a pause (of attempts made together) do not lengthen it.
        """
        now = self.clock.seconds()
        if now < self._paused_until:
            return
        self._paused_until = now + self.backoff.next()

    def opened(self) -> None:
        """A connection opened: the refusals are over."""
        self.backoff.reset()

    def record(self) -> None:
        """A connection attempt starts now."""
        self._window.record()


@define
class OpBudget:
    """OKX's request limit on one connection: 480 subscribe/unsubscribe/login an hour."""

    clock: IReactorTime
    limit: int = 480
    window: float = 3600.0
    _window: _Window = field(init=False)

    def __attrs_post_init__(self) -> None:
        self._window = _Window(self.clock, self.limit, self.window)

    def wait(self) -> float:
        """Seconds before one more request may be sent on this connection."""
        return self._window.wait()

    def spend(self) -> None:
        """One request is sent now."""
        self._window.record()
