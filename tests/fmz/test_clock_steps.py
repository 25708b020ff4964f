"""
OKX's clock stepping between two syncs, through the whole daemon in memory: okxsim's clock
control (``sim.set_clock_offset``) and its ``hold`` fault against the real client, placer
and RPC server on one fake clock.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.stack import Stack

ORDER = "/api/v5/trade/order"
TIME = "/api/v5/public/time"


def sim_orders(stack: Stack) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = stack.sim.state()["orders"]
    return orders


def buy(stack: Stack, nonce: int | None = None) -> dict[str, Any]:
    body = stack.envelope(
        "trade", {"symbol": "BTC_USDT", "type": "buy", "price": "-1", "amount": "20"},
        nonce=nonce,
    )
    reply: dict[str, Any] = stack.post(body, limit=300)
    return reply


def order_posts(stack: Stack) -> list[Any]:
    return [seen for seen in stack.sim.requests(ORDER) if seen.method == "POST"]


def test_clock_step_ahead_costs_one_resend_not_orders() -> None:
    """
    okxsim's clock jumps 15 s ahead after the daemon's last sync -- inside OKX's 30 s
    signature window, so no 50102, but past every order's expTime, so 50037. The first
    order is measured, resent once with the same clOrdId and a fresh expTime, and placed;
    every later order goes through first time. (Before: 20 of 23 failed for 5 minutes.)
    """
    stack = Stack()
    stack.run(stack.client.sync_clock())
    stack.sim.set_clock_offset(15_000)
    replies = [buy(stack) for _ in range(23)]
    assert all("data" in reply for reply in replies), replies
    assert len(sim_orders(stack)) == 23
    posts = order_posts(stack)
    assert len(posts) == 24
    refused, resent = posts[0], posts[1]
    assert json.loads(refused.body)["clOrdId"] == json.loads(resent.body)["clOrdId"]
    assert refused.body == resent.body
    okx_now_ms = (resent.at * 1000) + 15_000
    assert int(resent.headers["exptime"]) == pytest.approx(okx_now_ms + 5000, abs=100)
    assert stack.client.clock_offset == pytest.approx(15.0, abs=0.05)


def test_order_expired_twice_is_definitely_not_placed() -> None:
    """A resend refused as expired again is answered 'not placed', never retried blindly."""
    stack = Stack()
    stack.sim.add_fault(ORDER, "reply", count=2,
                        body={"code": "50037", "msg": "Order expired", "data": []})
    reply = buy(stack)
    assert "order not placed" in reply["error"] and "safe to place it again" in reply["error"]
    assert "50037" in reply["error"]
    assert len(order_posts(stack)) == 2 and sim_orders(stack) == []


def test_expired_per_item_is_recognised() -> None:
    """OKX may put 50037 on the item (sCode) rather than the envelope: same handling."""
    stack = Stack()
    item = {"clOrdId": "", "ordId": "", "sCode": "50037", "sMsg": "Order expired", "ts": ""}
    stack.sim.add_fault(ORDER, "reply", count=1,
                        body={"code": "1", "msg": "All operations failed", "data": [item]})
    reply = buy(stack)
    assert "data" in reply, reply
    assert len(sim_orders(stack)) == 1 and len(order_posts(stack)) == 2


def test_clock_step_back_with_the_order_held_in_transit_is_never_called_not_placed() -> None:
    """
    okxsim's clock jumps 15 s behind, and the order POST is held 12 s in transit (with
    --timeout 4 the daemon has given up on it long before). On the stale offset the
    expTime passed at 8 s; on OKX's clock it has not, and the order goes live at 12 s.
    The daemon measures OKX's clock before concluding, keeps looking, and answers with
    the order -- never "not placed" (re-placing would have made two orders).
    """
    stack = Stack(timeout=4)
    stack.run(stack.client.sync_clock())
    stack.sim.set_clock_offset(-15_000)
    stack.sim.add_fault(ORDER, "hold", count=1, delay_ms=12_000)
    started = stack.clock.seconds()
    reply = buy(stack, nonce=11)
    elapsed = stack.clock.seconds() - started
    (order,) = sim_orders(stack)
    assert reply == {"data": {"id": f"BTC-USDT,{order['ordId']}"}, "raw": reply["raw"]}
    assert 12 <= elapsed <= stack.okx.placer.bounds.trade
    assert stack.client.clock_offset == pytest.approx(-15.0, abs=0.05)
    again = buy(stack, nonce=11)
    assert again["data"] == reply["data"] and len(sim_orders(stack)) == 1


def test_clock_step_back_and_an_order_that_never_arrives_is_unknown_not_absent() -> None:
    """
    The same step back, but the POST never reaches OKX: on OKX's clock its expTime is
    still ahead when the placement's time is up, so the honest answer is "outcome
    unknown", not a "not placed" that the clock cannot prove.
    """
    stack = Stack(timeout=4)
    stack.run(stack.client.sync_clock())
    stack.sim.set_clock_offset(-15_000)
    stack.sim.add_fault(ORDER, "hang", count=1)
    started = stack.clock.seconds()
    reply = buy(stack)
    elapsed = stack.clock.seconds() - started
    assert "order outcome unknown" in reply["error"], reply
    assert sim_orders(stack) == []
    assert elapsed <= stack.okx.placer.bounds.trade


def test_not_placed_is_decided_on_a_fresh_measurement() -> None:
    """
    With the clocks in step, a POST that hangs is still answered 'not placed' -- but only
    after OKX's clock was measured past the order's expTime (the /public/time samples
    come between the last two order queries).
    """
    stack = Stack(timeout=4)
    stack.sim.add_fault(ORDER, "hang", count=1)
    reply = buy(stack)
    assert "order not placed" in reply["error"]
    queries = [seen.at for seen in stack.sim.requests(ORDER) if seen.method == "GET"]
    samples = [seen.at for seen in stack.sim.requests(TIME)]
    assert len(samples) == 3
    assert queries[-2] <= samples[0] and samples[-1] <= queries[-1]
