# -*- test-case-name: tests.okx.test_read_after_write -*-
"""
The orders this daemon placed moments ago, so that OKX's read-after-write lag is never
reported to a strategy as "no such order".

OKX acknowledges an order before every part of it can see the order: for a moment
after ``POST /trade/order`` answers, ``GET /trade/order`` may say 51603 ("Order does
not exist") and a cancel may say 51400 ("filled, canceled or does not exist") although
the order is live. A strategy told "does not exist" right after ``Buy`` places it again
and doubles its order. For :attr:`RecentPlacements.window` seconds after a placement
the trade calls treat those answers as "not visible yet" and ask again briefly, and a
list of open orders that does not show one yet reads it on its own.
"""

from __future__ import annotations

from collections import OrderedDict

from attrs import define, field
from twisted.internet.interfaces import IReactorTime

__all__ = ["RecentPlacements"]


@define(eq=False)
class RecentPlacements:
    """
    When each recent order was placed, by key fingerprint, instrument and id.

    Only the last :attr:`window` seconds are kept, at most :attr:`capacity` entries: a
    long run holds what a few seconds of orders need, not a cache that fills for an hour.

    :ivar window: how long after its placement an order counts as "moments ago" (OKX's
        lag is well under a second in practice; 5 s leaves room for a slow moment).
    :ivar capacity: the most entries kept (a flood of orders within one window).
    """

    clock: IReactorTime
    window: float = 5.0
    capacity: int = 4096
    # Oldest first: an entry noted again moves to the end.
    _placed: OrderedDict[tuple[str, str, str], float] = field(
        factory=OrderedDict, init=False
    )

    def note(self, key: str, inst_id: str, ord_id: str, cl_ord_id: str = "") -> None:
        """Remember that ``key`` placed this order now, and forget what is no longer recent."""
        now = self.clock.seconds()
        for name in ("ord:" + ord_id if ord_id else "", "cl:" + cl_ord_id if cl_ord_id else ""):
            if name:
                entry = (key, inst_id, name)
                self._placed.pop(entry, None)
                self._placed[entry] = now
        placed = self._placed
        while placed and (
            len(placed) > self.capacity or now - next(iter(placed.values())) >= self.window
        ):
            placed.popitem(last=False)

    def __len__(self) -> int:
        return len(self._placed)

    def recent_orders(self, key: str, placed_by: float) -> list[tuple[str, str]]:
        """
        ``(instId, ordId)`` of each order ``key`` placed within :attr:`window` and no later
        than ``placed_by`` (a clock reading), newest first.
        """
        now = self.clock.seconds()
        return [
            (inst_id, name[4:])
            for (owner, inst_id, name), placed in reversed(self._placed.items())
            if owner == key and name.startswith("ord:") and now - placed < self.window
            and placed <= placed_by
        ]

    def forget(self, key: str, inst_id: str, ord_id: str) -> None:
        """The order is known final: no list needs to look for it any more."""
        self._placed.pop((key, inst_id, "ord:" + ord_id), None)

    def placed_moments_ago(
        self, key: str, inst_id: str, ord_id: str | None = None, cl_ord_id: str | None = None
    ) -> bool:
        """Whether ``key`` placed this order within :attr:`window` seconds."""
        name = "ord:" + ord_id if ord_id else "cl:" + (cl_ord_id or "")
        placed = self._placed.get((key, inst_id, name))
        return placed is not None and self.clock.seconds() - placed < self.window
