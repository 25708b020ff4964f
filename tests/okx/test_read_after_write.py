"""
OKX's read-after-write lag and its "already final" cancel code, through the whole daemon
against okxsim: a strategy is never told "does not exist" for an order the daemon placed
moments ago, and never told "cancelled" while its order is live.

OKX's 51400 means "filled, canceled or does not exist"; OKX also sends it for an order
it cannot see yet where cancels are handled (okxsim: ``lag_cancels``), or in a race.
Only 51410 ("a cancel is already under way") answers a cancel without sending it again.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from twisted.internet.task import Clock

from fmzokx.okx.placement.recent import RecentPlacements
from tests.stack import Stack

CANCEL = "/api/v5/trade/cancel-order"
ORDER = "/api/v5/trade/order"


def _resting_buy(stack: Stack) -> str:
    last = Decimal(stack.ok("ticker", symbol="BTC_USDT")["data"]["last"])
    return stack.place("BTC_USDT", "buy", (last / 2).quantize(Decimal("0.1")), "0.01")


def _refuse_next_cancel_51400(stack: Stack, order_id: str) -> None:
    """okxsim answers the next cancel with OKX's 51400, whatever the order's state."""
    stack.sim.add_fault(CANCEL, "reply", body={
        "code": "1", "msg": "All operations failed",
        "data": [{"ordId": order_id.split(",")[1], "clOrdId": "", "sCode": "51400",
                  "sMsg": "Order cancellation failed as the order has been filled, "
                          "canceled or does not exist", "ts": "0"}],
    })


def _sim_state(stack: Stack, order_id: str) -> str:
    inst_id, ord_id = order_id.split(",")
    for order in stack.sim.state()["orders"]:
        if order["ordId"] == ord_id:
            return str(order["state"])
    raise AssertionError(f"okxsim has no order {order_id}")


@pytest.mark.parametrize("private", [False, True])
@pytest.mark.parametrize("lag_ms", [300, 1500])
def test_get_order_right_after_buy_finds_the_order(lag_ms: int, private: bool) -> None:
    """
    With OKX's lag, GetOrder right after Buy answers the order, never 51603 (with the
    private stream, the default, too).
    """
    stack = Stack(private_stream=private)
    stack.sim.configure(lag_ms=lag_ms)
    order_id = _resting_buy(stack)
    reply = stack.call("order", id=order_id)
    assert "error" not in reply, reply
    assert reply["data"]["id"] == order_id and reply["data"]["status"] == "pending"


def test_an_order_nobody_placed_is_still_missing_at_once() -> None:
    """The brief retry is only for the daemon's own recent orders."""
    stack = Stack()
    stack.sim.configure(lag_ms=300)
    started = stack.clock.seconds()
    message = stack.error("order", id="BTC-USDT,123456789")
    assert "does not exist" in message and "51603" in message
    assert stack.clock.seconds() - started < 1


def test_cancel_refused_51400_while_live_is_sent_again_and_cancels() -> None:
    """51400 for a live order is not "cancelled": the cancel is sent again."""
    stack = Stack()
    order_id = _resting_buy(stack)
    _refuse_next_cancel_51400(stack, order_id)
    reply = stack.call("cancel", id=order_id)
    assert reply.get("data") is True, reply
    assert _sim_state(stack, order_id) == "canceled"
    posts = [seen for seen in stack.sim.requests(CANCEL) if seen.method == "POST"]
    assert len(posts) == 2


@pytest.mark.parametrize("private", [False, True])
def test_cancel_right_after_buy_under_the_lag_cancels_the_order(private: bool) -> None:
    """okxsim's cancels see the lag (51400 for a live order): the order still ends cancelled."""
    stack = Stack(private_stream=private)
    stack.sim.configure(lag_ms=300, lag_cancels=True)
    order_id = _resting_buy(stack)
    reply = stack.call("cancel", id=order_id)
    assert reply.get("data") is True, reply
    stack.advance(1)
    assert _sim_state(stack, order_id) == "canceled"


def test_51410_answers_true_without_sending_again() -> None:
    """A cancel under way (51410) is an answer: true, and the cancel is not resent."""
    stack = Stack()
    stack.sim.configure(lag_ms=1000)
    order_id = _resting_buy(stack)
    stack.advance(1.5)  # visible now; the first cancel takes effect 1 s after it is taken
    assert stack.call("cancel", id=order_id).get("data") is True
    assert stack.call("cancel", id=order_id).get("data") is True
    posts = [seen for seen in stack.sim.requests(CANCEL) if seen.method == "POST"]
    assert len(posts) == 2


def test_a_filled_order_is_still_refused_with_its_state() -> None:
    """51400 for an order that really is final keeps today's answer."""
    stack = Stack()
    order_id = stack.place("BTC_USDT", "buy", -1, "10")  # a market buy of 10 USDT: fills
    message = stack.error("cancel", id=order_id)
    assert "cannot be canceled" in message and "already filled" in message


def test_recent_placements_keep_only_the_window() -> None:
    """
    The note of recent placements holds the last few seconds, not a cache that fills for
    an hour: a soak read the old 4,096-entry one as a leak.
    """
    clock = Clock()
    recent = RecentPlacements(clock, window=5.0)
    for second in range(60):
        recent.note("key", "BTC-USDT", f"o{second}", f"c{second}")
        clock.advance(1)
    assert len(recent) == 2 * 5  # an ord and a cl entry per order, five seconds' worth
    assert recent.placed_moments_ago("key", "BTC-USDT", ord_id="o59")
    assert not recent.placed_moments_ago("key", "BTC-USDT", ord_id="o50")
    noted_again = RecentPlacements(clock, window=5.0, capacity=3)
    for index in range(10):
        noted_again.note("key", "BTC-USDT", f"o{index}")
    assert len(noted_again) == 3
    assert noted_again.placed_moments_ago("key", "BTC-USDT", ord_id="o9")


def test_a_lost_cancel_answered_51410_when_sent_again_is_true() -> None:
    """
    A cancel whose answer was lost is sent again when the order reads live; OKX's 51410
    to that second cancel says the first is under way: true, not "already pending".
    """
    stack = Stack()
    stack.sim.configure(lag_ms=1000)
    order_id = _resting_buy(stack)
    stack.advance(1.5)  # visible now; a cancel takes effect 1 s after it is taken
    stack.sim.add_fault(CANCEL, "drop-after-commit")
    reply = stack.call("cancel", id=order_id)
    assert reply.get("data") is True, reply
    posts = [seen for seen in stack.sim.requests(CANCEL) if seen.method == "POST"]
    assert len(posts) == 2
    stack.advance(1.5)
    assert _sim_state(stack, order_id) == "canceled"


def test_a_lost_cancel_answered_51400_while_live_is_sent_until_it_takes() -> None:
    """
    The same with OKX's 51400 to the second cancel while the order is still live (its
    lag): sent again, never answered "already pending" for an order being cancelled.
    """
    stack = Stack()
    order_id = _resting_buy(stack)
    stack.sim.add_fault(CANCEL, "http-503")  # lost: nothing done, outcome unknown
    _refuse_next_cancel_51400(stack, order_id)
    reply = stack.call("cancel", id=order_id)
    assert reply.get("data") is True, reply
    assert _sim_state(stack, order_id) == "canceled"


@pytest.mark.parametrize("private", [False, True])
def test_get_orders_right_after_buy_lists_the_order(private: bool) -> None:
    """
    With OKX's lag, GetOrders right after Buy lists the order (OKX's orders-pending does
    not yet): a strategy that counts its open orders would otherwise place it again.
    """
    stack = Stack(private_stream=private)
    stack.sim.configure(lag_ms=300)
    stack.ok("orders", symbol="BTC_USDT")
    order_id = _resting_buy(stack)
    listed = stack.ok("orders", symbol="BTC_USDT")["data"]
    assert [order["id"] for order in listed] == [order_id]
    assert listed[0]["status"] == "pending"
    everything = stack.ok("orders")["data"]
    assert [order["id"] for order in everything] == [order_id]


def test_get_orders_reads_a_filled_recent_order_once() -> None:
    """
    A recent order missing from the open orders because it filled is read once, then
    known final: polling GetOrders does not read it again and again.
    """
    stack = Stack()
    stack.place("BTC_USDT", "buy", -1, "10")  # a market buy of 10 USDT: fills at once
    for _ in range(10):
        assert stack.ok("orders", symbol="BTC_USDT")["data"] == []
        stack.advance(0.1)
    reads = [seen for seen in stack.sim.requests(ORDER) if seen.method == "GET"]
    assert len(reads) == 1


def test_recent_orders_are_those_placed_by_the_moment_asked_and_not_forgotten() -> None:
    clock = Clock()
    recent = RecentPlacements(clock, window=5.0)
    recent.note("key", "BTC-USDT", "o1", "c1")
    clock.advance(1)
    asked_at = clock.seconds()
    clock.advance(0.1)
    recent.note("key", "ETH-USDT", "o2")
    recent.note("other", "BTC-USDT", "o3")
    assert recent.recent_orders("key", placed_by=asked_at) == [("BTC-USDT", "o1")]
    assert recent.recent_orders("key", placed_by=clock.seconds()) == [
        ("ETH-USDT", "o2"), ("BTC-USDT", "o1"),
    ]
    recent.forget("key", "BTC-USDT", "o1")
    assert recent.recent_orders("key", placed_by=clock.seconds()) == [("ETH-USDT", "o2")]
    clock.advance(5.1)
    assert recent.recent_orders("key", placed_by=clock.seconds()) == []
