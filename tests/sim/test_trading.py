"""
Spot trading through the HTTP API: order types, fills against the synthetic book and
the walk, fees, frozen funds, cancellation, and the per-item error codes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from .support import START, Harness

NOW_MS = int(START * 1000)


def last(harness: Harness, inst_id: str = "BTC-USDT") -> Decimal:
    (ticker,) = harness.ok(f"/api/v5/market/ticker?instId={inst_id}", private=False)
    return Decimal(ticker["last"])


def low_ahead(
    harness: Harness, seconds: int, inst_id: str = "BTC-USDT"
) -> tuple[Decimal, int]:
    """The lowest trade price in the next ``seconds`` and the first second it trades."""
    inst = harness.sim.exchange.instrument(inst_id, NOW_MS)
    assert inst is not None
    now = int(harness.clock.seconds())
    low = harness.sim.market.span(inst, now + 2, now + seconds)[2]
    second = harness.sim.market.first_touch(inst, now + 1, now + seconds, low, buy=True)
    assert second is not None
    return low, second


def test_market_buy_is_sized_in_quote_by_default() -> None:
    """sz of a spot market buy is quote; accFillSz is base; the fee is charged in base."""
    harness = Harness()
    before = harness.balances()
    ord_id = harness.placed(
        instId="BTC-USDT", tdMode="cash", side="buy", ordType="market", sz="100"
    )
    order = harness.details("BTC-USDT", ord_id)
    assert (order["state"], order["tgtCcy"], order["sz"], order["px"]) == (
        "filled", "quote_ccy", "100", "")
    filled = Decimal(order["accFillSz"])
    cost = filled * Decimal(order["avgPx"])
    assert Decimal("99.9") < cost <= Decimal("100")
    fee = Decimal(order["fee"])
    assert order["feeCcy"] == "BTC"
    assert fee == -(filled * Decimal("0.001"))
    after = harness.balances()
    assert Decimal(after["USDT"]["cashBal"]) == Decimal(before["USDT"]["cashBal"]) - cost
    assert Decimal(after["BTC"]["cashBal"]) == Decimal(before["BTC"]["cashBal"]) + filled + fee


def test_market_buy_in_base_and_sell() -> None:
    """tgtCcy=base_ccy buys exactly sz base; a market sell sells base, fee in quote."""
    harness = Harness()
    ord_id = harness.placed(
        instId="ETH-USDT", tdMode="cash", side="buy", ordType="market", sz="2", tgtCcy="base_ccy"
    )
    order = harness.details("ETH-USDT", ord_id)
    assert (order["accFillSz"], order["state"], order["feeCcy"]) == ("2", "filled", "ETH")
    ord_id = harness.placed(instId="BTC-USDT", tdMode="cash", side="sell", ordType="market",
                            sz="0.5")
    order = harness.details("BTC-USDT", ord_id)
    assert (order["accFillSz"], order["feeCcy"], order["tgtCcy"]) == ("0.5", "USDT", "base_ccy")
    proceeds = Decimal(order["accFillSz"]) * Decimal(order["avgPx"])
    assert Decimal(order["fee"]) == -(proceeds * Decimal("0.001")).quantize(Decimal("1e-12"))


def test_limit_order_rests_freezes_funds_and_fills_when_the_walk_crosses() -> None:
    """
    A buy below the market is live with its cost frozen; once the walk trades at its price
    it fills as maker at exactly its price and the frozen funds are released.
    """
    harness = Harness()
    low, second = low_ahead(harness, 6 * 3600)
    ord_id = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                            px=str(low), sz="0.1")
    order = harness.details("BTC-USDT", ord_id)
    assert (order["state"], order["accFillSz"], order["avgPx"]) == ("live", "0", "")
    usdt = harness.balances()["USDT"]
    assert Decimal(usdt["frozenBal"]) == Decimal(usdt["ordFrozen"]) == low * Decimal("0.1")
    assert Decimal(usdt["availBal"]) == Decimal("100000") - low * Decimal("0.1")

    harness.clock.advance(second - harness.clock.seconds() - 0.5)
    assert harness.details("BTC-USDT", ord_id)["state"] == "live"
    harness.clock.advance(1)
    order = harness.details("BTC-USDT", ord_id)
    assert order["state"] == "filled"
    assert order["avgPx"] == order["fillPx"] == order["px"]
    assert order["fillTime"] == order["uTime"] == str(second * 1000)
    assert Decimal(order["fee"]) == -Decimal("0.1") * Decimal("0.0008")
    balances = harness.balances()
    assert balances["USDT"]["frozenBal"] == "0"
    assert Decimal(balances["USDT"]["cashBal"]) == Decimal("100000") - low * Decimal("0.1")
    assert Decimal(balances["BTC"]["cashBal"]) == Decimal("10.1") - Decimal("0.00008")


def test_aggressive_limit_takes_from_the_book() -> None:
    """A limit buy above the best ask fills at book prices (never worse than its limit)."""
    harness = Harness()
    price = last(harness) + 50
    ord_id = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                            px=str(price), sz="0.05")
    order = harness.details("BTC-USDT", ord_id)
    assert order["state"] == "filled"
    assert Decimal(order["avgPx"]) <= price
    assert Decimal(order["fee"]) == -Decimal("0.05") * Decimal("0.001")


def test_order_ids_are_increasing_decimal_strings() -> None:
    """ordIds are 19-digit decimal strings that increase, even within one millisecond."""
    harness = Harness()
    ids = [
        harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                       px="30000", sz="0.001")
        for _ in range(3)
    ]
    assert all(len(i) == 19 and i.isdigit() for i in ids)
    assert sorted(ids, key=int) == ids and len(set(ids)) == 3


def test_cancel_and_its_errors() -> None:
    """Cancel a live order; again, a filled one or an unknown one is 51400 (51401/51402
    are Nitro Spread codes)."""
    harness = Harness()
    live = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                          px="30000", sz="0.001", clOrdId="c1")
    status, body = harness.post("/api/v5/trade/cancel-order", {"instId": "BTC-USDT",
                                                               "ordId": live})
    assert (status, body["code"]) == (200, "0")
    assert body["data"][0] | {"ts": ""} == {"clOrdId": "c1", "ordId": live, "sCode": "0",
                                            "sMsg": "", "subCode": "", "tag": "", "ts": ""}
    assert "inTime" in body and "outTime" in body
    order = harness.details("BTC-USDT", live)
    assert (order["state"], order["cancelSource"]) == ("canceled", "1")
    assert harness.balances()["USDT"]["frozenBal"] == "0"
    _, body = harness.post("/api/v5/trade/cancel-order", {"instId": "BTC-USDT", "ordId": live})
    assert (body["code"], body["msg"], body["data"][0]["sCode"]) == (
        "1", "All operations failed", "51400")
    assert body["data"][0]["sMsg"] == (
        "Order cancellation failed as the order has been filled, canceled or does not exist.")
    filled = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="market",
                            sz="10")
    _, body = harness.post("/api/v5/trade/cancel-order", {"instId": "BTC-USDT",
                                                          "ordId": filled})
    assert body["data"][0]["sCode"] == "51400"
    for params in ({"ordId": "123"}, {"clOrdId": "nothing"}, {"ordId": live, "x": "1"}):
        inst = "ETH-USDT" if "x" in params else "BTC-USDT"
        _, body = harness.post("/api/v5/trade/cancel-order", {"instId": inst, **params})
        assert body["data"][0]["sCode"] == "51400", params
    status, body = harness.post("/api/v5/trade/cancel-order", {"instId": "BTC-USDT"})
    assert (status, body["code"]) == (400, "50015")


def test_cancel_by_client_order_id() -> None:
    """cancel-order accepts clOrdId instead of ordId."""
    harness = Harness()
    ord_id = harness.placed(instId="BTC-USDT", tdMode="cash", side="sell", ordType="limit",
                            px="90000", sz="0.01", clOrdId="sellhigh")
    _, body = harness.post("/api/v5/trade/cancel-order", {"instId": "BTC-USDT",
                                                          "clOrdId": "sellhigh"})
    assert body["data"][0]["ordId"] == ord_id
    assert harness.details("BTC-USDT", ord_id)["state"] == "canceled"


def test_unknown_order_is_51603() -> None:
    """GET /trade/order for an absent order is a top-level 51603 with empty data."""
    harness = Harness()
    status, body = harness.get("/api/v5/trade/order?instId=BTC-USDT&ordId=1")
    assert (status, body) == (200, {"code": "51603", "msg": "Order does not exist", "data": []})
    status, body = harness.get("/api/v5/trade/order?instId=BTC-USDT&clOrdId=zz")
    assert body["code"] == "51603"
    status, body = harness.get("/api/v5/trade/order?instId=BTC-USDT")
    assert (status, body["code"]) == (400, "50015")
    status, body = harness.get("/api/v5/trade/order?ordId=1")
    assert (status, body["code"]) == (400, "50014")


def test_duplicate_client_order_id_among_pending() -> None:
    """A pending clOrdId cannot be reused (51016); after a cancel it can, and GET finds the
    latest order with it."""
    harness = Harness()
    params: dict[str, Any] = dict(instId="BTC-USDT", tdMode="cash", side="buy",
                                  ordType="limit", px="30000", sz="0.001", clOrdId="dup1")
    first = harness.placed(**params)
    item = harness.order(**params)
    assert (item["sCode"], item["ordId"], item["clOrdId"]) == ("51016", "", "dup1")
    harness.post("/api/v5/trade/cancel-order", {"instId": "BTC-USDT", "ordId": first})
    second = harness.placed(**params)
    (order,) = harness.ok("/api/v5/trade/order?instId=BTC-USDT&clOrdId=dup1")
    assert order["ordId"] == second != first


def test_insufficient_balance_is_51008() -> None:
    """Buying more than the free quote (or selling more than the free base) is 51008; a
    spot market order only with banAmend (without it OKX shrinks the order)."""
    harness = Harness()
    status, body = harness.post("/api/v5/trade/order", dict(
        instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
        px=str(last(harness) - 100), sz="5"))
    assert (status, body["code"], body["msg"]) == (200, "1", "All operations failed")
    item = body["data"][0]
    assert (item["sCode"], item["ordId"]) == ("51008", "")
    assert item["sMsg"] == "Order failed. Insufficient USDT balance in account"
    item = harness.order(instId="BTC-USDT", tdMode="cash", side="sell", ordType="market",
                         sz="10.5", banAmend=True)
    assert item["sCode"] == "51008"
    item = harness.order(instId="LTC-USDT", tdMode="cash", side="sell", ordType="limit",
                         px="100", sz="1")
    assert item["sCode"] == "51008"
    harness.placed(instId="BTC-USDT", tdMode="cash", side="sell", ordType="limit",
                   px="90000", sz="9")
    item = harness.order(instId="BTC-USDT", tdMode="cash", side="sell", ordType="limit",
                         px="90000", sz="1.5")
    assert item["sCode"] == "51008"


@pytest.mark.parametrize(
    "overrides, code",
    [
        ({"sz": "0.000000001"}, "51121"),
        ({"sz": "0.000001"}, "51020"),
        ({"px": "30000.05"}, "51000"),
        ({"ordType": "limit", "px": None}, "51204"),
        ({"px": "99999"}, "51137"),
        ({"instId": "FOO-BAR"}, "51001"),
        ({"tdMode": "cross"}, "51000"),
    ],
)
def test_per_item_rejections(overrides: dict[str, Any], code: str) -> None:
    """Lot, minimum, tick, missing price, spot price limit, instrument: per-item sCodes."""
    harness = Harness()
    params: dict[str, Any] = dict(instId="BTC-USDT", tdMode="cash", side="buy",
                                  ordType="limit", px="30000", sz="0.001")
    params.update(overrides)
    params = {k: v for k, v in params.items() if v is not None}
    status, body = harness.post("/api/v5/trade/order", params)
    assert (status, body["code"]) == (200, "1")
    assert body["data"][0]["sCode"] == code
    assert harness.sim.state()["orders"] == []


@pytest.mark.parametrize(
    "params, code, msg",
    [
        ({"side": "buy", "ordType": "limit", "px": "1", "sz": "1"}, "50014",
         "Parameter instId can not be empty"),
        ({"instId": "BTC-USDT", "tdMode": "cash", "side": "hold", "ordType": "limit",
          "px": "1", "sz": "1"}, "51000", "Parameter side error"),
        ({"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit",
          "px": "1", "sz": "1", "clOrdId": "has-dash"}, "51000", "Parameter clOrdId error"),
        ({"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit",
          "px": "1", "sz": "abc"}, "51000", "Parameter sz error"),
    ],
)
def test_parameter_errors_are_per_item(params: dict[str, Any], code: str, msg: str) -> None:
    """
    Missing or malformed order parameters come back in the item (HTTP 200, code 1, sCode
    50014/51000), as OKX's 2026 docs for Place order say -- not as a top-level HTTP 400.
    """
    harness = Harness()
    got_status, body = harness.post("/api/v5/trade/order", params)
    assert (got_status, body["code"], body["msg"]) == (200, "1", "All operations failed")
    (item,) = body["data"]
    assert (item["sCode"], item["sMsg"], item["ordId"]) == (code, msg, "")
    assert item["clOrdId"] == params.get("clOrdId", "")
    assert harness.sim.state()["orders"] == []


def test_a_body_that_is_no_order_is_refused_as_a_whole() -> None:
    """An array or a non-JSON body to /trade/order is a top-level 50002 (HTTP 400)."""
    harness = Harness()
    status, body = harness.post("/api/v5/trade/order", ["not", "an", "order"])
    assert (status, body["code"], body["data"]) == (400, "50002", [])


def test_empty_strings_are_absent() -> None:
    """Empty-string fields are ignored: a market order with px "" and clOrdId "" is fine."""
    harness = Harness()
    ord_id = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="market",
                            sz="50", px="", clOrdId="", tgtCcy="")
    order = harness.details("BTC-USDT", ord_id)
    assert (order["clOrdId"], order["tgtCcy"], order["state"]) == ("", "quote_ccy", "filled")
    assert harness.ok("/api/v5/trade/orders-pending?instId=&instType=SPOT") == []


def test_post_only_that_would_take_is_canceled() -> None:
    """A crossing post_only order is accepted and then canceled; a passive one rests."""
    harness = Harness()
    price = last(harness)
    crossing = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy",
                              ordType="post_only", px=str(price + 10), sz="0.01")
    order = harness.details("BTC-USDT", crossing)
    assert (order["state"], order["accFillSz"]) == ("canceled", "0")
    passive = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy",
                             ordType="post_only", px=str(price - 10), sz="0.01")
    assert harness.details("BTC-USDT", passive)["state"] == "live"


def test_ioc_and_fok() -> None:
    """IOC fills what it can and cancels the rest; FOK fills completely or not at all."""
    harness = Harness()
    price = last(harness)
    ioc = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="ioc",
                         px=str(price - 10), sz="0.01")
    assert harness.details("BTC-USDT", ioc)["state"] == "canceled"
    (book,) = harness.ok("/api/v5/market/books?instId=BTC-USDT&sz=1", private=False)
    best_ask, best_size = Decimal(book["asks"][0][0]), Decimal(book["asks"][0][1])
    fok = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="fok",
                         px=str(best_ask), sz=str(best_size + Decimal("0.2")))
    order = harness.details("BTC-USDT", fok)
    assert (order["state"], order["accFillSz"]) == ("canceled", "0")
    ioc = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="ioc",
                         px=str(best_ask), sz=str(best_size + Decimal("0.2")))
    order = harness.details("BTC-USDT", ioc)
    assert (order["state"], Decimal(order["accFillSz"])) == ("canceled", best_size)
    fok = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="fok",
                         px=str(best_ask + 20), sz="0.02")
    assert harness.details("BTC-USDT", fok)["state"] == "filled"


def test_batch_orders() -> None:
    """batch-orders answers per item; code 0 all placed, 2 partly, 1 none; at most 20."""
    harness = Harness()
    good = dict(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit", px="30000",
                sz="0.001")
    status, body = harness.post("/api/v5/trade/batch-orders", [good, good])
    assert (status, body["code"]) == (200, "0")
    assert [item["sCode"] for item in body["data"]] == ["0", "0"]
    bad = dict(good, sz="0.0000001")
    _, body = harness.post("/api/v5/trade/batch-orders", [good, bad, dict(good, side="x")])
    assert (body["code"], body["msg"]) == ("2", "Bulk operation partially succeeded")
    assert [item["sCode"] for item in body["data"]] == ["0", "51020", "51000"]
    _, body = harness.post("/api/v5/trade/batch-orders", [bad])
    assert body["code"] == "1"
    status, body = harness.post("/api/v5/trade/batch-orders", [good] * 21)
    assert (status, body["code"]) == (200, "51111")
    status, body = harness.post("/api/v5/trade/batch-orders", [])
    assert (status, body["code"]) == (400, "50000")
    assert len(harness.ok("/api/v5/trade/orders-pending")) == 3


def test_cancel_batch_orders() -> None:
    """cancel-batch-orders cancels each listed order with its own sCode."""
    harness = Harness()
    ids = [harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                          px="30000", sz="0.001") for _ in range(2)]
    _, body = harness.post("/api/v5/trade/cancel-batch-orders", [
        {"instId": "BTC-USDT", "ordId": ids[0]},
        {"instId": "BTC-USDT", "ordId": ids[1]},
        {"instId": "BTC-USDT", "ordId": "42"},
    ])
    assert body["code"] == "2"
    assert [item["sCode"] for item in body["data"]] == ["0", "0", "51400"]


def test_invalid_json_and_content_type() -> None:
    """A body that is not JSON is 50002; a non-JSON Content-Type is 50006."""
    harness = Harness()
    body = b"{not json"
    headers = harness.headers("POST", "/api/v5/trade/order", body)
    status, reply = harness.send("POST", "/api/v5/trade/order", body, headers)
    assert (status, reply["code"]) == (400, "50002")
    body = b"{}"
    headers = harness.headers("POST", "/api/v5/trade/order", body)
    headers["Content-Type"] = "text/plain"
    status, reply = harness.send("POST", "/api/v5/trade/order", body, headers)
    assert (status, reply["code"]) == (400, "50006")


def test_resting_order_can_fill_partially() -> None:
    """
    A trade exactly at a resting order's price fills at most that trade's size: the order
    is partially_filled, its remaining funds stay frozen, and cancelling it keeps the fill.
    """
    harness = Harness()
    inst = harness.sim.exchange.instrument("BTC-USDT", NOW_MS)
    assert inst is not None
    market = harness.sim.market
    now = int(START)
    lowest = market.trade(inst, now).px
    second = now + 1
    while market.trade(inst, second).px >= lowest:
        lowest = min(lowest, market.trade(inst, second).px)
        second += 1
    touch = market.trade(inst, second)
    size = touch.sz + Decimal("0.5")
    ord_id = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                            px=str(touch.px), sz=str(size))
    harness.clock.advance(second - harness.clock.seconds() + 0.5)
    order = harness.details("BTC-USDT", ord_id)
    assert (order["state"], Decimal(order["accFillSz"])) == ("partially_filled", touch.sz)
    assert order["fillTime"] == str(second * 1000)
    usdt = harness.balances()["USDT"]
    assert Decimal(usdt["ordFrozen"]) == touch.px * Decimal("0.5")
    _, body = harness.post("/api/v5/trade/cancel-order", {"instId": "BTC-USDT",
                                                          "ordId": ord_id})
    assert body["data"][0]["sCode"] == "0"
    order = harness.details("BTC-USDT", ord_id)
    assert (order["state"], Decimal(order["accFillSz"])) == ("canceled", touch.sz)
    assert harness.balances()["USDT"]["ordFrozen"] == "0"
    archive = harness.ok("/api/v5/trade/orders-history-archive?instType=SPOT")
    assert [row["ordId"] for row in archive] == [ord_id]


def test_accounts_with_their_own_starting_balances() -> None:
    """A SimAccount's balances (mapping or pairs) are its starting funds and reset target."""
    from fmzokx.sim import SimAccount

    poor = SimAccount("poor", "s", "p", balances={"USDT": "500", "LTC": 2})
    harness = Harness(accounts=[poor])
    headers = harness.headers("GET", "/api/v5/account/balance", b"", account=poor)
    _, body = harness.send("GET", "/api/v5/account/balance", None, headers)
    cash = {row["ccy"]: row["cashBal"] for row in body["data"][0]["details"]}
    assert cash == {"LTC": "2", "USDT": "500"}
    with pytest.raises(ValueError):
        SimAccount("k", "s", "p", balances={"USDT": "-1"})
