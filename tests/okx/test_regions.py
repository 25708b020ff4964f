"""
OKX's regional rule for spot orders: users in some regions must name ``tradeQuoteCcy``
on every spot order (51000 otherwise). The daemon names it on every spot order of a pair
whose ``tradeQuoteCcyList`` is known, so it trades in every region; okxsim can apply the
rule (``trade_quote_ccy_required``) and the daemon is tested with it on and off.
"""

from __future__ import annotations

import pytest

from tests.sim.support import Harness
from tests.stack import Stack

ORDER = "/api/v5/trade/order"


@pytest.mark.parametrize("required", [True, False])
def test_spot_orders_are_accepted_with_and_without_the_regional_rule(required: bool) -> None:
    stack = Stack()
    stack.sim.configure(trade_quote_ccy_required=required)
    stack.place("BTC_USDT", "buy", "1000", "0.01")
    stack.place("BTC_USDT", "buy", -1, "10")  # a market buy sized in USDT
    posted = [seen for seen in stack.sim.requests(ORDER) if seen.method == "POST"]
    assert len(posted) == 2
    assert all(b'"tradeQuoteCcy":"USDT"' in seen.body for seen in posted)


def test_contract_orders_do_not_name_a_quote_currency() -> None:
    stack = Stack()
    stack.sim.configure(trade_quote_ccy_required=True)
    stack.place("BTC_USDT.swap", "buy", -1, "1")
    (posted,) = [seen for seen in stack.sim.requests(ORDER) if seen.method == "POST"]
    assert b"tradeQuoteCcy" not in posted.body


def test_okxsim_applies_the_regional_rule() -> None:
    harness = Harness()
    order = dict(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit", px="1000",
                 sz="0.01")
    assert harness.order(**order)["sCode"] == "0"
    harness.sim.configure(trade_quote_ccy_required=True)
    refused = harness.order(**order)
    assert (refused["sCode"], "tradeQuoteCcy" in refused["sMsg"]) == ("51000", True)
    assert harness.order(**order, tradeQuoteCcy="USDT")["sCode"] == "0"
    assert harness.order(**order, tradeQuoteCcy="USDC")["sCode"] == "51000"
