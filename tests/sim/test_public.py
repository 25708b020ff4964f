"""
Public endpoints over HTTP: shapes, parameter validation, and the candle cursors
(``after`` older, ``before`` newer, exclusive; ``before`` alone gives the latest rows).
"""

from __future__ import annotations

import pytest

from .support import START, Harness

NOW_MS = int(START * 1000)


def test_time() -> None:
    """/public/time is the injected clock in ms, as a string."""
    harness = Harness()
    assert harness.ok("/api/v5/public/time", private=False) == [{"ts": str(NOW_MS)}]
    harness.clock.advance(1.5)
    assert harness.ok("/api/v5/public/time", private=False) == [{"ts": str(NOW_MS + 1500)}]


def test_instruments_by_type() -> None:
    """SPOT, SWAP and FUTURES list the simulated instruments; OPTION and MARGIN are empty."""
    harness = Harness()
    spot = {row["instId"]: row for row in harness.ok(
        "/api/v5/public/instruments?instType=SPOT", private=False)}
    assert {"BTC-USDT", "ETH-USDT", "LTC-USDT"} <= set(spot)
    assert spot["BTC-USDT"]["tickSz"] == "0.1"
    assert spot["BTC-USDT"]["lotSz"] == "0.00000001"
    assert spot["BTC-USDT"]["minSz"] == "0.00001"
    assert (spot["BTC-USDT"]["baseCcy"], spot["BTC-USDT"]["quoteCcy"]) == ("BTC", "USDT")
    swaps = {row["instId"]: row for row in harness.ok(
        "/api/v5/public/instruments?instType=SWAP", private=False)}
    assert swaps["BTC-USDT-SWAP"]["ctVal"] == "0.01"
    assert swaps["BTC-USDT-SWAP"]["ctType"] == "linear"
    assert swaps["BTC-USDT-SWAP"]["settleCcy"] == "USDT"
    assert swaps["BTC-USD-SWAP"]["ctVal"] == "100"
    assert swaps["BTC-USD-SWAP"]["ctValCcy"] == "USD"
    assert swaps["BTC-USD-SWAP"]["ctType"] == "inverse"
    futures = harness.ok("/api/v5/public/instruments?instType=FUTURES&uly=BTC-USD", private=False)
    # OKX sends alias "" since 2026: contracts are told apart by expTime alone.
    assert {row["alias"] for row in futures} == {""}
    by_expiry = sorted(futures, key=lambda row: int(row["expTime"]))
    assert [row["instId"] for row in by_expiry] == [
        "BTC-USD-251128", "BTC-USD-251205", "BTC-USD-251226", "BTC-USD-260327",
    ]
    assert harness.ok("/api/v5/public/instruments?instType=OPTION", private=False) == []
    one = harness.ok("/api/v5/public/instruments?instType=SPOT&instId=ETH-USDT", private=False)
    assert [row["instId"] for row in one] == ["ETH-USDT"]


def test_instruments_need_a_valid_type() -> None:
    """Missing instType is 50014 (HTTP 400); an unknown one is 51000."""
    harness = Harness()
    status, body = harness.get("/api/v5/public/instruments", private=False)
    assert (status, body["code"], body["data"]) == (400, "50014", [])
    assert body["msg"] == "Parameter instType can not be empty"
    status, body = harness.get("/api/v5/public/instruments?instType=BOND", private=False)
    assert (status, body["code"]) == (400, "51000")


def test_ticker_shape_and_errors() -> None:
    """A ticker has every field as a string; unknown instId is 51001, missing is 50014."""
    harness = Harness()
    (ticker,) = harness.ok("/api/v5/market/ticker?instId=BTC-USDT", private=False)
    for name in ("last", "lastSz", "askPx", "askSz", "bidPx", "bidSz", "open24h", "high24h",
                 "low24h", "volCcy24h", "vol24h", "sodUtc0", "sodUtc8", "ts"):
        assert isinstance(ticker[name], str) and ticker[name], name
    assert float(ticker["low24h"]) <= float(ticker["last"]) <= float(ticker["high24h"])
    assert float(ticker["bidPx"]) < float(ticker["askPx"])
    status, body = harness.get("/api/v5/market/ticker?instId=NOPE-USDT", private=False)
    assert (status, body["code"], body["data"]) == (200, "51001", [])
    status, body = harness.get("/api/v5/market/ticker", private=False)
    assert (status, body["code"]) == (400, "50014")
    status, body = harness.get("/api/v5/market/ticker?instId=", private=False)
    assert (status, body["code"]) == (400, "50014")


def test_tickers_by_type() -> None:
    """/market/tickers returns every instrument of the type."""
    harness = Harness()
    rows = harness.ok("/api/v5/market/tickers?instType=SWAP", private=False)
    assert {"BTC-USDT-SWAP", "ETH-USDT-SWAP", "BTC-USD-SWAP"} <= {r["instId"] for r in rows}
    assert all(r["instType"] == "SWAP" for r in rows)


@pytest.mark.parametrize("query, levels", [("", 1), ("&sz=5", 5), ("&sz=1000", 400)])
def test_books_depth(query: str, levels: int) -> None:
    """books defaults to one level, honours sz and caps it at 400; levels have 4 strings."""
    harness = Harness()
    (book,) = harness.ok(f"/api/v5/market/books?instId=ETH-USDT{query}", private=False)
    assert len(book["asks"]) == len(book["bids"]) == levels
    assert all(len(level) == 4 and level[2] == "0" for level in book["asks"] + book["bids"])
    assert isinstance(book["seqId"], int)
    assert float(book["bids"][0][0]) < float(book["asks"][0][0])


def test_trades() -> None:
    """Trades come newest first, default 100, max 500."""
    harness = Harness()
    rows = harness.ok("/api/v5/market/trades?instId=BTC-USDT", private=False)
    assert len(rows) == 100
    stamps = [int(row["ts"]) for row in rows]
    assert stamps == sorted(stamps, reverse=True)
    assert stamps[0] <= NOW_MS
    assert {row["side"] for row in rows} <= {"buy", "sell"}
    assert len(harness.ok("/api/v5/market/trades?instId=BTC-USDT&limit=900", private=False)) == 500


def test_history_trades_paginate() -> None:
    """history-trades walks back with after=<oldest tradeId> without gaps or overlap."""
    harness = Harness()
    first = harness.ok("/api/v5/market/history-trades?instId=BTC-USDT&limit=50", private=False)
    oldest = first[-1]["tradeId"]
    second = harness.ok(
        f"/api/v5/market/history-trades?instId=BTC-USDT&limit=50&after={oldest}", private=False
    )
    assert int(second[0]["tradeId"]) == int(oldest) - 1
    assert len(second) == 50


def candles(harness: Harness, query: str, path: str = "candles") -> list[list[str]]:
    return harness.ok(f"/api/v5/market/{path}?instId=BTC-USDT{query}", private=False)


def test_candle_rows() -> None:
    """Nine string columns, newest first, default 100 rows; only the newest bar is open."""
    harness = Harness()
    rows = candles(harness, "&bar=1m")
    assert len(rows) == 100
    assert all(len(row) == 9 and all(isinstance(v, str) for v in row) for row in rows)
    stamps = [int(row[0]) for row in rows]
    assert stamps == sorted(stamps, reverse=True)
    assert [row[8] for row in rows[:2]] == ["0", "1"]
    assert stamps[0] == NOW_MS // 60000 * 60000
    for row in rows:
        o, h, lo, c = (float(v) for v in row[1:5])
        assert lo <= min(o, c) <= max(o, c) <= h


def test_candle_cursors_are_exclusive() -> None:
    """after=T gives bars older than T; before=T bars newer than T; T itself never appears."""
    harness = Harness()
    rows = candles(harness, "&bar=1H&limit=10")
    cursor = int(rows[4][0])
    older = candles(harness, f"&bar=1H&limit=3&after={cursor}")
    assert [int(r[0]) for r in older] == [cursor - 3600_000 * k for k in (1, 2, 3)]
    newer = candles(harness, f"&bar=1H&before={cursor}")
    assert [int(r[0]) for r in newer] == [int(r[0]) for r in rows[:4]]
    between = candles(harness, f"&bar=1H&after={cursor}&before={cursor - 3 * 3600_000}")
    assert [int(r[0]) for r in between] == [cursor - 3600_000, cursor - 2 * 3600_000]


def test_before_alone_returns_the_latest_rows() -> None:
    """As documented, before alone returns the newest rows, not the ones next to the cursor."""
    harness = Harness()
    latest = candles(harness, "&bar=1m&limit=5")
    old = NOW_MS - 86_400_000
    rows = candles(harness, f"&bar=1m&limit=5&before={old}")
    assert [r[0] for r in rows] == [r[0] for r in latest]


def test_after_a_ms_timestamp_inside_a_bar() -> None:
    """A cursor inside a bar keeps that bar (its open time is older than the cursor)."""
    harness = Harness()
    rows = candles(harness, "&bar=1H&limit=3")
    inside = int(rows[1][0]) + 1
    older = candles(harness, f"&bar=1H&limit=1&after={inside}")
    assert older[0][0] == rows[1][0]


@pytest.mark.parametrize(
    "bar, seconds",
    [("3m", 180), ("5m", 300), ("15m", 900), ("30m", 1800), ("2H", 7200), ("4H", 14400),
     ("6Hutc", 21600), ("1Dutc", 86400), ("1Wutc", 604800)],
)
def test_bar_sizes(bar: str, seconds: int) -> None:
    """Bars are spaced by their size and aligned to UTC multiples (1Wutc: Mondays)."""
    harness = Harness()
    rows = candles(harness, f"&bar={bar}&limit=3", path="history-candles")
    stamps = [int(r[0]) // 1000 for r in rows]
    assert [a - b for a, b in zip(stamps, stamps[1:], strict=False)] == [seconds, seconds]
    offset = 3 * 86400 if bar == "1Wutc" else 0
    assert (stamps[0] + offset) % seconds == 0


@pytest.mark.parametrize("bar", ["6H", "12H", "1D", "2D", "1W"])
def test_utc8_bars_align_to_utc8(bar: str) -> None:
    """6H and longer bars without the utc suffix open at 16:00 UTC (midnight UTC+8)."""
    harness = Harness()
    rows = candles(harness, f"&bar={bar}&limit=2", path="history-candles")
    assert all((int(r[0]) // 1000 + 8 * 3600) % 21600 == 0 for r in rows)


def test_month_bars() -> None:
    """1M bars open on the first of the month at UTC+8 midnight; 1Mutc at UTC midnight."""
    harness = Harness()
    rows = candles(harness, "&bar=1Mutc&limit=3", path="history-candles")
    assert [int(r[0]) for r in rows] == [1_761_955_200_000, 1_759_276_800_000, 1_756_684_800_000]
    rows = candles(harness, "&bar=1M&limit=1", path="history-candles")
    assert int(rows[0][0]) == 1_761_955_200_000 - 8 * 3_600_000


def test_candles_reach_only_1440_bars_history_candles_more() -> None:
    """/market/candles stops 1440 bars back; history-candles keeps going."""
    harness = Harness()
    far = NOW_MS - 2000 * 60_000
    assert candles(harness, f"&bar=1m&after={far}") == []
    assert len(candles(harness, f"&bar=1m&after={far}", path="history-candles")) == 100


def test_candle_parameter_errors() -> None:
    """An unknown bar or a bad limit is 51000; 1s exists only on history-candles."""
    harness = Harness()
    for query in ("&bar=7m", "&limit=0", "&limit=x", "&after=yesterday", "&bar=1s"):
        status, body = harness.get(f"/api/v5/market/candles?instId=BTC-USDT{query}", False)
        assert (status, body["code"]) == (400, "51000"), query
    assert len(candles(harness, "&bar=1s&limit=3", path="history-candles")) == 3


def test_funding_rate() -> None:
    """funding-rate names the next 8-hourly settlement and the one after it."""
    harness = Harness()
    (row,) = harness.ok("/api/v5/public/funding-rate?instId=BTC-USDT-SWAP", private=False)
    assert int(row["fundingTime"]) == 1_764_086_400_000  # 16:00 UTC
    assert int(row["nextFundingTime"]) - int(row["fundingTime"]) == 8 * 3_600_000
    assert abs(float(row["fundingRate"])) < 0.00375
    rows = harness.ok("/api/v5/public/funding-rate?instId=ANY", private=False)
    assert {r["instId"] for r in rows} >= {"BTC-USDT-SWAP", "BTC-USD-SWAP"}
    status, body = harness.get("/api/v5/public/funding-rate?instId=BTC-USDT", private=False)
    assert body["code"] == "51001"


def test_funding_rate_history() -> None:
    """Settled rates newest first, 8 h apart, with exclusive after/before cursors."""
    harness = Harness()
    rows = harness.ok(
        "/api/v5/public/funding-rate-history?instId=BTC-USDT-SWAP&limit=5", private=False
    )
    times = [int(r["fundingTime"]) for r in rows]
    assert times[0] == 1_764_057_600_000  # 08:00 UTC today
    assert [a - b for a, b in zip(times, times[1:], strict=False)] == [8 * 3_600_000] * 4
    older = harness.ok(
        f"/api/v5/public/funding-rate-history?instId=BTC-USDT-SWAP&limit=2&after={times[1]}",
        private=False,
    )
    assert [int(r["fundingTime"]) for r in older] == times[2:4]
    assert len(harness.ok(
        "/api/v5/public/funding-rate-history?instId=BTC-USDT-SWAP", private=False)) == 270


def test_unknown_path_and_method() -> None:
    """An unknown path is 404; a known path with the wrong method is 405 (50115)."""
    harness = Harness()
    status, body = harness.get("/api/v5/market/nothing", private=False)
    assert status == 404
    status, body = harness.send("POST", "/api/v5/public/time", b"{}")
    assert (status, body["code"]) == (405, "50115")


def test_no_candles_before_listing() -> None:
    """History stops at the instrument's listTime: monthly bars reach back to 2019 only."""
    harness = Harness()
    (inst,) = harness.ok("/api/v5/public/instruments?instType=SPOT&instId=BTC-USDT", False)
    rows = candles(harness, "&bar=1Mutc&limit=300", path="history-candles")
    assert int(rows[-1][0]) == int(inst["listTime"]) == 1_546_300_800_000
    assert len(rows) == 83
