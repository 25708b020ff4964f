# -*- test-case-name: tests.sim.test_ws_private_pushes -*-
"""
The exchange's change feed: one :class:`Change` for every event that alters what an
account's REST reads would show, handed synchronously to every listener.

The engine emits at the moment of the change, with the state already updated, so a
listener that renders the account then (the private WebSocket does) shows exactly what
REST would have answered at that instant, even when several changes happen within one
call (a market order sweeping three levels emits three fills).

Kinds, named after OKX's ``balance_and_position`` ``eventType`` where one exists:

- ``order``: an order was accepted, cancelled, expired or amended (no cash moved);
- ``filled``: one fill of an order (cash, the order and maybe a position moved);
- ``liquidation``: one fill of a liquidation order;
- ``funding_fee``: a funding settlement of one position;
- ``delivered``: a futures position was delivered at expiry;
- ``set_leverage``: an instrument's leverage changed.
"""

from __future__ import annotations

from collections.abc import Callable

from attrs import define, field, frozen

from fmzokx.sim.model import Account, Order, Position

__all__ = ["KINDS", "Change", "ChangeFeed"]

KINDS = ("order", "filled", "liquidation", "funding_fee", "delivered", "set_leverage")


@frozen
class Change:
    """
    One change of one account.

    :ivar ccys: currencies whose cash balance changed (empty when only frozen funds or
        margin moved).
    :ivar position: the position the change touched; after a close its ``qty`` is 0 and
        it is no longer in ``account.positions``.
    :ivar inst_id: the instrument of a ``set_leverage`` change.
    :ivar req_id: the client's ``reqId`` of an amendment (``None``: not an amendment).
    """

    account: Account
    kind: str
    ts_ms: int
    order: Order | None = None
    trade_id: int | None = None
    position: Position | None = None
    ccys: tuple[str, ...] = ()
    inst_id: str = ""
    req_id: str | None = None


@define
class ChangeFeed:
    """The listeners of one exchange; each is called with every change, in order."""

    listeners: list[Callable[[Change], None]] = field(factory=list)

    def emit(self, change: Change) -> None:
        """Hand ``change`` to every listener (none registered: nothing happens)."""
        for listener in list(self.listeners):
            listener(change)
