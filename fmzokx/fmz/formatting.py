# -*- test-case-name: tests.fmz.test_formatting -*-
"""
OKX payload items -> the article's ``data`` shapes, as pure functions.

Numbers the article writes as strings (ticker, balances) stay OKX's exact strings;
numbers it writes as JSON numbers (depth, trades, candles, orders) become
:class:`~decimal.Decimal` and are serialised exactly by :mod:`fmzokx.fmz.jsonout`.
Times are milliseconds except candles, which the docker wants in seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from fmzokx.fmz.envelope import RpcError, refuse_control
from fmzokx.okx.instruments import Instrument, optional_decimal

__all__ = [
    "balance_rows",
    "depth_data",
    "dec",
    "order_data",
    "order_status",
    "client_order_ref",
    "parse_order_id",
    "split_order_part",
    "record_rows",
    "ticker_data",
    "trade_rows",
]

SymbolOf = Callable[[str], str]


def dec(value: Any, default: Decimal = Decimal(0)) -> Decimal:
    """An OKX numeric string as a Decimal; ``""``/missing/garbage -> ``default``."""
    number = optional_decimal(value)
    return default if number is None else number


def _ms(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _text(value: Any, default: str = "0") -> str:
    if value is None or value == "":
        return default
    return str(value)


def ticker_data(item: Mapping[str, Any], symbol: str) -> dict[str, Any]:
    """``{symbol, buy, sell, high, low, open, last, vol, time}`` from one OKX ticker."""
    return {
        "symbol": symbol,
        "buy": _text(item.get("bidPx")),
        "sell": _text(item.get("askPx")),
        "high": _text(item.get("high24h")),
        "low": _text(item.get("low24h")),
        "open": _text(item.get("open24h")),
        "last": _text(item.get("last")),
        "vol": _text(item.get("vol24h")),
        "time": _ms(item.get("ts")),
    }


def depth_data(book: Mapping[str, Any], limit: int) -> dict[str, Any]:
    """``{time, asks ascending, bids descending}``, at most ``limit`` levels a side."""
    asks = sorted(
        ([dec(level[0]), dec(level[1])] for level in book.get("asks", []) if len(level) >= 2),
        key=lambda level: level[0],
    )
    bids = sorted(
        ([dec(level[0]), dec(level[1])] for level in book.get("bids", []) if len(level) >= 2),
        key=lambda level: level[0],
        reverse=True,
    )
    return {"time": _ms(book.get("ts")), "asks": asks[:limit], "bids": bids[:limit]}


def trade_rows(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``[{id, time, price, amount, type}]`` ascending by time (OKX sends newest first)."""
    ordered = sorted(items, key=lambda item: (_ms(item.get("ts")), _sort_id(item.get("tradeId"))))
    return [
        {
            "id": _trade_id(item.get("tradeId")),
            "time": _ms(item.get("ts")),
            "price": dec(item.get("px")),
            "amount": dec(item.get("sz")),
            "type": "buy" if item.get("side") == "buy" else "sell",
        }
        for item in ordered
    ]


def _trade_id(value: Any) -> int | str:
    text = str(value or "")
    return int(text) if text.isdigit() else text


def _sort_id(value: Any) -> tuple[int, int, str]:
    text = str(value or "")
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def record_rows(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """``[[time_s, open, high, low, close, volume]]`` ascending, one row per bar open time."""
    by_time: dict[int, list[Any]] = {}
    for row in rows:
        if len(row) < 6:
            continue
        ts = _ms(row[0])
        by_time[ts] = [ts // 1000, dec(row[1]), dec(row[2]), dec(row[3]), dec(row[4]), dec(row[5])]
    return [by_time[ts] for ts in sorted(by_time)]


def balance_rows(account: Mapping[str, Any]) -> list[dict[str, str]]:
    """
    ``[{currency, free, frozen}]`` from ``/account/balance``'s ``details``.

    As FMZ's own OKX plugin does: ``free`` is ``availEq`` (margin, multi-currency and
    portfolio-margin accounts), else ``availBal`` (spot mode, where ``availEq`` is
    empty); ``frozen`` is ``ordFrozen``, what open orders hold -- not ``frozenBal``,
    which also counts position margin and would make a strategy think funds are tied up
    in orders it does not have.
    """
    rows = []
    for detail in account.get("details", []) or []:
        if not isinstance(detail, Mapping) or not detail.get("ccy"):
            continue
        free = detail.get("availEq") or detail.get("availBal") or "0"
        frozen = detail.get("ordFrozen") or "0"
        rows.append({"currency": str(detail["ccy"]), "free": str(free), "frozen": str(frozen)})
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


def order_offset(item: Mapping[str, Any]) -> str:
    """``open``/``close`` for a contract order, from posSide (long/short) or reduceOnly."""
    side = item.get("side")
    pos_side = item.get("posSide")
    if pos_side == "long":
        return "open" if side == "buy" else "close"
    if pos_side == "short":
        return "open" if side == "sell" else "close"
    reduce_only = str(item.get("reduceOnly", "false")).lower() == "true"
    return "close" if reduce_only else "open"


def order_data(
    item: Mapping[str, Any], instrument: Instrument | None, symbol: str,
    contract_type: str | None = None,
) -> dict[str, Any]:
    """
    The article's order object (plus ``contract_type``/``offset``/``time``).

    :param contract_type: FMZ's ContractType when the instrument is known (a dated
        future's depends on the date); else it follows the order's ``instType``.
    """
    filled = dec(item.get("accFillSz"))
    inst_type = str(item.get("instType") or (instrument.inst_type if instrument else "SPOT"))
    order: dict[str, Any] = {
        "id": f"{item.get('instId', '')},{item.get('ordId', '')}",
        "symbol": symbol,
        "amount": dec(item.get("sz")),
        "price": dec(item.get("px")),
        "deal_amount": filled,
        "avg_price": dec(item.get("avgPx")),
        "type": "buy" if item.get("side") == "buy" else "sell",
        "status": order_status(str(item.get("state", "")), filled),
        "contract_type": _contract_type(inst_type) if contract_type is None else contract_type,
        "time": _ms(item.get("cTime")),
    }
    if inst_type != "SPOT":
        order["offset"] = order_offset(item)
    return order


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
