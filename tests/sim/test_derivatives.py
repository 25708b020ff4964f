"""
Swaps and futures: positions in net and long/short mode, linear and inverse PnL, margin,
leverage, reduce-only, funding settlements and futures delivery.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fmzokx.sim.views import order_json

from .support import START, Harness
from .test_trading import last

SWAP = "BTC-USDT-SWAP"


def position(harness: Harness, inst_id: str, pos_side: str | None = None) -> dict[str, Any]:
    rows = harness.ok(f"/api/v5/account/positions?instId={inst_id}")
    rows = [r for r in rows if pos_side is None or r["posSide"] == pos_side]
    assert len(rows) == 1, rows
    row: dict[str, Any] = rows[0]
    return row


def market(harness: Harness, inst_id: str, side: str, sz: str, **extra: Any) -> dict[str, Any]:
    ord_id = harness.placed(instId=inst_id, tdMode=extra.pop("tdMode", "cross"), side=side,
                            ordType="market", sz=sz, **extra)
    return harness.details(inst_id, ord_id)


def test_linear_swap_round_trip() -> None:
    """Open 10 contracts, then close them: fees and realised PnL are exactly what moved."""
    harness = Harness()
    opened = market(harness, SWAP, "buy", "10")
    entry = Decimal(opened["avgPx"])
    assert (opened["state"], opened["accFillSz"], opened["posSide"], opened["lever"]) == (
        "filled", "10", "net", "10")
    open_fee = Decimal(opened["fee"])
    assert open_fee == -(10 * Decimal("0.01") * entry * Decimal("0.0005")).quantize(
        Decimal("1e-12"))
    pos = position(harness, SWAP)
    assert (pos["pos"], pos["mgnMode"], pos["posSide"], pos["lever"]) == ("10", "cross",
                                                                          "net", "10")
    assert Decimal(pos["avgPx"]) == entry
    margin = Decimal(10) * Decimal("0.01") * entry / 10
    assert Decimal(pos["imr"]) == margin
    usdt = harness.balances()["USDT"]
    assert Decimal(usdt["cashBal"]) == Decimal(100000) + open_fee
    assert Decimal(usdt["frozenBal"]) == margin
    assert Decimal(usdt["availBal"]) == Decimal(usdt["cashBal"]) - margin
    assert Decimal(usdt["eq"]) == Decimal(usdt["cashBal"]) + Decimal(pos["upl"])

    harness.clock.advance(3600)
    closed = market(harness, SWAP, "sell", "10")
    exit_px = Decimal(closed["avgPx"])
    pnl = Decimal(closed["pnl"])
    assert pnl == (10 * Decimal("0.01") * (exit_px - entry)).quantize(Decimal("1e-12"))
    assert harness.ok(f"/api/v5/account/positions?instId={SWAP}") == []
    usdt = harness.balances()["USDT"]
    assert Decimal(usdt["cashBal"]) == Decimal(100000) + open_fee + Decimal(closed["fee"]) + pnl
    assert usdt["frozenBal"] == "0"


def test_net_mode_flip() -> None:
    """Selling more than a long position flips it short at the fill price."""
    harness = Harness()
    market(harness, SWAP, "buy", "10")
    sold = market(harness, SWAP, "sell", "15")
    pos = position(harness, SWAP)
    assert pos["pos"] == "-5"
    assert pos["avgPx"] == sold["avgPx"]


def test_insufficient_margin_and_size_limits() -> None:
    """Opening beyond the free margin is 51008; market size beyond maxMktSz is 51202."""
    harness = Harness()
    price = last(harness, SWAP)
    item = harness.order(instId=SWAP, tdMode="cross", side="buy", ordType="limit",
                         px=str(price - 100), sz="2000")
    assert item["sCode"] == "51008"
    assert item["sMsg"] == "Order failed. Insufficient USDT margin in account"
    item = harness.order(instId=SWAP, tdMode="cross", side="buy", ordType="market", sz="20000")
    assert item["sCode"] == "51202"
    item = harness.order(instId=SWAP, tdMode="cross", side="buy", ordType="market", sz="0.001")
    assert item["sCode"] == "51121"
    item = harness.order(instId=SWAP, tdMode="cash", side="buy", ordType="market", sz="1")
    assert item["sCode"] == "51000"


def test_resting_swap_order_freezes_margin_and_fills_on_the_walk() -> None:
    """A resting swap order freezes margin, then opens a position as maker when crossed."""
    harness = Harness()
    inst = harness.sim.exchange.instrument(SWAP, int(START * 1000))
    assert inst is not None
    now = int(START)
    low = harness.sim.market.span(inst, now + 2, now + 6 * 3600)[2]
    ord_id = harness.placed(instId=SWAP, tdMode="isolated", side="buy", ordType="limit",
                            px=str(low), sz="5")
    usdt = harness.balances()["USDT"]
    assert Decimal(usdt["ordFrozen"]) == (5 * Decimal("0.01") * low / 10).quantize(
        Decimal("1e-12")) * 1
    harness.clock.advance(6 * 3600)
    order = harness.details(SWAP, ord_id)
    assert (order["state"], order["avgPx"]) == ("filled", order["px"])
    assert Decimal(order["fee"]) == -(5 * Decimal("0.01") * low * Decimal("0.0002")).quantize(
        Decimal("1e-12"))
    pos = position(harness, SWAP)
    assert (pos["pos"], pos["mgnMode"]) == ("5", "isolated")
    assert pos["margin"] != "" and pos["imr"] == ""
    assert harness.balances()["USDT"]["ordFrozen"] == "0"


def test_leverage() -> None:
    """set-leverage changes the margin of new positions; leverage-info reports it."""
    harness = Harness()
    status, body = harness.post("/api/v5/account/set-leverage",
                                {"instId": SWAP, "lever": 20, "mgnMode": "cross"})
    assert (status, body["code"]) == (200, "0")
    assert body["data"] == [{"instId": SWAP, "lever": "20", "mgnMode": "cross", "posSide": ""}]
    rows = harness.ok(f"/api/v5/account/leverage-info?instId={SWAP}&mgnMode=cross")
    assert rows == [{"ccy": "", "instId": SWAP, "lever": "20", "mgnMode": "cross",
                     "posSide": "net"}]
    rows = harness.ok(f"/api/v5/account/leverage-info?instId={SWAP}&mgnMode=isolated")
    assert rows[0]["lever"] == "10"
    market(harness, SWAP, "buy", "10")
    pos = position(harness, SWAP)
    assert pos["lever"] == "20"
    assert Decimal(pos["imr"]) == (10 * Decimal("0.01") * Decimal(pos["avgPx"]) / 20)
    for payload, code in (
        ({"instId": SWAP, "lever": "101", "mgnMode": "cross"}, "59102"),
        ({"instId": SWAP, "lever": "0", "mgnMode": "cross"}, "51000"),
        ({"instId": "BTC-USDT", "lever": "5", "mgnMode": "cross"}, "51000"),
        ({"instId": "NOPE-SWAP", "lever": "5", "mgnMode": "cross"}, "51001"),
        ({"instId": SWAP, "lever": "5"}, "50014"),
    ):
        _, body = harness.post("/api/v5/account/set-leverage", payload)
        assert body["code"] == code, payload


def test_long_short_mode() -> None:
    """
    In long/short mode orders need posSide, long and short positions coexist, closes are
    limited to the position, and the mode cannot change while positions are open.
    """
    harness = Harness()
    (config,) = harness.ok("/api/v5/account/config")
    assert config["posMode"] == "net_mode"
    _, body = harness.post("/api/v5/account/set-position-mode", {"posMode": "long_short_mode"})
    assert body == {"code": "0", "msg": "", "data": [{"posMode": "long_short_mode"}]}
    assert harness.ok("/api/v5/account/config")[0]["posMode"] == "long_short_mode"
    item = harness.order(instId=SWAP, tdMode="cross", side="buy", ordType="market", sz="1")
    assert item["sCode"] == "51000"
    market(harness, SWAP, "buy", "3", posSide="long")
    market(harness, SWAP, "sell", "2", posSide="short")
    assert position(harness, SWAP, "long")["pos"] == "3"
    assert position(harness, SWAP, "short")["pos"] == "2"
    item = harness.order(instId=SWAP, tdMode="cross", side="sell", ordType="market", sz="4",
                         posSide="long")
    assert item["sCode"] == "51112"
    closed = market(harness, SWAP, "sell", "3", posSide="long")
    assert closed["posSide"] == "long"
    assert [r["posSide"] for r in harness.ok("/api/v5/account/positions")] == ["short"]
    rows = harness.ok(f"/api/v5/account/leverage-info?instId={SWAP}&mgnMode=cross")
    assert [r["posSide"] for r in rows] == ["long", "short"]
    _, body = harness.post("/api/v5/account/set-position-mode", {"posMode": "net_mode"})
    assert body["code"] == "59000"


def test_reduce_only() -> None:
    """reduceOnly needs an opposite position (51169) and may not exceed it (51148)."""
    harness = Harness()
    item = harness.order(instId=SWAP, tdMode="cross", side="sell", ordType="market", sz="1",
                         reduceOnly=True)
    assert item["sCode"] == "51169"
    market(harness, SWAP, "buy", "2")
    item = harness.order(instId=SWAP, tdMode="cross", side="buy", ordType="market", sz="1",
                         reduceOnly=True)
    assert item["sCode"] == "51169"
    item = harness.order(instId=SWAP, tdMode="cross", side="sell", ordType="market", sz="3",
                         reduceOnly="true")
    assert item["sCode"] == "51148"
    closed = market(harness, SWAP, "sell", "2", reduceOnly=True)
    assert closed["reduceOnly"] == "true"
    assert harness.ok("/api/v5/account/positions") == []


def test_inverse_swap() -> None:
    """BTC-USD-SWAP: 100 USD contracts, margin, fees and PnL in BTC."""
    harness = Harness()
    opened = market(harness, "BTC-USD-SWAP", "buy", "10")
    entry = Decimal(opened["avgPx"])
    assert opened["feeCcy"] == "BTC"
    pos = position(harness, "BTC-USD-SWAP")
    assert (pos["ccy"], pos["notionalUsd"]) == ("BTC", "1000")
    assert Decimal(pos["imr"]) == (Decimal(1000) / entry / 10).quantize(Decimal("1e-12"))
    harness.clock.advance(7200)
    closed = market(harness, "BTC-USD-SWAP", "sell", "10")
    exit_px = Decimal(closed["avgPx"])
    expected = (Decimal(1000) * (1 / entry - 1 / exit_px)).quantize(Decimal("1e-12"))
    assert Decimal(closed["pnl"]) == expected
    btc = harness.balances()["BTC"]
    assert Decimal(btc["cashBal"]) == (
        Decimal(10) + Decimal(opened["fee"]) + Decimal(closed["fee"]) + expected
    )


def test_funding_is_settled_every_eight_hours() -> None:
    """A position held over 16:00 UTC pays (or earns) qty x ctVal x mark x rate."""
    harness = Harness()
    market(harness, SWAP, "sell", "100")
    cash_before = Decimal(harness.balances()["USDT"]["cashBal"])
    funding_time = 1_764_086_400_000
    (row,) = harness.ok(f"/api/v5/public/funding-rate?instId={SWAP}", private=False)
    assert int(row["fundingTime"]) == funding_time
    rate = Decimal(row["fundingRate"])
    harness.clock.advance(funding_time / 1000 - harness.clock.seconds() + 60)
    inst = harness.sim.exchange.instrument(SWAP, funding_time)
    assert inst is not None
    mark = harness.sim.market.last(inst, funding_time / 1000)
    payment = (Decimal(-100) * Decimal("0.01") * mark * rate).quantize(Decimal("1e-12"))
    pos = position(harness, SWAP)
    assert Decimal(pos["fundingFee"]) == -payment
    assert Decimal(harness.balances()["USDT"]["cashBal"]) == cash_before - payment
    history = harness.ok(
        f"/api/v5/public/funding-rate-history?instId={SWAP}&limit=1", private=False
    )
    assert (history[0]["fundingTime"], history[0]["fundingRate"]) == (
        str(funding_time), row["fundingRate"])


def test_futures_deliver_at_expiry() -> None:
    """A this_week futures position is closed at the expiry price; the contract delists."""
    harness = Harness()
    futures = harness.ok("/api/v5/public/instruments?instType=FUTURES&instFamily=BTC-USD",
                         private=False)
    this_week, next_week = sorted(futures, key=lambda r: int(r["expTime"]))[:2]
    inst_id, expiry = this_week["instId"], int(this_week["expTime"])
    opened = market(harness, inst_id, "buy", "5")
    entry = Decimal(opened["avgPx"])
    inst = harness.sim.exchange.instrument(inst_id, int(START * 1000))
    assert inst is not None
    floor = (entry * Decimal("0.9")) // 1
    assert harness.sim.market.span(inst, int(START) + 1, expiry // 1000)[2] > floor
    resting = harness.placed(instId=inst_id, tdMode="cross", side="buy", ordType="limit",
                             px=str(floor), sz="1")
    harness.clock.advance(expiry / 1000 - harness.clock.seconds() + 1)
    assert harness.ok(f"/api/v5/account/positions?instId={inst_id}") == []
    order = order_json(harness.sim.exchange.orders[int(resting)])
    assert (order["state"], order["cancelSource"], order["uTime"]) == (
        "canceled", "6", str(expiry))
    settle = harness.sim.market.last(inst, expiry / 1000)
    pnl = (Decimal(500) * (1 / entry - 1 / settle)).quantize(Decimal("1e-12"))
    btc = Decimal(harness.balances()["BTC"]["cashBal"])
    assert btc == Decimal(10) + Decimal(opened["fee"]) + pnl
    (closed,) = harness.ok(f"/api/v5/account/positions-history?instId={inst_id}")
    assert (closed["direction"], closed["closeTotalPos"], closed["uTime"]) == (
        "long", "5", str(expiry))
    assert Decimal(closed["pnl"]) == pnl
    rows = harness.ok("/api/v5/public/instruments?instType=FUTURES&instFamily=BTC-USD",
                      private=False)
    assert inst_id not in {r["instId"] for r in rows}
    assert min(rows, key=lambda r: int(r["expTime"]))["instId"] == next_week["instId"]


def test_resting_fill_before_settlement_pays_funding_in_one_clock_jump() -> None:
    """A position opened by a resting order before 16:00 pays the 16:00 funding even when the
    clock jumps past both in one step; one closed before 16:00 pays nothing."""
    harness = Harness()
    inst = harness.sim.exchange.instrument(SWAP, int(START * 1000))
    assert inst is not None
    funding_s = 1_764_086_400
    now = int(START)
    low = harness.sim.market.span(inst, now + 2, funding_s - 600)[2]
    harness.placed(instId=SWAP, tdMode="cross", side="buy", ordType="limit", px=str(low),
                   sz="50")
    harness.placed(instId="ETH-USDT-SWAP", tdMode="cross", side="buy", ordType="market",
                   sz="10")
    harness.placed(instId="ETH-USDT-SWAP", tdMode="cross", side="sell", ordType="market",
                   sz="10")
    harness.clock.advance(funding_s - harness.clock.seconds() + 3600)
    pos = position(harness, SWAP)
    rate = harness.sim.market.funding_rate(inst, funding_s * 1000)
    mark = harness.sim.market.last(inst, funding_s)
    assert Decimal(pos["fundingFee"]) == -(50 * Decimal("0.01") * mark * rate).quantize(
        Decimal("1e-12"))
    assert Decimal(pos["fundingFee"]) != 0
    assert harness.ok("/api/v5/account/positions?instId=ETH-USDT-SWAP") == []


def test_isolated_position_is_liquidated_at_its_liquidation_price() -> None:
    """
    An isolated position whose loss reaches half its margin is closed at the liquidation
    price (rounded to the tick) by a full_liquidation order; the account loses that half
    margin plus fees. Cross positions are not liquidated.
    """
    harness = Harness()
    harness.post("/api/v5/account/set-leverage",
                 {"instId": SWAP, "lever": "100", "mgnMode": "isolated"})
    opened = market(harness, SWAP, "buy", "20", tdMode="isolated")
    market(harness, SWAP, "buy", "20", tdMode="cross")
    entry = Decimal(opened["avgPx"])
    liq = (entry * (1 - Decimal(1) / 200)).quantize(Decimal("0.1"), rounding="ROUND_FLOOR")
    inst = harness.sim.exchange.instrument(SWAP, int(START * 1000))
    assert inst is not None
    hit = harness.sim.market.first_touch(inst, int(START) + 1, int(START) + 86400, liq, True)
    assert hit is not None
    isolated = next(r for r in harness.ok("/api/v5/account/positions")
                    if r["mgnMode"] == "isolated")
    assert isolated["liqPx"] == str(liq)
    harness.clock.advance(hit - harness.clock.seconds() - 1)
    assert len(harness.ok(f"/api/v5/account/positions?instId={SWAP}")) == 2
    harness.clock.advance(2)
    rows = harness.ok(f"/api/v5/account/positions?instId={SWAP}")
    assert [r["mgnMode"] for r in rows] == ["cross"]
    history = harness.ok("/api/v5/trade/orders-history?instType=SWAP&instId=" + SWAP)
    liquidation = history[0]
    assert (liquidation["category"], liquidation["state"], liquidation["side"]) == (
        "full_liquidation", "filled", "sell")
    assert (liquidation["avgPx"], liquidation["fillTime"]) == (str(liq), str(hit * 1000))
    margin = 20 * Decimal("0.01") * entry / 100
    assert Decimal(liquidation["pnl"]) == (20 * Decimal("0.01") * (liq - entry)).quantize(
        Decimal("1e-12"))
    assert margin / 2 <= -Decimal(liquidation["pnl"]) <= margin / 2 + 20 * Decimal("0.001")
    (closed,) = harness.ok("/api/v5/account/positions-history")
    assert (closed["type"], closed["mgnMode"], closed["closeAvgPx"]) == (
        "3", "isolated", str(liq))


def test_positions_history() -> None:
    """Closing, flipping and delivering positions each leave a positions-history row with
    entry and exit prices, sizes and realised PnL, newest first."""
    harness = Harness()
    opened = market(harness, SWAP, "buy", "10")
    harness.clock.advance(600)
    closed = market(harness, SWAP, "sell", "10")
    harness.clock.advance(600)
    market(harness, SWAP, "sell", "4")
    harness.clock.advance(600)
    flip = market(harness, SWAP, "buy", "6")
    rows = harness.ok("/api/v5/account/positions-history?instType=SWAP")
    assert [r["direction"] for r in rows] == ["short", "long"]
    first = rows[1]
    assert (first["openAvgPx"], first["closeAvgPx"]) == (opened["avgPx"], closed["avgPx"])
    assert (first["openMaxPos"], first["closeTotalPos"], first["type"]) == ("10", "10", "2")
    assert Decimal(first["pnl"]) == Decimal(closed["pnl"])
    assert Decimal(first["realizedPnl"]) == (
        Decimal(closed["pnl"]) + Decimal(opened["fee"]) + Decimal(closed["fee"])
    )
    assert (rows[0]["closeTotalPos"], rows[0]["closeAvgPx"]) == ("4", flip["avgPx"])
    assert position(harness, SWAP)["pos"] == "2"
    older = harness.ok(f"/api/v5/account/positions-history?after={rows[0]['uTime']}")
    assert [r["uTime"] for r in older] == [first["uTime"]]
