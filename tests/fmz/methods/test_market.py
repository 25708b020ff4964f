"""Market-data methods end to end against okxsim: shapes field by field, and errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.stack import Stack


@pytest.fixture
def stack() -> Stack:
    return Stack()


def test_ticker_shape(stack: Stack) -> None:
    """ticker answers the article's fields as OKX strings, time in ms, raw = OKX payload."""
    reply = stack.call("ticker", keys=False, symbol="btc_usdt")
    data, raw = reply["data"], reply["raw"]
    assert set(data) == {"symbol", "buy", "sell", "high", "low", "open", "last", "vol", "time"}
    assert data["symbol"] == "BTC_USDT"
    item = raw["data"][0]
    assert (data["buy"], data["sell"], data["last"]) == (item["bidPx"], item["askPx"], item["last"])
    assert (data["high"], data["low"], data["open"]) == (
        item["high24h"], item["low24h"], item["open24h"],
    )
    assert data["vol"] == item["vol24h"]
    assert data["time"] == int(item["ts"]) == int(stack.clock.seconds() * 1000)
    assert Decimal(data["buy"]) < Decimal(data["sell"])


def test_ticker_for_swap_and_futures_alias(stack: Stack) -> None:
    """Contract symbols keep their FMZ spelling; aliases resolve to the dated instId."""
    swap = stack.ok("ticker", symbol="BTC_USDT.swap")
    assert swap["data"]["symbol"] == "BTC_USDT.swap"
    assert swap["raw"]["data"][0]["instId"] == "BTC-USDT-SWAP"
    quarter = stack.ok("ticker", symbol="BTC_USD.quarter")
    assert quarter["data"]["symbol"] == "BTC_USD.quarter"
    assert quarter["raw"]["data"][0]["instId"].startswith("BTC-USD-2")


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("USDT", "invalid symbol 'USDT'"),
        ("ETH_", "invalid symbol 'ETH_'"),
        ("", "missing param 'symbol'"),
    ],
)
def test_ticker_bad_symbols(stack: Stack, symbol: str, expected: str) -> None:
    """Unmappable symbols are refused locally with the expected form."""
    message = stack.error("ticker", symbol=symbol)
    assert expected in message
    assert stack.sim.state()["requests"].get("/api/v5/market/ticker", 0) == 0


def test_ticker_unknown_instrument_is_okx_refusal(stack: Stack) -> None:
    """A well-formed but unlisted pair comes back with OKX's code."""
    message = stack.error("ticker", symbol="NOPE_USDT")
    assert "51001" in message


def test_depth_limit_and_order(stack: Stack) -> None:
    """depth honours limit; asks ascend, bids descend, best bid below best ask."""
    data = stack.ok("depth", symbol="ETH_USDT", limit="5")["data"]
    asks, bids = data["asks"], data["bids"]
    assert len(asks) == len(bids) == 5
    assert [a[0] for a in asks] == sorted(a[0] for a in asks)
    assert [b[0] for b in bids] == sorted((b[0] for b in bids), reverse=True)
    assert bids[0][0] < asks[0][0]
    assert all(level[1] > 0 for level in asks + bids)
    assert data["time"] == int(stack.clock.seconds() * 1000)


def test_depth_default_and_bounds(stack: Stack) -> None:
    """Without limit, 20 levels; limits outside 1-400 are refused."""
    assert len(stack.ok("depth", symbol="ETH_USDT")["data"]["asks"]) == 20
    assert "between 1 and 400" in stack.error("depth", symbol="ETH_USDT", limit="401")


def test_trades_ascending(stack: Stack) -> None:
    """trades are oldest first with id, time, price, amount and the taker side."""
    rows = stack.ok("trades", symbol="BTC_USDT", limit="50")["data"]
    assert len(rows) == 50
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
    assert all(r["type"] in ("buy", "sell") and r["amount"] > 0 for r in rows)
    assert set(rows[0]) == {"id", "time", "price", "amount", "type"}


def test_records_shape_and_seconds(stack: Stack) -> None:
    """records: [time_s, o, h, l, c, v] ascending, hourly bars an hour apart."""
    rows = stack.ok("records", symbol="BTC_USDT", period="60", limit="10")["data"]
    assert len(rows) == 10
    times = [row[0] for row in rows]
    assert times == sorted(times)
    assert all(b - a == 3600 for a, b in zip(times, times[1:], strict=False))
    assert all(row[0] % 3600 == 0 for row in rows)
    for _, o, h, low, c, v in rows:
        assert low <= min(o, c) <= max(o, c) <= h
        assert v >= 0


def test_records_pages_into_history(stack: Stack) -> None:
    """A limit over one page walks history-candles without gaps or duplicates."""
    rows = stack.ok("records", symbol="BTC_USDT", period="1", limit="1000")["data"]
    assert len(rows) == 1000
    times = [row[0] for row in rows]
    assert len(set(times)) == 1000
    assert all(b - a == 60 for a, b in zip(times, times[1:], strict=False))
    counts = stack.sim.state()["requests"]
    assert counts["/api/v5/market/candles"] == 1
    assert counts["/api/v5/market/history-candles"] >= 3


def test_records_daily_bars_align_to_utc(stack: Stack) -> None:
    """Daily bars open at 00:00 UTC."""
    rows = stack.ok("records", symbol="BTC_USDT", period="1440", limit="3")["data"]
    assert all(row[0] % 86400 == 0 for row in rows)


def test_records_unsupported_period_lists_supported(stack: Stack) -> None:
    """A period OKX lacks is refused with the supported list."""
    message = stack.error("records", symbol="BTC_USDT", period="7")
    assert "unsupported period 7" in message
    assert "1, 3, 5, 15, 30, 60" in message


def test_markets_fields(stack: Stack) -> None:
    """markets is keyed by FMZ symbol with precision derived from tick and lot size."""
    data = stack.ok("markets", symbol="BTC_USDT")["data"]
    market = data["BTC_USDT"]
    assert market["symbol"] == "BTC-USDT"
    assert (market["base_asset"], market["quote_asset"]) == ("BTC", "USDT")
    assert market["price_precision"] == len(str(market["tick_size"]).split(".")[-1])
    assert market["min_qty"] > 0 and market["ct_val"] == 1
    swaps = stack.ok("markets", symbol="USDT.swap")["data"]
    assert "BTC_USDT.swap" in swaps and "BTC_USD.swap" not in swaps
    assert swaps["BTC_USDT.swap"]["ct_val"] == Decimal("0.01")
    assert swaps["BTC_USDT.swap"]["ct_val_ccy"] == "BTC"


def test_markets_all_uses_cache(stack: Stack) -> None:
    """All markets come from one instruments call per type, cached afterwards."""
    first = stack.ok("markets")["data"]
    assert {"BTC_USDT", "BTC_USDT.swap", "BTC_USD.quarter"} <= set(first)
    stack.ok("markets")
    assert stack.sim.state()["requests"]["/api/v5/public/instruments"] == 3


def test_tickers_range_and_default(stack: Stack) -> None:
    """tickers of a range carry each FMZ symbol; no symbol means every spot pair."""
    swaps = stack.ok("tickers", symbol="USDT.swap")["data"]
    assert swaps and all(t["symbol"].endswith("_USDT.swap") for t in swaps)
    spot = stack.ok("tickers")["data"]
    assert spot and all("." not in t["symbol"] for t in spot)
    one = stack.ok("tickers", symbol="ETH_USDT")["data"]
    assert [t["symbol"] for t in one] == ["ETH_USDT"]


def test_public_methods_need_no_keys(stack: Stack) -> None:
    """Market data works with empty keys."""
    assert "data" in stack.call("depth", keys=False, symbol="BTC_USDT", limit="1")


def test_timeout_becomes_clear_error() -> None:
    """An OKX that never answers gives a bounded, clear timeout error."""
    stack = Stack(timeout=2.0)
    stack.sim.add_fault("/api/v5/market/ticker", "hang", count=10)
    message = stack.error("ticker", symbol="BTC_USDT")
    assert "timed out" in message
