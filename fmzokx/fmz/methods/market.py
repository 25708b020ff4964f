# -*- test-case-name: tests.fmz.methods.test_market -*-
"""
Market-data methods: ticker, depth, trades, records, markets, tickers.

All public: they work with empty keys. Each reply carries the OKX payload(s) it was built
from in ``raw``; ``data`` is mapped from the OKX side's records.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

from fmzokx.fmz.context import CallContext
from fmzokx.fmz.envelope import RpcError, RpcRequest
from fmzokx.fmz.formatting import depth_data, or_zero, record_rows, ticker_data, trade_rows
from fmzokx.fmz.registry import Param, RpcResult, method
from fmzokx.fmz.symbols import (
    SymbolRange,
    SymbolRef,
    parse_symbol,
    parse_symbol_or_range,
)
from fmzokx.okx.endpoints import (
    BOOKS,
    BOOKS_CHANNEL,
    CANDLES,
    HISTORY_CANDLES,
    INSTRUMENTS,
    TICKER,
    TICKERS,
    TICKERS_CHANNEL,
    TRADES,
    TRADES_ALL_CHANNEL,
)
from fmzokx.okx.instruments import INST_TYPES, Instrument
from fmzokx.okx.market import BAR_SIZES

__all__ = ["BARS"]

R = TypeVar("R")

SYMBOL = Param("symbol", "FMZ symbol (ETH_USDT, BTC_USDT.swap, BTC_USD.quarter) or OKX instId")

BARS = tuple(BAR_SIZES)
"""FMZ's ``period`` values (minutes, as the docker sends them) that OKX has bars for."""

ZERO = Decimal(0)
ONE = Decimal(1)
DEFAULT_RECORDS = 100
MAX_RECORDS = 10_000
DEFAULT_DEPTH = 20
MAX_DEPTH = 400


async def _inst_id(context: CallContext, ref: SymbolRef) -> tuple[str, str]:
    """(instId, FMZ symbol) for a symbol, resolving futures aliases only when needed."""
    if ref.inst_id is not None:
        return ref.inst_id, ref.fmz
    instrument = await context.instrument(ref)
    return instrument.inst_id, ref.fmz


def _first(records: Sequence[R], what: str, inst_id: str) -> R:
    if not records:
        raise RpcError(f"OKX returned no {what} for {inst_id}")
    return records[0]


@method(
    "ticker",
    summary="Best bid/ask, last price and 24 h statistics of one instrument.",
    params=[SYMBOL],
    data="{symbol, buy, sell, high, low, open, last, vol, time}; numbers as OKX's strings "
    "(null where OKX has no value: no best bid or ask, no trade yet), time in ms, vol in "
    "base currency (spot) or contracts",
    okx=[TICKER, TICKERS_CHANNEL],
)
async def ticker(context: CallContext, request: RpcRequest) -> RpcResult:
    ref = parse_symbol(request.params.text("symbol"))
    inst_id, symbol = await _inst_id(context, ref)
    fetched = await context.okx.market.ticker(inst_id, request.credentials)
    return RpcResult(ticker_data(_first(fetched.records, "ticker", inst_id), symbol), fetched.raw)


@method(
    "depth",
    summary="Order book: asks ascending, bids descending.",
    params=[SYMBOL, Param("limit", f"levels per side, 1-{MAX_DEPTH} (default {DEFAULT_DEPTH})",
                          required=False)],
    data="{time, asks: [[price, amount], ...], bids: [[price, amount], ...]}",
    okx=[BOOKS, BOOKS_CHANNEL],
)
async def depth(context: CallContext, request: RpcRequest) -> RpcResult:
    ref = parse_symbol(request.params.text("symbol"))
    limit = request.params.integer("limit", DEFAULT_DEPTH) or DEFAULT_DEPTH
    if not 1 <= limit <= MAX_DEPTH:
        raise RpcError(f"param 'limit' must be between 1 and {MAX_DEPTH} levels, got {limit}")
    inst_id, _ = await _inst_id(context, ref)
    fetched = await context.okx.market.books(inst_id, limit, request.credentials)
    book = _first(fetched.records, "order book", inst_id)
    return RpcResult(depth_data(book, limit), fetched.raw)


@method(
    "trades",
    summary="Recent public trades, oldest first.",
    params=[SYMBOL, Param("limit", "number of trades, 1-500 (default 100)", required=False)],
    data="[{id, time, price, amount, type: buy/sell}] ascending by time; type is the taker side",
    okx=[TRADES, TRADES_ALL_CHANNEL],
)
async def trades(context: CallContext, request: RpcRequest) -> RpcResult:
    ref = parse_symbol(request.params.text("symbol"))
    limit = request.params.integer("limit", 100) or 100
    if not 1 <= limit <= 500:
        raise RpcError(f"param 'limit' must be between 1 and 500 trades, got {limit}")
    inst_id, _ = await _inst_id(context, ref)
    fetched = await context.okx.market.trades(inst_id, limit, request.credentials)
    return RpcResult(trade_rows(fetched.records), fetched.raw)


@method(
    "records",
    summary="Candles (K-lines), oldest first; paged from history when over one page.",
    params=[
        SYMBOL,
        Param("period", "bar size in minutes: " + ", ".join(str(m) for m in BARS)),
        Param("limit", f"number of bars (default {DEFAULT_RECORDS}, at most {MAX_RECORDS})",
              required=False),
    ],
    data="[[time_seconds, open, high, low, close, volume], ...] ascending; the last bar may "
    "still be forming; volume in base currency (spot) or contracts",
    okx=f"{CANDLES}, then {HISTORY_CANDLES}",
)
async def records(context: CallContext, request: RpcRequest) -> RpcResult:
    ref = parse_symbol(request.params.text("symbol"))
    period = request.params.integer("period", 60)
    if period not in BAR_SIZES:
        supported = ", ".join(str(minutes) for minutes in BARS)
        raise RpcError(
            f"unsupported period {period} (minutes): OKX candles come in {supported} minutes"
        )
    limit = request.params.integer("limit", DEFAULT_RECORDS) or DEFAULT_RECORDS
    if not 1 <= limit <= MAX_RECORDS:
        raise RpcError(f"param 'limit' must be between 1 and {MAX_RECORDS} bars, got {limit}")
    inst_id, _ = await _inst_id(context, ref)
    history = await context.okx.market.candles(inst_id, period, limit)
    ascending = record_rows(history.records)
    pages = history.pages
    return RpcResult(ascending[-limit:], pages if len(pages) > 1 else pages[0])


def _market(instrument: Instrument) -> dict[str, Any]:
    """The FMZ Market fields; OKX sets no minimum notional, and caps are 0 when absent."""
    spot = instrument.inst_type == "SPOT"
    return {
        "symbol": instrument.inst_id,
        "base_asset": instrument.base,
        "quote_asset": instrument.quote,
        "tick_size": instrument.tick_size,
        "amount_size": instrument.lot_size,
        "price_precision": instrument.price_precision,
        "amount_precision": instrument.amount_precision,
        "min_qty": instrument.min_size,
        "max_qty": instrument.max_limit_size or ZERO,
        "min_notional": ZERO,
        "max_notional": or_zero(instrument.max_limit_amount) if spot else ZERO,
        "ct_val": ONE if spot else (instrument.ct_val or ONE),
        "ct_val_ccy": instrument.base if spot else instrument.ct_val_ccy,
    }


@method(
    "markets",
    summary="Instrument rules (tick and lot size, precision, limits, contract value).",
    params=[Param("symbol", "one symbol or a range such as USDT.swap (default: every spot, "
                  "swap and futures instrument)", required=False)],
    data="object keyed by FMZ symbol: {symbol (OKX instId), base_asset, quote_asset, "
    "tick_size, amount_size, price_precision, amount_precision, min_qty, max_qty, "
    "min_notional, max_notional, ct_val, ct_val_ccy}",
    okx=f"{INSTRUMENTS} (cached, refreshed)",
)
async def markets(context: CallContext, request: RpcRequest) -> RpcResult:
    instruments: list[Instrument]
    if request.params.has("symbol"):
        selector = parse_symbol_or_range(request.params.text("symbol"))
        if isinstance(selector, SymbolRange):
            instruments = await context.in_range(selector)
        else:
            instruments = [await context.instrument(selector)]
    else:
        instruments = []
        for inst_type in INST_TYPES:
            instruments.extend((await context.okx.instruments.instruments(inst_type)).values())
    data = {context.symbol_of(inst): _market(inst) for inst in instruments}
    return RpcResult(data, [dict(inst.raw) for inst in instruments])


@method(
    "tickers",
    summary="Tickers of many instruments at once.",
    params=[Param("symbol", "a range such as USDT.swap or USD.futures, or one symbol "
                  "(default: every spot pair)", required=False)],
    data="[{symbol, buy, sell, high, low, open, last, vol, time}, ...]",
    okx=[TICKERS, TICKER],
)
async def tickers(context: CallContext, request: RpcRequest) -> RpcResult:
    selector: SymbolRef | SymbolRange | None = None
    if request.params.has("symbol"):
        selector = parse_symbol_or_range(request.params.text("symbol"))
    if isinstance(selector, SymbolRef):
        inst_id, symbol = await _inst_id(context, selector)
        fetched = await context.okx.market.ticker(inst_id, request.credentials)
        first = _first(fetched.records, "ticker", inst_id)
        return RpcResult([ticker_data(first, symbol)], fetched.raw)
    inst_type = selector.inst_type if selector is not None else "SPOT"
    if inst_type == "OPTION":
        raise RpcError("options are not supported")
    fetched = await context.okx.market.tickers(inst_type)
    if inst_type == "FUTURES":
        # Futures symbols carry their alias; make sure the instrument list is loaded.
        await context.okx.instruments.instruments("FUTURES")
    wanted = None
    if selector is not None:
        wanted = {inst.inst_id for inst in await context.in_range(selector)}
    data = [
        ticker_data(ticker, context.fmz_symbol(ticker.inst_id))
        for ticker in fetched.records
        if wanted is None or ticker.inst_id in wanted
    ]
    return RpcResult(data, fetched.raw)
