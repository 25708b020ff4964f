"""
ticker, depth and trades through the whole daemon with ``--market-data ws``: docker call
-> RPC server -> OKX domain layer -> WebSocket copy or REST -> okxsim, in memory.

Every reply is checked against the simulated market itself: the OKX payload behind it
must be exactly the market at the payload's own ``ts``, and that ``ts`` must be within
the freshness budget of now, whether it came from the stream or from REST. Through every
WebSocket fault the replies stay right; REST takes over, and the stream takes back.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from treq.testing import StubTreq

from fmzokx.sim import public
from tests.stack import Stack

BTC = "BTC-USDT"
TICKER = "/api/v5/market/ticker"
BOOKS = "/api/v5/market/books"
TRADES = "/api/v5/market/trades"
SLACK = 0.002


def check(stack: Stack, method: str, reply: dict[str, Any], limit: int = 0) -> None:
    """
    The reply's OKX payload is the market at its own ts and still the market a second ago
    (for trades: every trade until the budget ago is in).
    """
    assert "error" not in reply, reply
    data = reply["raw"]["data"]
    now = stack.clock.seconds()
    inst = stack.sim.exchange.instrument(BTC, stack.sim.now_ms())
    assert inst is not None
    market = stack.sim.market
    # OKX pushes a channel only when it changes: the payload's ts is its last change. It
    # must still be the market of the whole last second (the freshness budget).
    since = max(int(data[0].get("ts", 0)), round((now - 1.0 - SLACK) * 1000))
    if method == "ticker":
        ts = int(data[0]["ts"])
        assert data == [public.ticker(market, inst, ts)]
        assert data == [{**public.ticker(market, inst, since), "ts": str(ts)}]
        assert reply["data"]["last"] == data[0]["last"]
        return
    if method == "depth":
        ts = int(data[0]["ts"])
        assert data == [public.books(market, inst, ts, limit)]
        assert data == [{**public.books(market, inst, since, limit), "ts": str(ts)}]
        assert len(reply["data"]["asks"]) == limit
        return
    ts = int(data[0]["ts"])
    assert data == public.trades(market, inst, ts, limit)
    assert [row["id"] for row in reply["data"]] == [int(r["tradeId"]) for r in data[::-1]]
    # Fresh: no trade older than the budget is missing (one happens every second).
    assert ts / 1000 >= math.floor(now - 1.0 - SLACK)


def ask(stack: Stack, depth: int = 400) -> None:
    check(stack, "ticker", stack.ok("ticker", symbol="BTC_USDT"))
    check(stack, "depth", stack.ok("depth", symbol="BTC_USDT", limit=str(depth)), depth)


def rest_calls(stack: Stack) -> int:
    return stack.sim.request_counts[TICKER] + stack.sim.request_counts[BOOKS]


def test_first_calls_go_over_rest_then_the_stream_answers_alone() -> None:
    stack = Stack(market_data="ws")
    ask(stack)
    check(stack, "trades", stack.ok("trades", symbol="BTC_USDT", limit="100"), 100)
    assert rest_calls(stack) == 2 and stack.sim.request_counts[TRADES] == 1
    stack.advance(0.3)
    for _ in range(40):
        stack.advance(0.05)
        ask(stack)
        check(stack, "trades", stack.ok("trades", symbol="BTC_USDT", limit="100"), 100)
    assert rest_calls(stack) == 2
    # The first REST trades came before the subscription was live, so could not be joined
    # to the stream; the second could, and then the stream answered alone.
    assert stack.sim.request_counts[TRADES] == 2
    assert stack.streams is not None
    assert stack.streams.live.stats.answers == {"ticker": 40, "depth": 40, "trades": 39}


def test_without_the_stream_every_call_goes_over_rest() -> None:
    stack = Stack()
    for _ in range(5):
        stack.advance(0.1)
        ask(stack)
    assert rest_calls(stack) == 10


@pytest.mark.parametrize("mode", ["disconnect", "stall", "bad-checksum", "out-of-order"])
def test_every_websocket_fault_falls_back_to_rest_then_recovers(mode: str) -> None:
    stack = Stack(market_data="ws")
    ask(stack)
    stack.advance(0.5)
    before = rest_calls(stack)
    ask(stack)
    assert rest_calls(stack) == before
    control = StubTreq(stack.sim.resource())
    response = control.post(
        "http://okxsim.test/_sim/faults",
        data=json.dumps({"path": "/ws/v5/public", "mode": mode}).encode(),
    )
    control.flush()
    assert stack.run(response).code == 200
    fallbacks = []
    # A stall needs 1 s to go stale and 5 s without a pong before the link is replaced.
    for _ in range(80 if mode == "stall" else 30):
        stack.advance(0.1)
        calls = rest_calls(stack)
        ask(stack, depth=25)
        fallbacks.append(rest_calls(stack) - calls)
    assert sum(fallbacks) > 0  # REST answered while the copy could not
    assert sum(fallbacks[-10:]) == 0  # and the stream answers again
    assert stack.streams is not None
    stats = stack.streams.live.stats
    if mode in ("bad-checksum", "out-of-order"):
        assert sum(stats.resyncs.values()) == 1
    else:
        assert stats.reconnects["/ws/v5/public"] == 1


def test_a_demo_key_reads_the_demo_market() -> None:
    stack = Stack(market_data="ws")
    demo_secret = stack.envelope("ticker")["secret_key"] + ",simulate"
    reply = stack.post(stack.envelope("ticker", {"symbol": "BTC_USDT"}, secret_key=demo_secret))
    check(stack, "ticker", reply)
    (seen,) = stack.sim.requests(TICKER)
    assert seen.headers.get("x-simulated-trading") == "1"
    live = stack.ok("ticker", symbol="BTC_USDT")
    check(stack, "ticker", live)
    assert "x-simulated-trading" not in stack.sim.requests(TICKER)[-1].headers
    # okxsim has one market: its demo copy is the live one.
    assert stack.streams is not None
    assert stack.streams.for_demo(True) is stack.streams.live
