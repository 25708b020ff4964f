# -*- test-case-name: tests.okx.sharedbudget.test_slots -*-
"""
The budget a daemon keeps on its own while the shared one (Redis) is out of reach.

Each of ``--shared-hosts`` daemons then takes ``floor(limit / hosts)`` (at least 1) of
every budget, so all of them together stay within OKX's limit without talking to each
other. The window works like the shared one: the earliest free send time is reserved,
first come first served, and a slot further away than the caller may wait is refused
without being recorded.

Two things make the hand-overs safe:

* **going local**: a budget starts blocked until the newest slot this daemon was handed
  by Redis has left its window, because the other daemons' slots up to that time are
  unknown here; a budget this daemon had not used recently starts free;
* **going back**: the sends made locally are handed to Redis (see
  :mod:`~fmzokx.okx.pacing.shared.script`, "carry"), so the shared window counts them.
"""

from __future__ import annotations

from collections import deque

from attrs import define, field

__all__ = ["LocalShare", "share_of"]


def share_of(limit: int, hosts: int) -> int:
    """This daemon's part of a budget of ``limit`` shared by ``hosts`` daemons."""
    return max(1, limit // max(1, hosts))


@define
class LocalShare:
    """One budget's local window: ``limit`` sends per ``window`` seconds."""

    limit: int
    window: float
    not_before: float = 0.0
    sends: deque[float] = field(factory=deque)

    def prune(self, now: float) -> None:
        while self.sends and self.sends[0] <= now - self.window:
            self.sends.popleft()

    def reserve(self, now: float, max_wait: float) -> tuple[bool, float]:
        """
        Reserve the earliest send time; ``(True, wait)``, or ``(False, wait)`` with
        nothing recorded when ``wait`` would exceed ``max_wait``.
        """
        self.prune(now)
        when = max(now, self.not_before)
        if self.sends:
            when = max(when, self.sends[-1])
        if len(self.sends) >= self.limit:
            when = max(when, self.sends[-self.limit] + self.window)
        wait = when - now
        if wait > max_wait:
            return False, wait
        self.sends.append(when)
        return True, wait

    def recent(self, now: float) -> list[float]:
        """The send times still inside the window (past and reserved), oldest first."""
        self.prune(now)
        return list(self.sends)

    def idle(self, now: float) -> bool:
        """Nothing in the window and not blocked: the budget can be forgotten."""
        self.prune(now)
        return not self.sends and self.not_before <= now
