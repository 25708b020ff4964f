"""okxsim honours OKX's expTime header on trade endpoints."""

from __future__ import annotations

import pytest

from fmzokx.okx.errors import OkxApiError
from fmzokx.sim import DEFAULT_ACCOUNT
from tests.stack import Stack

CREDS_BODY = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "market",
              "sz": "20", "tgtCcy": "quote_ccy"}


def credentials():  # type: ignore[no-untyped-def]
    from fmzokx.okx.credentials import Credentials

    return Credentials(DEFAULT_ACCOUNT.key, DEFAULT_ACCOUNT.secret, DEFAULT_ACCOUNT.passphrase)


def test_expired_order_request_is_dropped() -> None:
    """An order arriving after its expTime is refused with 50036 and nothing is placed."""
    stack = Stack()
    past = str(int(stack.clock.seconds() * 1000) - 1)
    with pytest.raises(OkxApiError) as caught:
        stack.run(stack.client.post("/api/v5/trade/order", CREDS_BODY,
                                    credentials=credentials(), headers={"expTime": past}))
    assert caught.value.code == "50036"
    assert stack.sim.state()["orders"] == []


def test_order_within_its_expiry_is_placed() -> None:
    """An order arriving before its expTime is placed as usual."""
    stack = Stack()
    future = str(int(stack.clock.seconds() * 1000) + 5000)
    reply = stack.run(stack.client.post("/api/v5/trade/order", CREDS_BODY,
                                        credentials=credentials(), headers={"expTime": future}))
    assert reply.items[0].ok
    assert len(stack.sim.state()["orders"]) == 1


def test_malformed_exptime_is_a_parameter_error() -> None:
    """A non-numeric expTime is 51000 Parameter expTime error."""
    stack = Stack()
    with pytest.raises(OkxApiError) as caught:
        stack.run(stack.client.post("/api/v5/trade/order", CREDS_BODY,
                                    credentials=credentials(), headers={"expTime": "soon"}))
    assert caught.value.code == "51000" and "expTime" in caught.value.msg


def test_daemon_orders_carry_exptime() -> None:
    """Orders placed through the daemon carry an expTime about 5 s ahead of OKX's clock."""
    stack = Stack()
    stack.run(stack.client.sync_clock())
    stack.ok("trade", symbol="BTC_USDT", type="buy", price="-1", amount="20")
    (seen,) = stack.sim.requests("/api/v5/trade/order")
    ahead = int(seen.headers["exptime"]) - stack.client.server_time() * 1000
    assert 4900 <= ahead <= 5000
