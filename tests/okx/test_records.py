"""
OKX items parsed into records: Decimal numbers, OKX's "" kept apart from 0, the item kept
for FMZ's raw, and one parser per shape whatever the source (REST or a WebSocket copy).
"""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from fmzokx.okx.records import (
    RECORDS,
    BalanceRecord,
    BookRecord,
    CandleRecord,
    FundingRecord,
    OrderRecord,
    PositionRecord,
    TickerRecord,
    TradeRecord,
    _parsed,
    millis,
    number,
    okx_field,
    okx_field_names,
)
from tests.stack import Stack


@pytest.mark.parametrize(("value", "parsed"), [
    ("0", Decimal(0)), ("0.10", Decimal("0.10")), ("-3", Decimal(-3)), ("1e3", Decimal(1000)),
    ("", None), (None, None), ("abc", None), ("NaN", None), ("Infinity", None),
])
def test_numbers(value: str | None, parsed: Decimal | None) -> None:
    """Numbers are Decimals; "" and anything not a finite number are no value, never 0."""
    assert number(value) == parsed


def test_numbers_keep_their_digits() -> None:
    """The Decimal is OKX's number as written: trailing zeros are kept."""
    assert str(number("0.10")) == "0.10" and str(number("65000.0")) == "65000.0"


def test_no_value_is_not_zero() -> None:
    """An order OKX has not filled at all ("") and one it reports as 0 read differently."""
    empty = OrderRecord.from_okx({"instId": "BTC-USDT", "ordId": "1", "avgPx": "",
                                  "accFillSz": "0"})
    assert empty.avg_px is None and empty.acc_fill_sz == Decimal(0)
    assert millis("") is None and millis("1795600000123") == 1795600000123


def test_ticker_fields_and_raw() -> None:
    item = {"instId": "BTC-USDT", "bidPx": "65000.1", "askPx": "65000.2", "last": "65000.15",
            "open24h": "64000", "high24h": "66000", "low24h": "63000", "vol24h": "1234.5",
            "ts": "1795600000000", "extra": "kept"}
    ticker = TickerRecord.from_okx(item)
    assert (ticker.inst_id, ticker.bid_px, ticker.ask_px, ticker.last) == (
        "BTC-USDT", Decimal("65000.1"), Decimal("65000.2"), Decimal("65000.15"))
    assert (ticker.open_24h, ticker.high_24h, ticker.low_24h, ticker.vol_24h, ticker.ts) == (
        Decimal(64000), Decimal(66000), Decimal(63000), Decimal("1234.5"), 1795600000000)
    assert ticker.raw is item
    # Frozen, and raw is not part of equality.
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        ticker.last = Decimal(1)  # type: ignore[misc]
    assert TickerRecord.from_okx(dict(item, extra="other")) == ticker


def test_book_levels() -> None:
    """[price, size, ...] levels in OKX's order; a level of fewer than two columns skipped."""
    book = BookRecord.from_okx({"asks": [["2", "1", "0", "1"], ["3"]], "bids": "nonsense",
                                "ts": "5"})
    assert book.asks == ((Decimal(2), Decimal(1)),)
    assert book.bids == () and book.ts == 5
    assert BookRecord.from_okx({}).asks == ()


def test_candle_rows() -> None:
    row = ["1795600000000", "1", "2", "0.5", "1.5", "10", "15", "15", "1"]
    candle = CandleRecord.from_okx(row)
    assert candle is not None and candle.raw is row
    assert (candle.ts, candle.open, candle.high, candle.low, candle.close, candle.volume) == (
        1795600000000, Decimal(1), Decimal(2), Decimal("0.5"), Decimal("1.5"), Decimal(10))
    assert CandleRecord.from_okx(row[:5]) is None


def test_trades() -> None:
    trade = TradeRecord.from_okx({"instId": "BTC-USDT", "tradeId": "130639474", "px": "42219.9",
                                  "sz": "0.12060306", "side": "buy", "ts": "1630048897897"})
    assert (trade.trade_id, trade.px, trade.sz, trade.side, trade.ts) == (
        "130639474", Decimal("42219.9"), Decimal("0.12060306"), "buy", 1630048897897)


def test_order_position_balance_funding() -> None:
    order = OrderRecord.from_okx({
        "instType": "SWAP", "instId": "BTC-USDT-SWAP", "ordId": "9", "clOrdId": "c1",
        "side": "sell", "posSide": "net", "reduceOnly": "true", "px": "", "sz": "2",
        "accFillSz": "2", "avgPx": "65000", "state": "filled", "cTime": "7",
    })
    assert (order.reduce_only, order.px, order.sz, order.state, order.c_time) == (
        True, None, Decimal(2), "filled", 7)
    assert OrderRecord.from_okx({}).reduce_only is False
    position = PositionRecord.from_okx({"instId": "X-USDT-SWAP", "pos": "-3", "availPos": "",
                                        "margin": "", "imr": "12.5", "lever": "5"})
    assert (position.pos, position.avail_pos, position.margin, position.imr) == (
        Decimal(-3), None, None, Decimal("12.5"))
    account = BalanceRecord.from_okx({"details": [
        {"ccy": "USDT", "availEq": "", "availBal": "10", "ordFrozen": "1"}, "junk"]})
    (detail,) = account.details
    assert (detail.ccy, detail.avail_eq, detail.avail_bal, detail.ord_frozen) == (
        "USDT", None, Decimal(10), Decimal(1))
    funding = FundingRecord.from_okx({"instId": "X-USDT-SWAP", "fundingRate": "0.0001",
                                      "fundingTime": "100", "nextFundingTime": ""})
    assert (funding.funding_rate, funding.funding_time, funding.next_funding_time) == (
        Decimal("0.0001"), 100, None)


def test_a_record_reads_its_fields_first_and_raw_last() -> None:
    """The parser is written from the fields: one out of place is refused, not misread."""

    @attrs.frozen
    class Misordered:
        raw: object
        inst_id: str = okx_field("instId", str)

        @classmethod
        def from_okx(cls, item: dict[str, str]) -> Misordered:
            return _parsed(cls, item)

    with pytest.raises(TypeError, match="OKX fields first, then raw"):
        Misordered.from_okx({"instId": "BTC-USDT"})


def test_field_names_are_listed() -> None:
    """Every record names the OKX fields it reads; the boundary test forbids them."""
    names = okx_field_names()
    assert {"instId", "ordId", "clOrdId", "bidPx", "askPx", "availEq", "availBal",
            "ordFrozen", "accFillSz", "avgPx", "posSide", "fundingRate"} <= names
    for cls in RECORDS:
        if cls is not CandleRecord:  # an array row: positions, not names
            assert okx_field_names([cls]), cls


def test_rest_and_websocket_items_parse_alike() -> None:
    """
    The same book through REST and through the WebSocket copy: one parser, records that
    agree level for level (the copy's envelope is shaped as REST's).
    """
    rest = Stack()
    ws = Stack(market_data="ws")
    ws.run(ws.okx.market.books("BTC-USDT", 5))  # subscribes; REST until the copy is in sync
    ws.advance(2)
    ws.sim.request_counts.clear()
    by_rest = rest.run(rest.okx.market.books("BTC-USDT", 5))
    by_ws = ws.run(ws.okx.market.books("BTC-USDT", 5))
    assert ws.sim.request_counts.get("/api/v5/market/books", 0) == 0, "not from the copy"
    (rest_book,), (ws_book,) = by_rest.records, by_ws.records
    assert len(rest_book.asks) == len(ws_book.asks) == 5
    assert all(isinstance(price, Decimal) for price, _ in ws_book.asks + ws_book.bids)
    assert by_ws.raw["data"][0] is ws_book.raw
