# -*- test-case-name: tests.stream.test_privatecopy -*-
"""
One API key's live copy of its account: the balance, the open positions and the orders,
as OKX's private WebSocket pushes them and in the shapes REST returns them.

Every item is kept as REST's item (``/account/balance``, ``/account/positions``,
``/trade/orders-pending`` and ``/trade/order``): fields OKX adds only to pushes
(:data:`PUSH_ONLY`) are dropped, so a reply built from the copy is the reply REST gives.

Nothing here may roll the copy back. OKX does not promise that pushes and REST answers
arrive in the order they were made (a push can be late, a REST answer can be made before
a push that arrives first), so every update is ordered by OKX's own time stamps:

- an order by its ``uTime`` (a tie goes to the one further along: more filled, or final);
- a position by its ``uTime``; a position pushed with ``pos`` 0 is closed and leaves (and
  an older push of it cannot bring it back);
- the balance by the account's ``uTime``, each currency by its own ``uTime``.

A complete REST list (a *seed*) replaces what the copy holds as of the moment it was
asked for: an open order or a position the copy knows from before that moment and the
list does not show is gone; anything newer is kept.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from attrs import define, field

from fmzokx.lru import LruDict

__all__ = ["FINISHED_KEPT", "PUSH_ONLY", "READ_LAG_MS", "PrivateCopy", "stamp"]

READ_LAG_MS = 5000
"""OKX's read-after-write lag allowance: REST may not list an order this new yet."""

FINISHED_KEPT = 2000
"""How many finished orders (filled, cancelled) a copy remembers for ``order`` queries."""

PUSH_ONLY: dict[str, frozenset[str]] = {
    # Trade > WebSocket > Order channel: fields of the push that REST's order has not.
    "orders": frozenset({
        "amendResult", "amendSource", "code", "msg", "reqId", "execType", "fillFee",
        "fillFeeCcy", "fillNotionalUsd", "fillPnl", "fillMarkPx", "fillMarkVol",
        "fillPxUsd", "fillPxVol", "fillFwdPx", "fillIdxPx", "notionalUsd", "lastPx",
    }),
    # Trading account > WebSocket > Positions channel: the push time.
    "positions": frozenset({"pTime"}),
    "account": frozenset(),
}
"""Per channel, the fields a push carries that the REST item does not."""

LAST_FILL = ("fillPx", "fillSz", "fillTime", "tradeId")
"""An order's last-fill fields: REST's order shows them until the next fill."""

FINAL = frozenset({"filled", "canceled", "mmp_canceled"})
OPEN = frozenset({"live", "partially_filled"})


def stamp(item: Mapping[str, Any], name: str = "uTime") -> int:
    """An OKX millisecond time field as an int (0 when absent or not a number)."""
    value = item.get(name)
    text = str(value) if value is not None else ""
    return int(text) if text.isdigit() else 0


def _number(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _rest_shape(channel: str, item: Mapping[str, Any]) -> dict[str, Any]:
    drop = PUSH_ONLY[channel]
    return {name: value for name, value in item.items() if name not in drop}


def _progress(order: Mapping[str, Any]) -> tuple[int, int, Decimal]:
    """How far an order is along: (uTime, final?, filled) -- the larger is the newer."""
    return (
        stamp(order),
        1 if order.get("state") in FINAL else 0,
        _number(order.get("accFillSz")),
    )


def _position_key(item: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(item.get("instId", "")), str(item.get("mgnMode", "")),
            str(item.get("posSide", "")))


def _empty_detail(detail: Mapping[str, Any]) -> bool:
    """A currency REST would not list: no cash, nothing frozen, no unrealised profit."""
    return all(_number(detail.get(name)) == 0 for name in ("cashBal", "frozenBal", "upl"))


@define
class PrivateCopy:
    """
    The copy itself: plain data and the rules that update it (no I/O, no clock).

    :ivar account: REST's balance item (``data[0]`` of ``/account/balance``), or ``None``
        before the first snapshot.
    :ivar positions: open positions by ``(instId, mgnMode, posSide)``.
    :ivar orders: open orders by ``ordId``.
    :ivar finished: recently finished orders by ``ordId`` (bounded).
    :ivar seen: ``ordId`` -> the newest ``uTime`` seen for it, open or finished.
    """

    account: dict[str, Any] | None = None
    positions: dict[tuple[str, str, str], dict[str, Any]] = field(factory=dict)
    orders: dict[str, dict[str, Any]] = field(factory=dict)
    finished: LruDict[str, dict[str, Any]] = field(factory=lambda: LruDict(FINISHED_KEPT))
    #: when each position was last closed (or found gone by a seed): an older push of it
    #: arriving late must not open it again
    closed: LruDict[tuple[str, str, str], int] = field(
        factory=lambda: LruDict(FINISHED_KEPT)
    )
    #: open orders a seed found gone (final state unknown), as of when: same rule
    gone: LruDict[str, int] = field(factory=lambda: LruDict(FINISHED_KEPT))

    def clear(self, keep_finished: bool = False) -> None:
        """
        Forget everything (a new connection starts from its snapshots and a seed), or all
        but the finished orders: nothing happens to those any more.
        """
        self.account = None
        self.positions.clear()
        self.orders.clear()
        self.closed.clear()
        self.gone.clear()
        if not keep_finished:
            self.finished.clear()

    # -- balance ---------------------------------------------------------------------------

    def apply_account(self, item: Mapping[str, Any]) -> bool:
        """
        One balance item (a push or REST's), merged currency by currency. Returns whether
        the copy changed; an item older than the copy's changes nothing.
        """
        item = _rest_shape("account", item)
        current = self.account
        if current is not None and stamp(item) < stamp(current):
            return False
        details: dict[str, dict[str, Any]] = {}
        if current is not None:
            for detail in current.get("details") or []:
                if isinstance(detail, Mapping):
                    details[str(detail.get("ccy", ""))] = dict(detail)
        for detail in item.get("details") or []:
            if not isinstance(detail, Mapping):
                continue
            ccy = str(detail.get("ccy", ""))
            held = details.get(ccy)
            if held is not None and stamp(detail) < stamp(held):
                continue
            details[ccy] = dict(detail)
        merged = dict(item)
        merged["details"] = [
            details[ccy] for ccy in sorted(details) if not _empty_detail(details[ccy])
        ]
        self.account = merged
        return True

    def seed_account(self, item: Mapping[str, Any]) -> bool:
        """REST's whole balance: currencies it does not list are gone (if not newer)."""
        item = _rest_shape("account", item)
        current = self.account
        if current is not None and stamp(item) < stamp(current):
            return False
        listed = {str(d.get("ccy", "")) for d in item.get("details") or []
                  if isinstance(d, Mapping)}
        if current is not None:
            kept = [
                d for d in current.get("details") or []
                if isinstance(d, Mapping) and str(d.get("ccy", "")) not in listed
                and stamp(d) > stamp(item)
            ]
            self.account = {**current, "details": kept}
        return self.apply_account(item)

    def balance(self) -> list[dict[str, Any]] | None:
        """``data`` of ``/account/balance`` (``None`` before the first snapshot)."""
        if self.account is None:
            return None
        return [_deep_copy(self.account)]

    # -- positions -------------------------------------------------------------------------

    def apply_positions(self, items: Iterable[Mapping[str, Any]]) -> None:
        """Pushed positions (events or a snapshot): newer ones replace, ``pos`` 0 leaves."""
        for raw in items:
            item = _rest_shape("positions", raw)
            key = _position_key(item)
            held = self.positions.get(key)
            if held is not None and stamp(item) < stamp(held):
                continue
            if key in self.closed and stamp(item) <= self.closed[key]:
                continue
            if _number(item.get("pos")) == 0:
                self.positions.pop(key, None)
                self.closed[key] = stamp(item)
            else:
                self.closed.pop(key, None)
                self.positions[key] = item

    def seed_positions(self, items: Iterable[Mapping[str, Any]], as_of_ms: int) -> None:
        """REST's complete list as of ``as_of_ms``: positions it lacks and older are gone."""
        rows = [_rest_shape("positions", item) for item in items]
        listed = {_position_key(item) for item in rows}
        for key, held in list(self.positions.items()):
            if key not in listed and stamp(held) <= as_of_ms:
                del self.positions[key]
                self.closed[key] = as_of_ms
        self.apply_positions(rows)

    def position_items(
        self, inst_type: str | None = None, inst_id: str | None = None
    ) -> list[dict[str, Any]]:
        """``data`` of ``/account/positions`` (newest first by ``cTime``), filtered."""
        rows = [
            item for item in self.positions.values()
            if (inst_id is None or item.get("instId") == inst_id)
            and (inst_type is None or item.get("instType") == inst_type)
        ]
        rows.sort(key=lambda item: int(str(item.get("posId") or 0))
                  if str(item.get("posId") or "").isdigit() else 0)
        rows.sort(key=stamp_of("cTime"), reverse=True)
        return [_deep_copy(row) for row in rows]

    # -- orders ----------------------------------------------------------------------------

    def apply_order(self, raw: Mapping[str, Any]) -> bool:
        """
        One order as pushed or as REST showed it; applied only if it is at least as far
        along as what the copy holds. Returns whether it was applied.
        """
        item = _rest_shape("orders", raw)
        ord_id = str(item.get("ordId", ""))
        if not ord_id:
            return False
        held = self.orders.get(ord_id) or self.finished.get(ord_id)
        if held is not None and _progress(item) < _progress(held):
            return False
        if ord_id in self.gone:
            if item.get("state") not in FINAL and stamp(item) <= self.gone[ord_id]:
                return False
            del self.gone[ord_id]
        if held is not None and not item.get("tradeId") and held.get("tradeId"):
            # A push that is not a fill blanks the last-fill fields; REST keeps them.
            for name in LAST_FILL:
                if name in held:
                    item[name] = held[name]
        if item.get("state") in FINAL:
            self.orders.pop(ord_id, None)
            self.finished[ord_id] = item
        else:
            self.finished.pop(ord_id, None)
            self.orders[ord_id] = item
        return True

    def seed_orders(
        self, items: Iterable[Mapping[str, Any]], as_of_ms: int,
        cancelled: Collection[str] = (),
    ) -> None:
        """
        REST's complete open-order list as of ``as_of_ms``: an open order the copy knows
        from before then that the list lacks is no longer open -- its final state is not
        known, so it is forgotten (``order`` asks REST for it). Not one updated within
        :data:`READ_LAG_MS` of then (OKX's REST may not show an order that new yet),
        unless it is one of ``cancelled``: orders the daemon cancelled before the list
        was asked for.
        """
        rows = [_rest_shape("orders", item) for item in items]
        listed = {str(item.get("ordId", "")) for item in rows}
        for ord_id, held in list(self.orders.items()):
            if ord_id not in listed and (
                ord_id in cancelled or stamp(held) <= as_of_ms - READ_LAG_MS
            ):
                del self.orders[ord_id]
                self.gone[ord_id] = as_of_ms
        for row in rows:
            self.apply_order(row)

    def open_orders(
        self, inst_type: str | None = None, inst_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Open orders as ``/trade/orders-pending`` lists them: newest (largest ordId) first."""
        rows = [
            item for item in self.orders.values()
            if (inst_id is None or item.get("instId") == inst_id)
            and (inst_type is None or item.get("instType") == inst_type)
        ]
        rows.sort(key=lambda item: _ord_number(str(item.get("ordId", ""))), reverse=True)
        return [_deep_copy(row) for row in rows]

    def order(self, ord_id: str) -> dict[str, Any] | None:
        """One order the copy knows, open or recently finished."""
        item = self.orders.get(ord_id)
        if item is None:
            item = self.finished.get(ord_id)
        return None if item is None else dict(_deep_copy(item))

    def find_by_client_id(self, inst_id: str, cl_ord_id: str) -> dict[str, Any] | None:
        """The newest known order with this ``clOrdId`` on ``inst_id``."""
        found = [
            item for item in (*self.orders.values(), *self.finished.values())
            if item.get("clOrdId") == cl_ord_id and item.get("instId") == inst_id
        ]
        if not found:
            return None
        newest = max(found, key=lambda item: _ord_number(str(item.get("ordId", ""))))
        return dict(_deep_copy(newest))


def stamp_of(name: str) -> Any:
    """A sort key reading the time field ``name``."""
    return lambda item: stamp(item, name)


def _ord_number(ord_id: str) -> int:
    return int(ord_id) if ord_id.isdigit() else 0


def _deep_copy(value: Any) -> Any:
    """A copy a caller may keep or change without touching the copy's state."""
    # Exact types, not the Mapping ABC: this runs on every field of every answer.
    kind = type(value)
    if kind is dict:
        return {key: _deep_copy(item) if type(item) in _NESTED else item
                for key, item in value.items()}
    if kind is list:
        return [_deep_copy(item) if type(item) in _NESTED else item for item in value]
    return value


_NESTED = (dict, list)
