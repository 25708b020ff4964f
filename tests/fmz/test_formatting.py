"""
Real OKX payloads (ccxt's captured fixtures), parsed into records on the OKX side and
mapped to the article's shapes on the FMZ side; the status mapping, order ids and sizing
rules as pure functions.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock

from fmzokx.fmz.envelope import RpcError
from fmzokx.fmz.formatting import (
    balance_rows,
    depth_data,
    order_data,
    order_status,
    parse_order_id,
    record_rows,
    ticker_data,
    trade_rows,
)
from fmzokx.okx.instruments import InstrumentCache, parse_instrument
from fmzokx.okx.records import (
    BalanceRecord,
    BookRecord,
    CandleRecord,
    OrderRecord,
    PositionRecord,
    TickerRecord,
    TradeRecord,
)
from fmzokx.okx.sizing import InvalidOrder, round_price, round_size, size_order

FIXTURE = Path(__file__).parents[1] / "fixtures" / "okx-responses.json"


@pytest.fixture(scope="module")
def responses() -> dict[str, Any]:
    methods: dict[str, Any] = json.loads(FIXTURE.read_text())["methods"]
    return methods


def payload(responses: dict[str, Any], method: str, description: str) -> dict[str, Any]:
    for case in responses[method]:
        if case["description"] == description:
            http: dict[str, Any] = case["httpResponse"]
            return http
    raise KeyError(description)


def test_real_ticker(responses: dict[str, Any]) -> None:
    """The captured BTC-USDT ticker maps field by field."""
    item = payload(responses, "fetchTicker", "public spot ticker")["data"][0]
    data = ticker_data(TickerRecord.from_okx(item), "BTC_USDT")
    assert data["buy"] == item["bidPx"] and data["sell"] == item["askPx"]
    assert data["last"] == item["last"] and data["vol"] == item["vol24h"]
    assert data["time"] == int(item["ts"])


@pytest.mark.parametrize("description", ["Swap orderbook", "spot orderbook"])
def test_real_books(responses: dict[str, Any], description: str) -> None:
    """Captured books: 4-element levels become [price, amount], sorted, limited."""
    book = payload(responses, "fetchOrderBook", description)["data"][0]
    data = depth_data(BookRecord.from_okx(book), 3)
    assert len(data["asks"]) <= 3 and len(data["bids"]) <= 3
    assert data["asks"][0] == [Decimal(book["asks"][0][0]), Decimal(book["asks"][0][1])]
    assert data["bids"][0][0] == max(Decimal(level[0]) for level in book["bids"])


def test_real_candles(responses: dict[str, Any]) -> None:
    """Captured 9-column candles (newest first) become ascending 6-column rows in seconds."""
    rows = payload(responses, "fetchOHLCV", "spot ohlcv with limit and since")["data"]
    records = record_rows([c for c in map(CandleRecord.from_okx, rows) if c is not None])
    assert [r[0] for r in records] == sorted(int(row[0]) // 1000 for row in rows)
    newest = max(rows, key=lambda row: int(row[0]))
    assert records[-1] == [int(newest[0]) // 1000, *(Decimal(v) for v in newest[1:6])]


def test_real_trades(responses: dict[str, Any]) -> None:
    """Captured trades come out oldest first with the taker side."""
    items = payload(responses, "fetchTrades", "public spot trades")["data"]
    rows = trade_rows([TradeRecord.from_okx(item) for item in items])
    assert [r["time"] for r in rows] == sorted(int(i["ts"]) for i in items)
    assert {r["type"] for r in rows} <= {"buy", "sell"}


@pytest.mark.parametrize("description", ["spot balance", "funding balance"])
def test_real_balances(responses: dict[str, Any], description: str) -> None:
    """Captured balances map availBal/ordFrozen per currency (funding ones have no details)."""
    for case in responses["fetchBalance"]:
        if case["description"] != description:
            continue
        for account in case["httpResponse"]["data"]:
            rows = balance_rows(BalanceRecord.from_okx(account))
            for row, detail in zip(rows, account.get("details", []), strict=False):
                assert row["currency"] == detail["ccy"]
                assert row["free"] == (detail.get("availBal") or detail.get("availEq") or "0")
                assert row["frozen"] == (detail.get("ordFrozen") or "0")


def test_real_spot_market_order(responses: dict[str, Any]) -> None:
    """The captured filled LTC market buy maps to a filled FMZ order."""
    item = payload(responses, "fetchOrder", "fetch spot order")["data"][0]
    order = order_data(OrderRecord.from_okx(item), None, "LTC_USDT")
    assert order["id"] == f"LTC-USDT,{item['ordId']}"
    assert order["status"] == "filled" and order["type"] == "buy"
    assert order["deal_amount"] == Decimal("0.1") and order["avg_price"] == Decimal("101.58")
    assert order["price"] == 0 and order["contract_type"] == "" and "offset" not in order
    assert order["time"] == int(item["cTime"])


def test_real_swap_orders(responses: dict[str, Any]) -> None:
    """Captured swap orders carry contract type swap and an offset."""
    closed = payload(responses, "fetchClosedOrders", "Swap closed orders")["data"][0]
    order = order_data(OrderRecord.from_okx(closed), None, "LTC_USDT.swap")
    assert order["contract_type"] == "swap" and order["offset"] in ("open", "close")
    live = payload(responses, "fetchOpenOrders",
                   "fetch swap limit open order with take profit and stop loss")["data"][0]
    assert order_data(OrderRecord.from_okx(live), None, "X")["status"] == "pending"


def test_real_positions(responses: dict[str, Any]) -> None:
    """Captured linear and inverse positions map to FMZ positions."""
    from fmzokx.fmz.methods.futures import position_rows

    class FakeOkx:
        instruments = InstrumentCache(fetch=None, clock=Clock())  # type: ignore[arg-type]

    class FakeContext:
        okx = FakeOkx

        @staticmethod
        def contract_type(instrument: object) -> None:
            return None

        @staticmethod
        def fmz_symbol(inst_id: str) -> str:
            return inst_id

    linear = payload(responses, "fetchPositions", "linear swap position")["data"]
    records = [PositionRecord.from_okx(item) for item in linear]
    (row,) = position_rows(FakeContext(), records, None)  # type: ignore[arg-type]
    assert (row["type"], row["amount"], row["margin_level"]) == ("long", 1, 3)
    assert row["margin"] == Decimal(linear[0]["imr"]) and row["price"] == Decimal("68.24")
    for kind in ("cross", "isolated"):
        description = f"Inverse swap {kind} fetch position"
        items = payload(responses, "fetchPosition", description)["data"]
        records = [PositionRecord.from_okx(item) for item in items]
        rows = position_rows(FakeContext(), records, None)  # type: ignore[arg-type]
        assert rows and all(r["type"] in ("long", "short") and r["amount"] > 0 for r in rows)


@pytest.mark.parametrize(
    ("state", "filled", "status"),
    [
        ("live", "0", "pending"),
        ("partially_filled", "0.5", "partial-filled"),
        ("filled", "1", "filled"),
        ("canceled", "0.2", "partial-canceled"),
        ("canceled", "0", "canceled"),
        ("mmp_canceled", "0", "canceled"),
    ],
)
def test_status_mapping(state: str, filled: str, status: str) -> None:
    """OKX states map to the article's statuses (contract §3)."""
    assert order_status(state, Decimal(filled)) == status


def test_order_ids() -> None:
    """INSTID,ORDID splits; a bare id needs a symbol."""
    assert parse_order_id("eth-usdt,123", None) == ("ETH-USDT", "123")
    assert parse_order_id("123", "ETH-USDT") == ("ETH-USDT", "123")
    with pytest.raises(RpcError, match="does not name its instrument"):
        parse_order_id("123", None)
    with pytest.raises(RpcError, match="missing param 'id'"):
        parse_order_id(" ", None)


SPOT_ITEM = {
    "instType": "SPOT", "instId": "BTC-USDT", "baseCcy": "BTC", "quoteCcy": "USDT",
    "tickSz": "0.1", "lotSz": "0.00000001", "minSz": "0.00001", "maxLmtSz": "9999999999",
    "maxMktSz": "1000000",
}
SPOT = parse_instrument(SPOT_ITEM)
SWAP = parse_instrument({
    "instType": "SWAP", "instId": "BTC-USDT-SWAP", "instFamily": "BTC-USDT", "ctVal": "0.01",
    "tickSz": "0.1", "lotSz": "0.01", "minSz": "0.01", "maxLmtSz": "100000", "maxMktSz": "12000",
})


def test_sizing_spot_orders() -> None:
    """Limit: px/sz strings on the grid; market buy: quote amount with tgtCcy."""
    assert SPOT is not None
    limit = size_order(SPOT, "buy", Decimal("65000.19"), Decimal("0.123456789"))
    assert (limit.px, limit.sz, limit.tgt_ccy) == ("65000.1", "0.12345678", None)
    sell = size_order(SPOT, "sell", Decimal("65000.11"), Decimal("1"))
    assert sell.px == "65000.2"
    market_buy = size_order(SPOT, "buy", Decimal(-1), Decimal("100.25"))
    assert (market_buy.px, market_buy.sz, market_buy.tgt_ccy) == (None, "100.2", "quote_ccy")
    market_sell = size_order(SPOT, "sell", Decimal(0), Decimal("0.5"))
    assert (market_sell.sz, market_sell.tgt_ccy) == ("0.5", "base_ccy")


def test_sizing_refusals() -> None:
    """Below minSz, above the caps, and sub-tick prices are refused with the numbers."""
    assert SPOT is not None and SWAP is not None
    with pytest.raises(InvalidOrder, match="below BTC_USDT's minimum order size of 0.00001 BTC"):
        size_order(SPOT, "buy", Decimal("100"), Decimal("0.000001"), "BTC_USDT")
    with pytest.raises(InvalidOrder, match="above BTC_USDT.swap's maximum market order of 12000"):
        size_order(SWAP, "buy", Decimal(-1), Decimal("20000"), "BTC_USDT.swap")
    expected = "below BTC-USDT-SWAP's minimum order size of 0.01 contracts"
    with pytest.raises(InvalidOrder, match=expected):
        size_order(SWAP, "buy", Decimal(100), Decimal("0.009"))
    with pytest.raises(InvalidOrder, match="below BTC_USDT's tick size"):
        size_order(SPOT, "buy", Decimal("0.05"), Decimal("1"), "BTC_USDT")
    with pytest.raises(InvalidOrder, match="amount must be positive"):
        size_order(SPOT, "buy", Decimal("1"), Decimal("0"))


prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("1000000"), places=6)
steps = st.sampled_from([Decimal(s) for s in ("0.1", "0.01", "0.0001", "1", "5", "0.25")])


@given(price=prices, tick=steps)
def test_rounding_never_more_aggressive(price: Decimal, tick: Decimal) -> None:
    """Buys never pay more, sells never accept less; both land on the tick grid."""
    buy = round_price(price, tick, "buy")
    sell = round_price(price, tick, "sell")
    assert buy <= price <= sell
    assert sell - buy <= tick
    assert (buy / tick) == (buy / tick).to_integral_value()
    assert (sell / tick) == (sell / tick).to_integral_value()


@given(size=prices, lot=steps)
def test_size_rounds_down_to_lots(size: Decimal, lot: Decimal) -> None:
    """Sizes never exceed what was asked and are whole lots."""
    rounded = round_size(size, lot)
    assert rounded <= size < rounded + lot
    assert (rounded / lot) == (rounded / lot).to_integral_value()


def test_spot_market_cap_is_in_usdt() -> None:
    """maxMktSz is USDT for spot: a large market sell of a cheap coin is not refused here."""
    cheap = parse_instrument(dict(SPOT_ITEM, instId="PEPE-USDT", baseCcy="PEPE",
                                  lotSz="1", minSz="1", tickSz="0.00000001"))
    assert cheap is not None
    sell = size_order(cheap, "sell", Decimal(-1), Decimal("50000000"))
    assert (sell.sz, sell.tgt_ccy) == ("50000000", "base_ccy")
    with pytest.raises(InvalidOrder, match="maximum market order of 1000000 USDT"):
        size_order(cheap, "buy", Decimal(-1), Decimal("2000000"))


@given(
    whole=st.integers(min_value=0, max_value=10**12),
    fraction=st.text(alphabet="0123456789", max_size=12),
    negative=st.booleans(),
)
def test_ticker_keeps_okx_spelling(whole: int, fraction: str, negative: bool) -> None:
    """
    Ticker numbers are written as OKX wrote them, parsed to Decimal and back: trailing
    zeros kept, and no exponent for tiny prices (str(Decimal) would write 0.0000001 as
    1E-7).
    """
    spelled = ("-" if negative else "") + str(whole) + (f".{fraction}" if fraction else "")
    ticker = TickerRecord.from_okx({"instId": "PEPE-USDT", "last": spelled, "bidPx": ""})
    data = ticker_data(ticker, "PEPE_USDT")
    assert data["last"] == spelled
    assert ticker_data(TickerRecord.from_okx({"last": "0.0000001"}), "X")["last"] == "0.0000001"


def test_no_value_is_null_in_tickers_and_fmzs_zero_elsewhere() -> None:
    """
    OKX's "" is no value: a ticker price is null (never a "0" a strategy could trade on);
    FMZ's own zero conventions stay for orders (avg_price, a market price) and balances.
    """
    ticker = ticker_data(TickerRecord.from_okx({"bidPx": "", "last": "", "ts": ""}), "X")
    assert (ticker["buy"], ticker["last"], ticker["time"]) == (None, None, 0)
    order = order_data(OrderRecord.from_okx({"instId": "BTC-USDT", "ordId": "1", "avgPx": "",
                                             "px": "", "state": "live"}), None, "BTC_USDT")
    assert (order["avg_price"], order["price"], order["time"]) == (0, 0, 0)
    (row,) = balance_rows(BalanceRecord.from_okx({"details": [
        {"ccy": "BTC", "availEq": "", "availBal": "", "ordFrozen": ""}]}))
    assert row == {"currency": "BTC", "free": "0", "frozen": "0"}
