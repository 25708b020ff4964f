# -*- test-case-name: tests.test_backoff -*-
"""
How long to wait after failures in a row: one schedule for the whole daemon.

The ceiling after the ``n``-th failure in a row is ``base * 2**(n-1)``, capped at ``cap``
(:func:`ceiling`). Two jitters are drawn under it, for two jobs:

* **reconnecting** (:class:`Backoff`): "equal jitter", uniform in the upper half of the
  ceiling, so there is always some wait (a server that just refused is not hammered)
  and a fleet of daemons that lost the same server together does not come back in
  lockstep. The public WebSocket, the WebSocket connect limiter and the shared-budget
  Redis connection reconnect on it;
* **repeating a read** (:class:`fmzokx.okx.rest.retry.RetryPolicy`): "full jitter",
  uniform in ``[0, ceiling]``: a call's own budget is short, and one quick repeat is
  often all it needs.

Every draw comes from an injected :class:`random.Random`, so tests can predict it.
"""

from __future__ import annotations

import random

from attrs import define, field

__all__ = ["Backoff", "ceiling"]

_MAX_DOUBLINGS = 30
"""Past this many doublings any cap is long reached; it keeps the power small."""


def ceiling(failures: int, base: float, cap: float) -> float:
    """
    The longest wait after ``failures`` failures in a row: ``base`` after the first,
    doubled after each further one, never more than ``cap`` (a count below 1 counts as 1).
    """
    doublings = min(max(failures - 1, 0), _MAX_DOUBLINGS)
    return min(cap, base * (1 << doublings))


@define
class Backoff:
    """
    Reconnect delays after failures in a row: each drawn uniformly from the upper half
    of :func:`ceiling` ("equal jitter").

    :ivar failures: the failures in a row so far (:meth:`reset` when a connection has
        proved healthy).
    """

    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(factory=random.Random)
    failures: int = 0

    def next(self) -> float:
        """Count one more failure; the delay before the next attempt."""
        self.failed()
        return self.delay()

    def failed(self) -> None:
        """Count one more failure, without drawing a delay (one is drawn later)."""
        self.failures += 1

    def delay(self, failures: int | None = None) -> float:
        """
        A delay after ``failures`` failures in a row (default: :attr:`failures`),
        without counting one.
        """
        top = ceiling(self.failures if failures is None else failures, self.base, self.cap)
        return top / 2 + self.rng.uniform(0, top / 2)

    def reset(self) -> None:
        """A connection proved healthy: start again from ``base``."""
        self.failures = 0
