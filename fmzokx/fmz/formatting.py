# -*- test-case-name: tests.fmz.test_formatting -*-
"""
OKX records (:mod:`fmzokx.okx.records`) -> the article's ``data`` shapes, as pure functions.

Numbers the article writes as strings (ticker, balances) are written as OKX wrote them;
numbers it writes as JSON numbers (depth, trades, candles, orders) stay
:class:`~decimal.Decimal` and are serialised exactly by :mod:`fmzokx.fmz.jsonout`, never in
exponent form. A ticker price OKX left without a value (``""``: no best bid or ask on a
one-sided book, no trade yet) is ``null``, never a ``"0"`` a strategy could trade on; a
book level without a price is left out. Elsewhere FMZ's own convention holds: 0 for an
unknown average price, a market order's price, an empty balance (:func:`or_zero`). Times
are milliseconds except candles, which the docker wants in seconds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from fmzokx.fmz.envelope import RpcError, refuse_control
from fmzokx.okx.instruments import Instrument
from fmzokx.okx.records import (
    BalanceRecord,
    BookLevel,
    BookRecord,
    CandleRecord,
    OrderRecord,
    TickerRecord,
    TradeRecord,
)

__all__ = [
    "balance_rows",
    "depth_data",
    "or_zero",
    "order_data",
    "order_status",
    "client_order_ref",
    "parse_order_id",
    "split_order_part",
    "record_rows",
    "ticker_data",
    "trade_rows",
]

ZERO = Decimal(0)


def or_zero(value: Decimal | None) -> Decimal:
    """A number OKX left without a value (``""``) as FMZ gets it: 0."""
    return ZERO if value is None else value


def _ms(value: int | None) -> int:
    return 0 if value is None else value


def _text(value: Decimal | None) -> str:
    """A number in OKX's own spelling (a plain decimal, trailing zeros kept); none: ``"0"``."""
    if value is None:
        return "0"
    text = str(value)  # OKX's spelling, but for an exponent (1E-7): then written out
    return format(value, "f") if "E" in text else text


def _price(value: Decimal | None) -> str | None:
    """A ticker number as :func:`_text` writes it; none (OKX's ``""``): ``None`` (null)."""
    return None if value is None else _text(value)


def ticker_data(ticker: TickerRecord, symbol: str) -> dict[str, Any]:
    """
    ``{symbol, buy, sell, high, low, open, last, vol, time}`` from one ticker; a price OKX
    has no value for is ``None`` (null), not 0.
    """
    return {
        "symbol": symbol,
        "buy": _price(ticker.bid_px),
        "sell": _price(ticker.ask_px),
        "high": _price(ticker.high_24h),
        "low": _price(ticker.low_24h),
        "open": _price(ticker.open_24h),
        "last": _price(ticker.last),
        "vol": _text(ticker.vol_24h),
        "time": _ms(ticker.ts),
    }


def _level(level: BookLevel) -> list[Decimal]:
    price, size = level
    return [or_zero(price), or_zero(size)]


def _priced(levels: Sequence[BookLevel]) -> list[list[Decimal]]:
    return [_level(level) for level in levels if level[0] is not None]


def depth_data(book: BookRecord, limit: int) -> dict[str, Any]:
    """
    ``{time, asks ascending, bids descending}``, at most ``limit`` levels a side (a level
    without a price is no level).
    """
    asks = sorted(_priced(book.asks), key=lambda level: level[0])
    bids = sorted(_priced(book.bids), key=lambda level: level[0], reverse=True)
    return {"time": _ms(book.ts), "asks": asks[:limit], "bids": bids[:limit]}


def trade_rows(trades: Sequence[TradeRecord]) -> list[dict[str, Any]]:
    """``[{id, time, price, amount, type}]`` ascending by time (OKX sends newest first)."""
    ordered = sorted(trades, key=lambda trade: (_ms(trade.ts), _sort_id(trade.trade_id)))
    return [
        {
            "id": _trade_id(trade.trade_id),
            "time": _ms(trade.ts),
            "price": or_zero(trade.px),
            "amount": or_zero(trade.sz),
            "type": "buy" if trade.side == "buy" else "sell",
        }
        for trade in ordered
    ]


def _trade_id(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _sort_id(text: str) -> tuple[int, int, str]:
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def record_rows(candles: Sequence[CandleRecord]) -> list[list[Any]]:
    """``[[time_s, open, high, low, close, volume]]`` ascending, one row per bar open time."""
    by_time: dict[int, list[Any]] = {}
    for candle in candles:
        ts = _ms(candle.ts)
        by_time[ts] = [
            ts // 1000, or_zero(candle.open), or_zero(candle.high), or_zero(candle.low),
            or_zero(candle.close), or_zero(candle.volume),
        ]
    return [by_time[ts] for ts in sorted(by_time)]


def balance_rows(account: BalanceRecord) -> list[dict[str, str]]:
    """
    ``[{currency, free, frozen}]`` from one account's per-currency details.

    As FMZ's own OKX plugin does: ``free`` is the available equity (margin,
    multi-currency and portfolio-margin accounts), else the available balance (spot
    mode, where OKX leaves the equity empty); ``frozen`` is what open orders hold
    (``ordFrozen``) -- not the frozen balance, which also counts position margin and
    would make a strategy think funds are tied up in orders it does not have.
    """
    rows = []
    for detail in account.details:
        if not detail.ccy:
            continue
        free = detail.avail_eq if detail.avail_eq is not None else detail.avail_bal
        rows.append({
            "currency": detail.ccy, "free": _text(free), "frozen": _text(detail.ord_frozen),
        })
    return rows


def order_status(state: str, filled: Decimal) -> str:
    """OKX order state -> the article's status strings (contract §3)."""
    if state == "live":
        return "pending"
    if state == "partially_filled":
        return "partial-filled"
    if state == "filled":
        return "filled"
    if state in ("canceled", "mmp_canceled"):
        return "partial-canceled" if filled > 0 else "canceled"
    return state or "unknown"


def order_offset(order: OrderRecord) -> str:
    """``open``/``close`` for a contract order, from its position side or reduce-only."""
    if order.pos_side == "long":
        return "open" if order.side == "buy" else "close"
    if order.pos_side == "short":
        return "open" if order.side == "sell" else "close"
    return "close" if order.reduce_only else "open"


def order_data(
    order: OrderRecord, instrument: Instrument | None, symbol: str,
    contract_type: str | None = None,
) -> dict[str, Any]:
    """
    The article's order object (plus ``contract_type``/``offset``/``time``).

    :param contract_type: FMZ's ContractType when the instrument is known (a dated
        future's depends on the date); else it follows the order's instrument type.
    """
    filled = or_zero(order.acc_fill_sz)
    inst_type = order.inst_type or (instrument.inst_type if instrument else "SPOT")
    data: dict[str, Any] = {
        "id": f"{order.inst_id},{order.ord_id}",
        "symbol": symbol,
        "amount": or_zero(order.sz),
        "price": or_zero(order.px),
        "deal_amount": filled,
        "avg_price": or_zero(order.avg_px),
        "type": "buy" if order.side == "buy" else "sell",
        "status": order_status(order.state, filled),
        "contract_type": _contract_type(inst_type) if contract_type is None else contract_type,
        "time": _ms(order.c_time),
    }
    if inst_type != "SPOT":
        data["offset"] = order_offset(order)
    return data


def _contract_type(inst_type: str) -> str:
    return {"SPOT": "", "SWAP": "swap", "MARGIN": ""}.get(inst_type, inst_type.lower())


CLIENT_ID_MARK = "cl:"
"""Marks the order part of an id as the ``clOrdId`` fmzokx gave the order."""

_CLIENT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")


def client_order_ref(inst_id: str, cl_ord_id: str) -> str:
    """
    The order id ``INSTID,cl:CLORDID`` for an order known by its ``clOrdId`` only (its
    placement answered "outcome unknown"): ``order`` and ``cancel`` accept it and find the
    order in any state.
    """
    return f"{inst_id},{CLIENT_ID_MARK}{cl_ord_id}"


def split_order_part(ord_part: str) -> tuple[str | None, str | None]:
    """
    The order part of an id as ``(ordId, None)``, or ``(None, clOrdId)`` for ``cl:...``.

    :raises RpcError: a ``cl:`` part that is not a clOrdId (1-32 letters and digits).
    """
    if not ord_part.startswith(CLIENT_ID_MARK):
        return ord_part, None
    cl_ord_id = ord_part[len(CLIENT_ID_MARK):]
    if not _CLIENT_ID.match(cl_ord_id):
        raise RpcError(
            f"order id part {ord_part[:40]!r} is not cl: followed by a clOrdId (1-32 letters "
            "and digits)"
        )
    return None, cl_ord_id


def parse_order_id(order_id: str, symbol_inst_id: str | None) -> tuple[str, str]:
    """
    Split ``"instId,ordId"`` (contract §2); a bare ordId needs the ``symbol`` param.

    :raises RpcError: when the instrument cannot be known.
    """
    text = refuse_control("param 'id'", order_id).strip(" ")
    inst_id, comma, ord_id = text.rpartition(",")
    if comma and inst_id.strip(" ") and ord_id.strip(" "):
        return inst_id.strip(" ").upper(), ord_id.strip(" ")
    bare = text.lstrip(",").strip(" ")
    if not bare:
        raise RpcError("missing param 'id': expected an order id such as ETH-USDT,123456")
    if symbol_inst_id is None:
        raise RpcError(
            f"order id {bare!r} does not name its instrument: pass the id as returned by "
            "trade (INSTID,ORDID, e.g. ETH-USDT,123456) or give the symbol param"
        )
    return symbol_inst_id, bare
