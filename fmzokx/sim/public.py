# -*- test-case-name: tests.sim.test_public -*-
"""
Builders for the public (unauthenticated) endpoints' ``data``: instruments, tickers,
books, trades, candles and funding. Pure functions of the market, the instrument and the
time, with parameter validation raising :class:`~fmzokx.sim.errors.SimApiError` as OKX does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from fmzokx.sim.errors import SimApiError
from fmzokx.sim.instruments import SimInstrument
from fmzokx.sim.market import DAY, HOUR, Market, parse_bar
from fmzokx.sim.numbers import parse_decimal, render

__all__ = [
    "books",
    "candles",
    "funding_rate",
    "funding_rate_history",
    "VOLUME_STEP",
    "history_trades",
    "instrument_json",
    "int_param",
    "parse_volume",
    "render",
    "split_ids",
    "ticker",
    "trades",
]

_FUNDING_MS = 8 * HOUR * 1000
_VOLUME = Decimal("1e-8")
VOLUME_STEP = _VOLUME


def parse_volume(text: str) -> Decimal:
    """A number this module rendered, back as a decimal."""
    value = parse_decimal(text)
    assert value is not None
    return value


def int_param(
    params: Mapping[str, str], name: str, default: int | None, low: int, high: int | None = None
) -> int | None:
    """
    Parse an integer query parameter; values above ``high`` are capped at it.

    :raises SimApiError: 51000 when it is not an integer or is below ``low``.
    """
    text = params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SimApiError("51000", name) from None
    if value < low:
        raise SimApiError("51000", name)
    if high is not None:
        value = min(value, high)
    return value


def _inst_code(inst_id: str) -> int:
    digest = hashlib.blake2b(inst_id.encode("utf-8"), digest_size=4).digest()
    return 1_000_000 + int.from_bytes(digest, "big") % 9_000_000


def instrument_json(inst: SimInstrument) -> dict[str, Any]:
    """One row of GET /public/instruments."""
    derivative = inst.derivative
    return {
        # Deprecated by OKX ("use expTime") and sent empty since 2026.
        "alias": "",
        "auctionEndTime": "",
        "baseCcy": "" if derivative else inst.base,
        "category": "1",
        "contTdSwTime": "",
        "ctMult": "1" if derivative else "",
        "ctType": inst.ct_type,
        "ctVal": render(inst.ct_val) if derivative else "",
        "ctValCcy": inst.ct_val_ccy,
        "expTime": str(inst.exp_time_ms) if inst.exp_time_ms else "",
        "futureSettlement": False,
        "instFamily": inst.family if derivative else "",
        "instId": inst.inst_id,
        "instIdCode": _inst_code(inst.inst_id),
        "instType": inst.inst_type,
        "lever": str(inst.max_lever) if derivative else "",
        "listTime": str(inst.list_time_ms),
        "lotSz": render(inst.lot_sz),
        "maxIcebergSz": render(inst.max_lmt_sz),
        "maxLmtAmt": "20000000",
        "maxLmtSz": render(inst.max_lmt_sz),
        "maxMktAmt": "" if derivative else "1000000",
        "maxMktSz": render(inst.max_mkt_sz),
        "maxStopSz": render(inst.max_mkt_sz),
        "maxTriggerSz": render(inst.max_lmt_sz),
        "maxTwapSz": render(inst.max_lmt_sz),
        "minSz": render(inst.min_sz),
        "openType": "",
        "optType": "",
        "preMktSwTime": "",
        "quoteCcy": "" if derivative else inst.quote,
        "ruleType": "normal",
        "settleCcy": inst.settle,
        "state": inst.state,
        "stk": "",
        "tickSz": render(inst.tick_sz),
        "tradeQuoteCcyList": [] if derivative else [inst.quote],
        "uly": inst.family if derivative else "",
        "upcChg": [],
    }


def _quote_volume(inst: SimInstrument, volume: Decimal, price: Decimal) -> tuple[Decimal, Decimal]:
    """(volCcy, volCcyQuote) for a volume in base (spot) or contracts (derivatives)."""
    if not inst.derivative:
        quote = (volume * price).quantize(_VOLUME)
        return quote, quote
    if inst.inverse:
        usd = volume * inst.ct_val
        return (usd / price).quantize(_VOLUME), usd
    base = volume * inst.ct_val
    return base, (base * price).quantize(_VOLUME)


def ticker(market: Market, inst: SimInstrument, now_ms: int) -> dict[str, Any]:
    """One ticker object (GET /market/ticker, /market/tickers)."""
    second = now_ms // 1000
    open_, high, low, close, volume = market.span(inst, second - DAY + 1, second + 1)
    asks, bids = market.book(inst, now_ms / 1000, 1)
    last_trade = market.trades(inst, now_ms / 1000, 1)[0]
    day_utc0 = second - second % DAY
    day_utc8 = second - (second + 8 * HOUR) % DAY
    sod0 = market.span(inst, day_utc0, second + 1)[0]
    sod8 = market.span(inst, day_utc8, second + 1)[0]
    vol_ccy, _ = _quote_volume(inst, volume, (open_ + high + low + close) / 4)
    if inst.state == "preopen":
        # Listed, not trading yet: no book and no trade, so OKX has no value for any
        # price ("" -- OKX's empty value) and nothing traded in the last 24 hours.
        return {
            "instType": inst.inst_type, "instId": inst.inst_id, "last": "", "lastSz": "",
            "askPx": "", "askSz": "", "bidPx": "", "bidSz": "", "open24h": "",
            "high24h": "", "low24h": "", "volCcy24h": "0", "vol24h": "0",
            "ts": str(now_ms), "sodUtc0": "", "sodUtc8": "",
        }
    return {
        "instType": inst.inst_type,
        "instId": inst.inst_id,
        "last": render(close),
        "lastSz": render(last_trade.sz),
        "askPx": render(asks[0].px),
        "askSz": render(asks[0].sz),
        "bidPx": render(bids[0].px) if bids else "",
        "bidSz": render(bids[0].sz) if bids else "",
        "open24h": render(open_),
        "high24h": render(high),
        "low24h": render(low),
        "volCcy24h": render(vol_ccy),
        "vol24h": render(volume),
        "ts": str(now_ms),
        "sodUtc0": render(sod0),
        "sodUtc8": render(sod8),
    }


def books(market: Market, inst: SimInstrument, now_ms: int, depth: int) -> dict[str, Any]:
    """The one book object of GET /market/books (empty for an instrument not trading yet)."""
    asks, bids = market.book(inst, now_ms / 1000, depth) if inst.state != "preopen" else ([], [])
    return {
        "asks": [[render(lv.px), render(lv.sz), "0", str(lv.orders)] for lv in asks],
        "bids": [[render(lv.px), render(lv.sz), "0", str(lv.orders)] for lv in bids],
        "ts": str(now_ms),
        "seqId": now_ms // 1000,
    }


def trades(market: Market, inst: SimInstrument, now_ms: int, limit: int) -> list[dict[str, str]]:
    """GET /market/trades rows, newest first."""
    return [
        {
            "instId": inst.inst_id,
            "side": trade.side,
            "sz": render(trade.sz),
            "px": render(trade.px),
            "source": "0",
            "tradeId": str(trade.trade_id),
            "ts": str(trade.ts_ms),
        }
        for trade in market.trades(inst, now_ms / 1000, limit)
    ]


def history_trades(
    market: Market,
    inst: SimInstrument,
    now_ms: int,
    after: int | None,
    before: int | None,
    limit: int,
) -> list[dict[str, str]]:
    """
    GET /market/history-trades rows (``type=1``: tradeId cursors), newest first. Trade ids
    are the second of the trade, so a cursor maps directly onto the tape.
    """
    newest = now_ms // 1000
    if after is not None:
        newest = min(newest, after - 1)
    oldest = newest - limit + 1
    if before is not None:
        oldest = max(oldest, before + 1)
    if newest < oldest:
        return []
    rows = trades(market, inst, (newest + 1) * 1000 - 1, newest - oldest + 1)
    return rows


def candles(
    market: Market,
    inst: SimInstrument,
    now_ms: int,
    params: Mapping[str, str],
    history: bool,
) -> list[list[str]]:
    """
    Candle rows ``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]``, newest first.

    ``after`` returns bars older than the cursor, ``before`` bars newer than it (alone: the
    latest bars), both exclusive. ``/market/candles`` only reaches the latest 1440 bars, and
    nothing exists before the instrument's listing time.
    """
    bar = parse_bar(params.get("bar", "1m"))
    if bar is None or (bar == "1s" and not history):
        raise SimApiError("51000", "bar")
    limit = int_param(params, "limit", 100, 1, 300)
    after = int_param(params, "after", None, 0)
    before = int_param(params, "before", None, 0)
    assert limit is not None
    spans = market.candle_starts(bar, now_ms / 1000, after, before, limit)
    if not history and spans:
        newest_start = market.candle_starts(bar, now_ms / 1000, None, None, 1)[0][0]
        size = spans[0][1] - spans[0][0]
        horizon = newest_start - 1439 * size
        spans = [span for span in spans if span[0] >= horizon]
    # Nothing before the listing (or, on a test clock near the epoch, before time 0).
    first = min(inst.list_time_ms, max(0, now_ms - 365 * DAY * 1000))
    spans = [span for span in spans if span[0] * 1000 >= first]
    rows = []
    second = now_ms // 1000
    for start, end in spans:
        o, h, lo, c, vol = market.span(inst, start, min(end, second + 1))
        vol_ccy, vol_quote = _quote_volume(inst, vol, (o + h + lo + c) / 4)
        rows.append(
            [
                str(start * 1000),
                render(o),
                render(h),
                render(lo),
                render(c),
                render(vol),
                render(vol_ccy),
                render(vol_quote),
                "1" if end * 1000 <= now_ms else "0",
            ]
        )
    return rows


def funding_rate(market: Market, inst: SimInstrument, now_ms: int) -> dict[str, str]:
    """One row of GET /public/funding-rate."""
    upcoming, following = market.funding_times(now_ms / 1000)
    rate = market.funding_rate(inst, upcoming)
    return {
        "formulaType": "withRate",
        "fundingRate": render(rate),
        "fundingTime": str(upcoming),
        "impactValue": "20000",
        "instId": inst.inst_id,
        "instType": "SWAP",
        "interestRate": "0.0001",
        "maxFundingRate": "0.00375",
        "method": "current_period",
        "minFundingRate": "-0.00375",
        "nextFundingRate": "",
        "nextFundingTime": str(following),
        "premium": render(rate - Decimal("0.0001")),
        "settFundingRate": render(market.funding_rate(inst, upcoming - _FUNDING_MS)),
        "settState": "settled",
        "ts": str(now_ms),
    }


def funding_rate_history(
    market: Market, inst: SimInstrument, now_ms: int, params: Mapping[str, str]
) -> list[dict[str, str]]:
    """GET /public/funding-rate-history rows, newest first (about three months)."""
    limit = int_param(params, "limit", 400, 1, 400)
    after = int_param(params, "after", None, 0)
    before = int_param(params, "before", None, 0)
    assert limit is not None
    newest = now_ms // _FUNDING_MS * _FUNDING_MS
    oldest_kept = newest - 269 * _FUNDING_MS  # 90 days of 8-hourly settlements
    moment = newest
    if after is not None:
        moment = min(moment, (after - 1) // _FUNDING_MS * _FUNDING_MS)
    rows: list[dict[str, str]] = []
    while len(rows) < limit and moment >= oldest_kept:
        if before is not None and moment <= before:
            break
        rate = render(market.funding_rate(inst, moment))
        rows.append(
            {
                "formulaType": "withRate",
                "fundingRate": rate,
                "fundingTime": str(moment),
                "instId": inst.inst_id,
                "instType": "SWAP",
                "method": "current_period",
                "realizedRate": rate,
            }
        )
        moment -= _FUNDING_MS
    return rows


def split_ids(value: str | None) -> Sequence[str]:
    """A comma-separated parameter as a list (empty when absent)."""
    return [part for part in (value or "").split(",") if part]

