# -*- test-case-name: tests.sim.test_ws_private_pushes -*-
"""
OKX's private channels, rendered from okxsim's exchange.

Each subscription of a logged-in session gets one :class:`PrivateFeed`. It renders with
the same functions as the REST views (:mod:`fmzokx.sim.views`), so an item pushed at a
change equals what REST answers at that moment, field for field, as strings:

``account`` ("Trading Account > WebSocket > Account channel",
``#trading-account-websocket-account-channel``)
    ``{"arg": {"channel": "account", ["ccy"], "uid"}, "eventType": ..., "data": [B]}``
    where ``B`` is the object of ``GET /account/balance`` (``?ccy=`` when the subscription
    names one). A snapshot right after the acknowledgement and then at the regular
    interval (``eventType`` ``snapshot``, with ``curPage`` 1 and ``lastPage`` true): every
    currency with a balance. On each change (``eventType`` ``event_update``, no paging
    fields): the account totals and ``details`` of the currencies that changed only.
``positions`` ("Trading Account > WebSocket > Positions channel",
``#trading-account-websocket-positions-channel``)
    ``{"arg": {"channel": "positions", "instType", ["instFamily"], ["instId"], "uid"},
    "eventType": ..., "data": [P...]}`` where each ``P`` is a row of
    ``GET /account/positions`` plus ``pTime``. Snapshot (possibly ``data: []``) and
    regular pushes carry every open position the subscription covers; a change pushes the
    position it touched, with ``pos`` ``"0"`` once closed (it is then gone from REST); an
    order placed, cancelled, amended or expired pushes the open positions of its
    instrument (none: no push).
``orders`` ("Order Book Trading > Trade > WS / Order channel",
``#order-book-trading-trade-ws-order-channel``)
    ``{"arg": {"channel": "orders", "instType", ["instFamily"], ["instId"], "uid"},
    "data": [O]}``, no snapshot: one push per change of an order (accepted ``live``, each
    fill, cancelled, amended, expired). ``O`` is the ``GET /trade/order`` object plus the
    channel's own fields (``fillFee``, ``fillFeeCcy``, ``fillPnl``, ``execType``,
    ``fillNotionalUsd``, ``notionalUsd``, ``amendResult`` (``"0"`` and the request's
    ``reqId`` on an amendment), ``code``, ``msg``...). In a push
    that is not a fill, ``fillSz`` is ``"0"`` and ``tradeId``, ``fillPx``, ``fillTime``
    are ``""``, so a client summing fills never counts one twice. An order's ``uTime``
    never decreases from push to push, but several pushes may share one (a market
    order's ``live`` push and its fills): ``accFillSz`` and the state tell them apart.
``balance_and_position`` ("Trading Account > WebSocket > Balance and position channel",
``#trading-account-websocket-balance-and-position-channel``)
    ``{"arg": {"channel": "balance_and_position", "uid"}, "data": [{"pTime",
    "eventType", "balData": [{"ccy", "cashBal", "uTime"}], "posData": [{"posId",
    "tradeId", "instId", "instType", "mgnMode", "posSide", "pos", "ccy", "posCcy",
    "avgPx", "nonSettleAvgPx", "settledPnl", "uTime"}], "trades": [{"instId",
    "tradeId"}]}]}``. A snapshot (``eventType`` ``snapshot``: every non-zero cash balance
    and open position) right after the acknowledgement, then one push per change of cash
    or position: ``filled``, ``liquidation``, ``funding_fee``, ``delivered``,
    ``set_leverage``. Orders accepted or cancelled move no cash: no push.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from fmzokx.sim import views
from fmzokx.sim.changes import Change
from fmzokx.sim.exchange import Exchange
from fmzokx.sim.model import Account, Order, Position
from fmzokx.sim.numbers import ZERO, money, render
from fmzokx.sim.ws.limits import REGULAR_INTERVALS_MS, REGULAR_PUSH_MS

__all__ = [
    "CHANNELS",
    "ArgError",
    "PrivateFeed",
    "make_private_feed",
    "subscription_arg",
]

CHANNELS = ("account", "positions", "orders", "balance_and_position")
_POSITION_TYPES = ("MARGIN", "SWAP", "FUTURES", "OPTION", "ANY")
_ORDER_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "ANY")
_FIELDS = {
    "account": ("ccy",),
    "positions": ("instType", "instFamily", "instId"),
    "orders": ("instType", "instFamily", "instId"),
    "balance_and_position": (),
}
_BAL_POS_KINDS = ("filled", "liquidation", "funding_fee", "delivered", "set_leverage")
_POS_DATA = (
    "posId", "tradeId", "instId", "instType", "mgnMode", "posSide", "pos", "ccy", "posCcy",
    "avgPx", "nonSettleAvgPx", "settledPnl", "uTime",
)

Message = dict[str, Any]


class ArgError(ValueError):
    """A subscription argument OKX would refuse: ``code`` and ``msg`` of the error event."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def subscription_arg(arg: dict[str, Any]) -> tuple[dict[str, str], int | None]:
    """
    Check one private subscription argument; return the acknowledged ``arg`` (the
    channel's own fields, without ``extraParams``) and the regular interval in ms
    (``None``: events only; always ``None`` for ``orders`` and ``balance_and_position``).

    :raises ArgError: 60018 for a channel okxsim does not serve here, 60013 for a missing
        or unknown ``instType``, 60012 for a malformed ``extraParams``.
    """
    channel = arg.get("channel")
    if channel not in CHANNELS:
        shown = str(channel)[:40]
        raise ArgError(
            "60018",
            f"Wrong URL or channel:{shown} doesn't exist. Please use the correct URL, "
            "channel and parameters referring to API document.",
        )
    assert isinstance(channel, str)
    acked: dict[str, str] = {"channel": channel}
    for name in _FIELDS[channel]:
        value = arg.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise ArgError("60013", "Invalid args")
        acked[name] = value
    if channel in ("positions", "orders"):
        allowed = _POSITION_TYPES if channel == "positions" else _ORDER_TYPES
        if acked.get("instType") not in allowed:
            raise ArgError("60013", "Invalid args")
    interval: int | None = None
    if channel in ("account", "positions"):
        interval = _interval(channel, arg.get("extraParams"))
    return acked, interval


def _interval(channel: str, extra: object) -> int | None:
    if extra is None or extra == "":
        return REGULAR_PUSH_MS
    try:
        parsed = json.loads(extra) if isinstance(extra, str) else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ArgError("60012", f"Invalid request: extraParams {str(extra)[:200]}")
    value = parsed.get("updateInterval")
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if text == "0":
        return None
    if channel == "positions" and text.isdigit() and int(text) in REGULAR_INTERVALS_MS:
        return int(text)
    return REGULAR_PUSH_MS


class PrivateFeed(Protocol):
    """What one private subscription pushes."""

    arg: dict[str, str]

    def first(self, now_ms: int) -> list[Message]:
        """Messages sent right after the acknowledgement (the snapshot, if any)."""

    def changed(self, change: Change, now_ms: int) -> list[Message]:
        """Messages for one change of the account (rendered now, at the change)."""

    def poll(self, now_ms: int) -> list[Message]:
        """Regular pushes due at this tick (often none)."""


class _Base:
    """
    One subscription of ``key``'s account: its acknowledged ``arg``, its regular interval
    (ms, ``None`` for none) and when the next regular push is due.
    """

    def __init__(
        self, exchange: Exchange, key: str, acked: dict[str, str], interval: int | None
    ) -> None:
        self.exchange = exchange
        self.key = key
        self.arg = acked
        self.interval = interval
        self.next_due = 0

    @property
    def account(self) -> Account:
        return self.exchange.accounts[self.exchange.account_key(self.key)]

    def _arg(self) -> dict[str, str]:
        return {**self.arg, "uid": self.account.uid}

    def _snapshot(self, data: list[Any], now_ms: int) -> Message:
        if self.interval is not None:
            self.next_due = now_ms + self.interval
        return {
            "arg": self._arg(), "eventType": "snapshot", "curPage": 1, "lastPage": True,
            "data": data,
        }

    def _update(self, data: list[Any]) -> Message:
        return {"arg": self._arg(), "eventType": "event_update", "data": data}

    def _covers(self, inst_type: str, family: str, inst_id: str) -> bool:
        wanted = self.arg.get("instType", "ANY")
        if wanted != "ANY" and wanted != inst_type:
            return False
        if "instId" in self.arg:
            return self.arg["instId"] == inst_id
        return self.arg.get("instFamily", family) == family

    def first(self, now_ms: int) -> list[Message]:
        """No snapshot (the ``orders`` channel's rule)."""
        return []

    def changed(self, change: Change, now_ms: int) -> list[Message]:
        """Nothing for a change (overridden by each channel)."""
        return []

    def poll(self, now_ms: int) -> list[Message]:
        if self.interval is None or now_ms < self.next_due:
            return []
        return self.first(now_ms)


class AccountFeed(_Base):
    """The ``account`` channel."""

    def _ccys(self) -> list[str]:
        return [self.arg["ccy"]] if "ccy" in self.arg else []

    def first(self, now_ms: int) -> list[Message]:
        self.exchange.advance(now_ms)
        book = self.exchange.position_book
        return [self._snapshot([views.balance_json(book, self.account, self._ccys(), now_ms)],
                               now_ms)]

    def changed(self, change: Change, now_ms: int) -> list[Message]:
        moved = set(change.ccys)
        if change.order is not None:
            moved.add(change.order.instrument.margin_ccy)
            if change.order.frozen_ccy:
                moved.add(change.order.frozen_ccy)
        if change.position is not None:
            moved.add(change.position.instrument.settle)
        if change.inst_id:
            inst = self.exchange.catalogue.get(change.inst_id, change.ts_ms)
            if inst is not None:
                moved.add(inst.settle)
        wanted = self._ccys()
        if wanted:
            moved &= set(wanted)
        if not moved:
            return []
        book = self.exchange.position_book
        account = change.account
        balance = views.balance_json(book, account, wanted, change.ts_ms)
        balance["details"] = views.balance_json(
            book, account, sorted(moved), change.ts_ms
        )["details"]
        return [self._update([balance])]


class PositionsFeed(_Base):
    """The ``positions`` channel."""

    def _row(self, account: Account, pos: Position, at_ms: int, now_ms: int) -> dict[str, Any]:
        row = views.position_json(self.exchange.position_book, account, pos, at_ms)
        if pos.qty == 0:
            row["liqPx"] = ""
        row["pTime"] = str(now_ms)
        return row

    def _open(self, account: Account) -> list[Position]:
        return sorted(
            (
                pos for pos in account.positions.values()
                if self._covers(pos.instrument.inst_type, pos.instrument.family,
                                pos.instrument.inst_id)
            ),
            key=lambda p: p.c_time,
            reverse=True,
        )

    def first(self, now_ms: int) -> list[Message]:
        self.exchange.advance(now_ms)
        account = self.account
        rows = [self._row(account, pos, now_ms, now_ms) for pos in self._open(account)]
        return [self._snapshot(rows, now_ms)]

    def changed(self, change: Change, now_ms: int) -> list[Message]:
        touched = _touched(change)
        if change.kind == "order" and change.order is not None:
            # OKX: "pushed when triggered by events such as placing/canceling order".
            inst_id = change.order.instrument.inst_id
            touched = [
                pos for pos in change.account.positions.values()
                if pos.instrument.inst_id == inst_id
            ]
        rows = [
            self._row(change.account, pos, change.ts_ms, now_ms)
            for pos in touched
            if self._covers(pos.instrument.inst_type, pos.instrument.family,
                            pos.instrument.inst_id)
        ]
        return [self._update(rows)] if rows else []


def _touched(change: Change) -> list[Position]:
    if change.position is not None:
        return [change.position]
    if change.kind == "set_leverage":
        return [
            pos for pos in change.account.positions.values()
            if pos.instrument.inst_id == change.inst_id
        ]
    return []


class OrdersFeed(_Base):
    """The ``orders`` channel (no snapshot, no regular push)."""

    def changed(self, change: Change, now_ms: int) -> list[Message]:
        order = change.order
        if order is None:
            return []
        inst = order.instrument
        if not self._covers(inst.inst_type, inst.family, inst.inst_id):
            return []
        item = order_item(self.exchange, change.account, order, change)
        return [{"arg": self._arg(), "data": [item]}]


def order_item(exchange: Exchange, account: Account, order: Order, change: Change) -> Message:
    """One ``orders`` channel item: the REST order object and the channel's own fields."""
    item = views.order_json(order)
    inst = order.instrument
    mark = exchange.market.last(inst, change.ts_ms / 1000)
    usd = views.usd_price(exchange.market, exchange.catalogue, inst.quote, change.ts_ms)
    size = order.sz * inst.ct_val if inst.derivative else order.sz
    if inst.inverse or (not inst.derivative and order.tgt_ccy == "quote_ccy"):
        notional = size  # already in the quote currency (USD for inverse contracts)
    else:
        notional = size * (order.px or mark)
    fill = None
    if change.trade_id is not None:
        fill = next(
            (f for f in reversed(account.fills) if f.trade_id == change.trade_id), None
        )
    if fill is None:
        item.update({
            "fillSz": "0", "fillPx": "", "fillTime": "", "tradeId": "", "fillFee": "0",
            "fillFeeCcy": "", "fillPnl": "0", "execType": "", "fillNotionalUsd": "",
        })
    else:
        fill_size = fill.sz * inst.ct_val if inst.derivative else fill.sz
        fill_value = fill_size if inst.inverse else fill_size * fill.px
        item.update({
            "fillFee": render(-fill.fee),
            "fillFeeCcy": fill.fee_ccy,
            "fillPnl": render(fill.pnl),
            "execType": "M" if fill.maker else "T",
            "fillNotionalUsd": render(money(fill_value * usd)),
        })
    amended = change.req_id is not None
    item.update({
        "amendResult": "0" if amended else "",
        "amendSource": "",
        "code": "0",
        "msg": "",
        "reqId": change.req_id or "",
        "lastPx": render(mark),
        "notionalUsd": render(money(notional * usd)),
        "fillPxVol": "",
        "fillPxUsd": "",
        "fillMarkVol": "",
        "fillFwdPx": "",
        "fillMarkPx": "" if fill is None else render(fill.px),
    })
    return item


class BalanceAndPositionFeed(_Base):
    """The ``balance_and_position`` channel."""

    def _bal(self, account: Account, ccys: Sequence[str]) -> list[dict[str, str]]:
        return [
            {"ccy": ccy, "cashBal": render(account.cash.get(ccy, ZERO)),
             "uTime": str(account.u_time)}
            for ccy in ccys
        ]

    def _pos(self, account: Account, pos: Position, at_ms: int) -> dict[str, str]:
        row = views.position_json(self.exchange.position_book, account, pos, at_ms)
        return {name: row[name] for name in _POS_DATA}

    def _message(self, event: str, now_ms: int, bal: list[Any], pos: list[Any],
                 trades: list[Any]) -> Message:
        return {
            "arg": self._arg(),
            "data": [{"pTime": str(now_ms), "eventType": event, "balData": bal,
                      "posData": pos, "trades": trades}],
        }

    def first(self, now_ms: int) -> list[Message]:
        self.exchange.advance(now_ms)
        account = self.account
        ccys = sorted(ccy for ccy, cash in account.cash.items() if cash != 0)
        positions = sorted(account.positions.values(), key=lambda p: p.c_time, reverse=True)
        return [self._message(
            "snapshot", now_ms, self._bal(account, ccys),
            [self._pos(account, pos, now_ms) for pos in positions], [],
        )]

    def changed(self, change: Change, now_ms: int) -> list[Message]:
        if change.kind not in _BAL_POS_KINDS:
            return []
        account = change.account
        bal = self._bal(account, sorted(set(change.ccys)))
        pos = [self._pos(account, p, change.ts_ms) for p in _touched(change)]
        trades = []
        if change.trade_id is not None and change.order is not None:
            trades = [{"instId": change.order.instrument.inst_id,
                       "tradeId": str(change.trade_id)}]
        if not bal and not pos:
            return []
        return [self._message(change.kind, now_ms, bal, pos, trades)]

    def poll(self, now_ms: int) -> list[Message]:
        return []


_FEEDS: dict[str, Callable[[Exchange, str, dict[str, str], int | None], PrivateFeed]] = {
    "account": AccountFeed,
    "positions": PositionsFeed,
    "orders": OrdersFeed,
    "balance_and_position": BalanceAndPositionFeed,
}


def make_private_feed(
    exchange: Exchange, key: str, acked: dict[str, str], interval: int | None
) -> PrivateFeed:
    """A fresh feed for one checked subscription (see :func:`subscription_arg`)."""
    feed: PrivateFeed = _FEEDS[acked["channel"]](exchange, key, acked, interval)
    return feed
