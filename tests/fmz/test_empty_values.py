"""
OKX's empty values through the whole daemon: OKX sends ``""`` for a price it has none for
(no best bid on a one-sided book, no trade yet); the strategy gets ``null`` -- no value --
never a ``"0"`` it could trade on, and numbers are never written in exponent form.
"""

from __future__ import annotations

import json

from tests.stack import Stack

TICKER = "/api/v5/market/ticker"


def test_an_instrument_not_trading_yet_has_no_prices() -> None:
    """okxsim answers a preopen instrument's ticker with OKX's "" for every price."""
    stack = Stack()
    stack.sim.patch_instrument("ETH-USDT-SWAP", {"state": "preopen"})
    data = stack.ok("ticker", symbol="ETH_USDT.swap")["data"]
    for field in ("buy", "sell", "last", "high", "low", "open"):
        assert data[field] is None, (field, data)
    assert data["vol"] == "0"
    depth = stack.ok("depth", symbol="ETH_USDT.swap")["data"]
    assert depth["asks"] == [] and depth["bids"] == []


def test_a_one_sided_book_has_no_best_bid() -> None:
    stack = Stack()
    stack.ok("ticker", symbol="BTC_USDT")  # instruments loaded
    item = {"instType": "SPOT", "instId": "BTC-USDT", "last": "0.00000123",
            "lastSz": "1", "askPx": "0.00000124", "askSz": "5", "bidPx": "", "bidSz": "",
            "open24h": "0.0000012", "high24h": "0.00000125", "low24h": "0.000001",
            "volCcy24h": "1", "vol24h": "1000000", "ts": "1764072000000",
            "sodUtc0": "0.0000012", "sodUtc8": "0.0000012"}
    stack.sim.add_fault(TICKER, "reply", body={"code": "0", "msg": "", "data": [item]})
    reply = stack.ok("ticker", symbol="BTC_USDT")
    data = reply["data"]
    assert data["buy"] is None
    assert data["sell"] == "0.00000124" and data["last"] == "0.00000123"
    assert data["low"] == "0.000001"
    encoded = json.dumps(data)
    assert "e-" not in encoded.lower()
