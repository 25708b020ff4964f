"""
Instrument states in which OKX takes no order, or only post-only orders ("Public Data >
Get instruments", ``state``), through the whole daemon against okxsim: the strategy gets
a clear local error naming the state, and no order reaches OKX.
"""

from __future__ import annotations

import pytest

from tests.sim.support import Harness
from tests.stack import Stack

ORDER = "/api/v5/trade/order"


@pytest.mark.parametrize("state", ["test", "rebase", "settling", "post_only"])
def test_an_order_on_an_instrument_that_takes_none_is_refused_locally(state: str) -> None:
    stack = Stack()
    stack.sim.patch_instrument("BTC-USDT", {"state": state})
    message = stack.error("trade", symbol="BTC_USDT", type="buy", price="1000", amount="0.01")
    assert message.startswith(f"BTC_USDT cannot be traded now: OKX lists BTC-USDT as {state!r}")
    assert stack.sim.request_counts[ORDER] == 0


def test_a_state_change_after_loading_is_learned_from_okxs_refusal() -> None:
    """Listed live, then a test instrument: OKX's refusal refreshes, the next is local."""
    stack = Stack()
    stack.ok("markets")
    stack.sim.patch_instrument("BTC-USDT", {"state": "test"})
    stack.advance(31)  # refreshes are at most one per 30 s per instType
    first = stack.error("trade", symbol="BTC_USDT", type="buy", price="1000", amount="0.01")
    assert "51022" in first
    sent = stack.sim.request_counts[ORDER]
    second = stack.error("trade", symbol="BTC_USDT", type="buy", price="1000", amount="0.01")
    assert "'test'" in second and stack.sim.request_counts[ORDER] == sent


@pytest.mark.parametrize(("state", "code"), [
    ("test", "51022"), ("rebase", "51022"), ("settling", "51022"), ("suspend", "51022"),
    ("preopen", "51021"),
])
def test_okxsim_refuses_orders_in_states_that_take_none(state: str, code: str) -> None:
    harness = Harness()
    harness.sim.patch_instrument("BTC-USDT", {"state": state})
    (listed,) = harness.ok("/api/v5/public/instruments?instType=SPOT&instId=BTC-USDT",
                           private=False)
    assert listed["state"] == state  # okxsim lists the state, as OKX's Get instruments
    item = harness.order(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                         px="1000", sz="0.01")
    assert item["sCode"] == code


def test_okxsim_takes_only_post_only_orders_in_post_only_state() -> None:
    harness = Harness()
    harness.sim.patch_instrument("BTC-USDT", {"state": "post_only"})
    limit = harness.order(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                          px="1000", sz="0.01")
    assert limit["sCode"] == "51000"
    post_only = harness.order(instId="BTC-USDT", tdMode="cash", side="buy",
                              ordType="post_only", px="1000", sz="0.01")
    assert post_only["sCode"] == "0"
