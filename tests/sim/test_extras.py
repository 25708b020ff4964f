"""
The endpoints beyond the core that common OKX clients call: fills, amend-order,
close-position, trade-fee, asset currencies and balances, underlyings, open interest and
price limits; and request shapes copied from ccxt's request fixtures, replayed verbatim.
"""

from __future__ import annotations

from decimal import Decimal

from .support import START, Harness
from .test_trading import last

NOW_MS = int(START * 1000)


def test_fills_record_every_execution() -> None:
    """/trade/fills lists taker and maker executions newest first, with fee and side."""
    harness = Harness()
    taker = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                           px=str(last(harness) + 100), sz="0.01")
    inst = harness.sim.exchange.instrument("BTC-USDT", NOW_MS)
    assert inst is not None
    now = int(START)
    low = harness.sim.market.span(inst, now + 2, now + 3600)[2]
    maker = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                           px=str(low), sz="0.02")
    harness.clock.advance(3600)
    rows = harness.ok("/api/v5/trade/fills?instType=SPOT")
    assert [r["ordId"] for r in rows][0] == maker
    assert {r["ordId"] for r in rows} == {taker, maker}
    assert rows[0]["execType"] == "M" and rows[-1]["execType"] == "T"
    assert (rows[0]["fillPx"], rows[0]["fillSz"], rows[0]["feeCcy"]) == (str(low), "0.02", "BTC")
    assert Decimal(rows[0]["fee"]) == Decimal("-0.000016")
    assert sum(Decimal(r["fillSz"]) for r in rows if r["ordId"] == taker) == Decimal("0.01")
    older = harness.ok(f"/api/v5/trade/fills?after={rows[0]['billId']}")
    assert [r["billId"] for r in older] == [r["billId"] for r in rows[1:]]
    status, body = harness.get("/api/v5/trade/fills-history")
    assert (status, body["code"]) == (400, "50014")
    assert len(harness.ok("/api/v5/trade/fills-history?instType=SPOT")) == len(rows)
    assert harness.ok(f"/api/v5/trade/fills?ordId={maker}")[0]["ordId"] == maker


def test_amend_order() -> None:
    """amend-order moves a resting order's price and size and its frozen funds."""
    harness = Harness()
    ord_id = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                            px="30000", sz="0.01", clOrdId="am1")
    status, body = harness.post("/api/v5/trade/amend-order",
                                {"instId": "BTC-USDT", "ordId": ord_id, "newPx": "31000",
                                 "newSz": "0.02", "reqId": "r1"})
    assert (status, body["code"]) == (200, "0")
    assert body["data"][0] | {"ts": ""} == {"clOrdId": "", "ordId": ord_id, "reqId": "r1",
                                            "sCode": "0", "sMsg": "", "subCode": "", "ts": ""}
    order = harness.details("BTC-USDT", ord_id)
    assert (order["px"], order["sz"], order["state"]) == ("31000", "0.02", "live")
    assert harness.balances()["USDT"]["ordFrozen"] == "620"
    status, body = harness.post("/api/v5/trade/amend-order",
                                {"instId": "BTC-USDT", "clOrdId": "am1",
                                 "newPx": str(last(harness) + 50)})
    assert body["data"][0]["sCode"] == "0"
    assert harness.details("BTC-USDT", ord_id)["state"] == "filled"
    _, body = harness.post("/api/v5/trade/amend-order",
                           {"instId": "BTC-USDT", "ordId": ord_id, "newSz": "1"})
    assert (body["code"], body["data"][0]["sCode"]) == ("1", "51503")
    status, body = harness.post("/api/v5/trade/amend-order",
                                {"instId": "BTC-USDT", "ordId": ord_id})
    assert body["code"] == "51500"


def test_amend_needs_funds() -> None:
    """Amending to a size the account cannot pay for is 51502 and changes nothing."""
    harness = Harness()
    ord_id = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                            px="30000", sz="1")
    _, body = harness.post("/api/v5/trade/amend-order",
                           {"instId": "BTC-USDT", "ordId": ord_id, "newSz": "4"})
    assert body["data"][0]["sCode"] == "51502"
    assert harness.details("BTC-USDT", ord_id)["sz"] == "1"


def test_close_position() -> None:
    """close-position closes the whole position at market; without one it is 51023."""
    harness = Harness()
    status, body = harness.post("/api/v5/trade/close-position",
                                {"instId": "ETH-USDT-SWAP", "mgnMode": "cross"})
    assert (status, body["code"]) == (200, "51023")
    harness.placed(instId="ETH-USDT-SWAP", tdMode="cross", side="sell", ordType="market",
                   sz="7")
    status, body = harness.post("/api/v5/trade/close-position",
                                {"instId": "ETH-USDT-SWAP", "mgnMode": "cross"})
    assert (status, body["code"]) == (200, "0")
    assert body["data"] == [{"clOrdId": "", "instId": "ETH-USDT-SWAP", "posSide": "net",
                             "tag": ""}]
    assert harness.ok("/api/v5/account/positions") == []


def test_trade_fee() -> None:
    """trade-fee reports the simulator's rates, negative as charged fees are on OKX."""
    harness = Harness()
    (spot,) = harness.ok("/api/v5/account/trade-fee?instType=SPOT&instId=BTC-USDT")
    assert (spot["maker"], spot["taker"]) == ("-0.0008", "-0.001")
    (swap,) = harness.ok("/api/v5/account/trade-fee?instType=SWAP")
    assert (swap["makerU"], swap["takerU"]) == ("-0.0002", "-0.0005")


def test_asset_endpoints() -> None:
    """asset/currencies lists every traded currency; the funding account is empty."""
    harness = Harness()
    rows = harness.ok("/api/v5/asset/currencies")
    assert {"BTC", "USDT", "ETH", "LTC"} <= {r["ccy"] for r in rows}
    assert [r["ccy"] for r in harness.ok("/api/v5/asset/currencies?ccy=BTC")] == ["BTC"]
    assert harness.ok("/api/v5/asset/balances") == []


def test_underlying_open_interest_and_price_limit() -> None:
    """public/underlying lists families per type (none for options); open interest is
    positive; price-limit matches the band (51137 above it for a spot buy)."""
    harness = Harness()
    (swaps,) = harness.ok("/api/v5/public/underlying?instType=SWAP", private=False)
    assert {"BTC-USDT", "BTC-USD", "ETH-USDT"} <= set(swaps)
    assert harness.ok("/api/v5/public/underlying?instType=OPTION", private=False) == [[]]
    rows = harness.ok("/api/v5/public/open-interest?instType=SWAP", private=False)
    assert all(Decimal(r["oi"]) > 0 for r in rows)
    (limits,) = harness.ok("/api/v5/public/price-limit?instId=BTC-USDT", private=False)
    item = harness.order(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                         px=limits["buyLmt"], sz="0.001")
    assert item["sCode"] == "0"
    high = Decimal(limits["buyLmt"]) + Decimal("0.1")
    item = harness.order(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                         px=str(high), sz="0.001")
    assert item["sCode"] == "51137"
    assert item["sMsg"] == f"The highest price limit for buy orders is {limits['buyLmt']}."


def test_ccxt_request_shapes() -> None:
    """
    Requests exactly as ccxt builds them (bodies and query strings copied from ccxt's
    static request fixtures) are accepted and answered as OKX would.
    """
    harness = Harness()
    batch = (
        b'[{"instId":"BTC-USDT","side":"buy","ordType":"limit","sz":"0.0001","tdMode":"cash",'
        b'"tgtCcy":"base_ccy","px":"57000","clOrdId":"6b9ad766b55dBCDE1bfb3daac4a18656",'
        b'"tag":"6b9ad766b55dBCDE"},{"instId":"BTC-USDT","side":"buy","ordType":"limit",'
        b'"sz":"0.0001","tdMode":"cash","tgtCcy":"base_ccy","px":"57500",'
        b'"clOrdId":"6b9ad766b55dBCDE6790e61a14bca5ec","tag":"6b9ad766b55dBCDE"}]'
    )
    path = "/api/v5/trade/batch-orders"
    status, body = harness.send("POST", path, batch, harness.headers("POST", path, batch))
    assert (status, body["code"]) == (200, "0")
    ids = [item["ordId"] for item in body["data"]]
    assert [item["tag"] for item in body["data"]] == ["6b9ad766b55dBCDE"] * 2
    cost = (
        b'[{"instId":"LTC-USDT","side":"buy","ordType":"market","sz":"10","tdMode":"cash",'
        b'"tgtCcy":"quote_ccy","clOrdId":"6b9ad766b55dBCDE8ce3873ff4a2839e",'
        b'"tag":"6b9ad766b55dBCDE"}]'
    )
    status, body = harness.send("POST", path, cost, harness.headers("POST", path, cost))
    assert body["data"][0]["sCode"] == "0"
    cancel = (
        f'[{{"ordId":"{ids[0]}","instId":"BTC-USDT"}},{{"ordId":"{ids[1]}","instId":"BTC-USDT"}}]'
    ).encode()
    path = "/api/v5/trade/cancel-batch-orders"
    status, body = harness.send("POST", path, cancel, harness.headers("POST", path, cancel))
    assert [item["sCode"] for item in body["data"]] == ["0", "0"]
    lever = b'{"lever":5,"mgnMode":"cross","instId":"LTC-USDT-SWAP"}'
    path = "/api/v5/account/set-leverage"
    status, body = harness.send("POST", path, lever, harness.headers("POST", path, lever))
    assert body["data"][0]["lever"] == "5"
    for target in (
        "/api/v5/account/positions?instId=LTC-USDT-SWAP%2CBTC-USDT-SWAP",
        "/api/v5/account/leverage-info?instId=LTC-USDT&mgnMode=cross",
        "/api/v5/trade/orders-history?instId=BTC-USDT&instType=SPOT&state=canceled",
        "/api/v5/trade/orders-history-archive?instType=SPOT&limit=1&state=filled",
        "/api/v5/trade/fills-history?instId=LTC-USDT&instType=SPOT",
        "/api/v5/account/config",
    ):
        status, body = harness.get(target)
        assert (status, body["code"]) == (200, "0"), target
    rows = harness.ok(
        "/api/v5/market/history-candles?instId=BTC-USDT&bar=1H&limit=300"
        "&before=1699931781032&after=1701011781033",
        private=False,
    )
    stamps = [int(r[0]) for r in rows]
    assert len(stamps) == 300
    assert 1699931781032 < min(stamps) and max(stamps) < 1701011781033


def test_max_size() -> None:
    """max-size and max-avail-size agree with what an order may use: buying maxBuy passes
    the balance check, one lot more is 51008."""
    harness = Harness()
    (row,) = harness.ok("/api/v5/account/max-size?instId=BTC-USDT&tdMode=cash&px=50000")
    assert row == {"ccy": "USDT", "instId": "BTC-USDT", "maxBuy": "2", "maxSell": "10"}
    (row,) = harness.ok("/api/v5/account/max-avail-size?instId=BTC-USDT&tdMode=cash")
    assert row == {"instId": "BTC-USDT", "availBuy": "100000", "availSell": "10"}
    item = harness.order(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                         px="50000", sz="2.00000001")
    assert item["sCode"] == "51008"
    price = last(harness, "BTC-USDT-SWAP") - 100
    (row,) = harness.ok(
        f"/api/v5/account/max-size?instId=BTC-USDT-SWAP&tdMode=cross&px={price}")
    contracts = Decimal(row["maxBuy"])
    assert contracts > 0
    params = dict(instId="BTC-USDT-SWAP", tdMode="cross", side="buy", ordType="limit",
                  px=str(price))
    assert harness.order(**params, sz=str(contracts + Decimal("0.01")))["sCode"] == "51008"
    assert harness.order(**params, sz=str(contracts))["sCode"] == "0"
    status, body = harness.get("/api/v5/account/max-size?instId=BTC-USDT")
    assert (status, body["code"]) == (400, "50014")


def test_bills_account_for_every_balance_change() -> None:
    """
    /account/bills has one row per change of each currency (trades, funding); each row's
    bal is the previous bal plus balChg, and the changes add up to the cash moved.
    """
    harness = Harness()
    harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="market", sz="1000")
    harness.placed(instId="BTC-USDT-SWAP", tdMode="cross", side="sell", ordType="market",
                   sz="30")
    harness.clock.advance(1_764_086_400 - START + 10)  # past the 16:00 UTC funding
    rows = harness.ok("/api/v5/account/bills")
    kinds = [(r["ccy"], r["type"]) for r in reversed(rows)]
    assert kinds == [("USDT", "2"), ("BTC", "2"), ("USDT", "2"), ("USDT", "8")]
    start = {"USDT": Decimal(100000), "BTC": Decimal(10)}
    running = dict(start)
    for row in reversed(rows):
        running[row["ccy"]] += Decimal(row["balChg"])
        assert Decimal(row["bal"]) == running[row["ccy"]]
    cash = {ccy: Decimal(v["cashBal"]) for ccy, v in harness.balances().items()}
    assert running == {ccy: cash[ccy] for ccy in running}
    funding = harness.ok("/api/v5/account/bills?type=8")
    assert [r["subType"] for r in funding] in (["173"], ["174"])
    assert [r["billId"] for r in harness.ok(f"/api/v5/account/bills?after={rows[1]['billId']}")
            ] == [r["billId"] for r in rows[2:]]
    assert len(harness.ok("/api/v5/account/bills-archive?ccy=BTC")) == 1
