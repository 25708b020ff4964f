# -*- test-case-name: tests.sim.test_public,tests.sim.test_market -*-
"""
The public endpoints: server time and status, instruments, market data, funding, mark
price, open interest and price limits. No authentication; nothing here changes state.
"""

from __future__ import annotations

from typing import Any

from fmzokx.sim import public
from fmzokx.sim.errors import SimApiError
from fmzokx.sim.handlers.call import (
    Call,
    Route,
    family_filter,
    inst_type,
    instrument,
    required,
)
from fmzokx.sim.instruments import SimInstrument

__all__ = ["ROUTES"]


def _time(call: Call) -> list[Any]:
    return [{"ts": str(call.now_ms)}]


def _status(call: Call) -> list[Any]:
    return []


def _instruments(call: Call) -> list[Any]:
    wanted = inst_type(call)
    rows = []
    for inst in call.exchange.instruments(call.now_ms):
        if inst.inst_type != wanted or not family_filter(inst, call.params):
            continue
        if call.params.get("instId") and inst.inst_id != call.params["instId"]:
            continue
        rows.append(public.instrument_json(inst))
    return rows


def _ticker(call: Call) -> list[Any]:
    inst = instrument(call)
    return [public.ticker(call.market, inst, call.now_ms)]


def _tickers(call: Call) -> list[Any]:
    wanted = inst_type(call)
    return [
        public.ticker(call.market, inst, call.now_ms)
        for inst in call.exchange.instruments(call.now_ms)
        if inst.inst_type == wanted and family_filter(inst, call.params)
    ]


def _books(call: Call) -> list[Any]:
    inst = instrument(call)
    depth = public.int_param(call.params, "sz", 1, 1, 400)
    assert depth is not None
    return [public.books(call.market, inst, call.now_ms, depth)]


def _trades(call: Call) -> list[Any]:
    inst = instrument(call)
    limit = public.int_param(call.params, "limit", 100, 1, 500)
    assert limit is not None
    return public.trades(call.market, inst, call.now_ms, limit)


def _history_trades(call: Call) -> list[Any]:
    inst = instrument(call)
    limit = public.int_param(call.params, "limit", 100, 1, 100)
    after = public.int_param(call.params, "after", None, 0)
    before = public.int_param(call.params, "before", None, 0)
    kind = call.params.get("type", "1")
    if kind not in ("1", "2"):
        raise SimApiError("51000", "type")
    if kind == "2":
        if before is not None:
            raise SimApiError("51000", "before")
        after = None if after is None else (after + 999) // 1000
    assert limit is not None
    return public.history_trades(call.market, inst, call.now_ms, after, before, limit)


def _candles(call: Call) -> list[Any]:
    inst = instrument(call)
    return public.candles(call.market, inst, call.now_ms, call.params, history=False)


def _history_candles(call: Call) -> list[Any]:
    inst = instrument(call)
    return public.candles(call.market, inst, call.now_ms, call.params, history=True)


def _swaps(call: Call) -> list[SimInstrument]:
    inst_id = required(call.params, "instId")
    swaps = [i for i in call.exchange.instruments(call.now_ms) if i.inst_type == "SWAP"]
    if inst_id == "ANY":
        return swaps
    chosen = [i for i in swaps if i.inst_id == inst_id]
    if not chosen:
        raise SimApiError("51001")
    return chosen


def _funding_rate(call: Call) -> list[Any]:
    return [public.funding_rate(call.market, inst, call.now_ms) for inst in _swaps(call)]


def _funding_history(call: Call) -> list[Any]:
    inst = instrument(call)
    if inst.inst_type != "SWAP":
        raise SimApiError("51001")
    return public.funding_rate_history(call.market, inst, call.now_ms, call.params)


def _mark_price(call: Call) -> list[Any]:
    wanted = inst_type(call)
    rows = []
    for inst in call.exchange.instruments(call.now_ms):
        if inst.inst_type != wanted or not family_filter(inst, call.params):
            continue
        if call.params.get("instId") and inst.inst_id != call.params["instId"]:
            continue
        rows.append(
            {
                "instType": inst.inst_type,
                "instId": inst.inst_id,
                "markPx": public.ticker(call.market, inst, call.now_ms)["last"],
                "ts": str(call.now_ms),
            }
        )
    return rows


def _underlying(call: Call) -> list[Any]:
    wanted = inst_type(call)
    families = sorted(
        {i.family for i in call.exchange.instruments(call.now_ms) if i.inst_type == wanted}
    )
    return [families]


def _open_interest(call: Call) -> list[Any]:
    wanted = inst_type(call)
    rows = []
    for inst in call.exchange.instruments(call.now_ms):
        if inst.inst_type != wanted or wanted == "SPOT":
            continue
        if call.params.get("instId") and inst.inst_id != call.params["instId"]:
            continue
        if not family_filter(inst, call.params):
            continue
        ticker = public.ticker(call.market, inst, call.now_ms)
        contracts = public.parse_volume(ticker["vol24h"]) / 3
        contracts -= contracts % inst.lot_sz
        base = contracts * inst.ct_val
        last = public.parse_volume(ticker["last"])
        usd = base if inst.inverse else base * last
        rows.append(
            {
                "instType": inst.inst_type,
                "instId": inst.inst_id,
                "oi": public.render(contracts),
                "oiCcy": public.render((usd / last).quantize(public.VOLUME_STEP)),
                "oiUsd": public.render(usd.quantize(public.VOLUME_STEP)),
                "ts": str(call.now_ms),
            }
        )
    return rows


def _price_limit(call: Call) -> list[Any]:
    inst = instrument(call)
    high, low = call.exchange.price_limits(inst, call.now_ms)
    return [
        {
            "instType": inst.inst_type,
            "instId": inst.inst_id,
            "buyLmt": public.render(high),
            "sellLmt": public.render(low),
            "ts": str(call.now_ms),
            "enabled": True,
        }
    ]


ROUTES: tuple[Route, ...] = (
    Route("/public/time", "GET", False, _time),
    Route("/system/status", "GET", False, _status),
    Route("/public/instruments", "GET", False, _instruments),
    Route("/market/ticker", "GET", False, _ticker),
    Route("/market/tickers", "GET", False, _tickers),
    Route("/market/books", "GET", False, _books),
    Route("/market/trades", "GET", False, _trades),
    Route("/market/history-trades", "GET", False, _history_trades),
    Route("/market/candles", "GET", False, _candles),
    Route("/market/history-candles", "GET", False, _history_candles),
    Route("/public/funding-rate", "GET", False, _funding_rate),
    Route("/public/funding-rate-history", "GET", False, _funding_history),
    Route("/public/mark-price", "GET", False, _mark_price),
    Route("/public/underlying", "GET", False, _underlying),
    Route("/public/open-interest", "GET", False, _open_interest),
    Route("/public/price-limit", "GET", False, _price_limit),
)
"""The public endpoints, below ``/api/v5``."""
