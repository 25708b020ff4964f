"""
Bursts within OKX's budget, through the whole daemon (``tests.stack``) against okxsim
with OKX's rate limits enforced on both sides, on a fake clock.

Several strategies on one account poll ``GetAccount``, ``GetOrders`` and tickers in
loops, so their calls arrive together. Every call is answered with data, okxsim never
refuses one with 50011 (its limiter counts every refusal), a read never misses an order
placed before it was asked, and a burst the deadline cannot fit fails at once, naming
OKX's limit, without reaching okxsim.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from fmzokx.metrics import Metrics
from fmzokx.sim.ratelimit import RateLimiter
from tests.stack import KEY, Stack

BALANCE = "/api/v5/account/balance"
TICKER = "/api/v5/market/ticker"
PENDING = "/api/v5/trade/orders-pending"
PLACE = "/api/v5/trade/order"
SYMBOLS = ("BTC_USDT", "ETH_USDT", "LTC_USDT")


def start(stack: Stack, envelopes: list[dict[str, Any]]) -> list[list[Any]]:
    """Send docker calls all at once; each box gets its decoded reply when it comes."""
    return stack.start_all(envelopes)


def finish(stack: Stack, boxes: list[list[Any]], limit: float = 30.0) -> list[Any]:
    """Let fake time pass until every call is answered; return the replies."""
    replies = stack.answers(boxes, limit)
    assert not any(isinstance(reply, Failure) for reply in replies)
    return replies


def upstream(stack: Stack) -> dict[str, int]:
    return dict(stack.sim.request_counts)


def joined(metrics: Metrics, path: str) -> float:
    value = metrics.registry.get_sample_value("fmzokx_upstream_joined_total", {"path": path})
    return 0.0 if value is None else value


@pytest.fixture
def stack() -> Stack:
    stack = Stack(rate_limits=True, metrics=Metrics.create())
    for symbol in SYMBOLS:  # the instrument tables, as a running daemon has them
        stack.ok("ticker", symbol=symbol)
    stack.advance(2.5)
    stack.sim.request_counts.clear()
    return stack


def test_a_burst_of_accounts_and_tickers_is_answered_without_50011(
    stack: Stack, record_property: Any
) -> None:
    """
    40 ``accounts`` for one key (OKX: 10 balance reads per 2 s per account) and 120
    ``ticker`` for three symbols (20 per 2 s per IP), all at once: every call is answered
    with data within one window, okxsim refuses none, and the waiting reads share calls.

    Balance: the first 10 are each sent at once, the 11th waits for the next window and
    the other 29 join it: 11 calls. Ticker: 20 sent at once, then one waiting call per
    symbol that the rest join: 23. (Before joining, 10 of the 40 ``accounts`` failed with
    "took longer than 5 s" and 30 balance calls were sent.)
    """
    metrics = stack.client.metrics
    assert isinstance(metrics, Metrics)
    envelopes = [stack.envelope("accounts") for _ in range(40)]
    envelopes += [
        stack.envelope("ticker", {"symbol": symbol}) for _ in range(40) for symbol in SYMBOLS
    ]
    began = stack.clock.seconds()
    replies = finish(stack, start(stack, envelopes))
    took = stack.clock.seconds() - began
    calls = upstream(stack)
    record_property("upstream_calls", calls)
    record_property("fake_seconds", round(took, 2))
    print(f"\nupstream calls per path: {calls}; answered within {took:.2f} s of fake time")

    assert [reply for reply in replies if "error" in reply] == []
    for reply in replies[:40]:
        assert {row["currency"] for row in reply["data"]} >= {"BTC", "USDT"}
    for reply, symbol in zip(replies[40:], SYMBOLS * 40, strict=True):
        assert reply["data"]["symbol"] == symbol and Decimal(reply["data"]["last"]) > 0
    assert stack.sim.limiter.rejections() == {}
    assert calls == {BALANCE: 11, TICKER: 23}
    assert joined(metrics, BALANCE) == 29
    assert joined(metrics, TICKER) == 97
    assert took < 2.5


def test_okxsim_counts_each_refusal_per_endpoint_and_scope() -> None:
    """
    The counter the tests above rely on can see a refusal: 12 balance reads for one key
    in one window meet okxsim's limit twice, and both are counted under that endpoint
    and key; other keys and endpoints stay at zero. ``reset`` forgets them.
    """
    limiter = RateLimiter(Clock())
    admitted = [
        limiter.admit("GET", BALANCE, private=True, ip="ip", user=KEY, params={}, body=None)
        for _ in range(12)
    ]
    assert admitted == [True] * 10 + [False] * 2
    assert limiter.admit("GET", BALANCE, private=True, ip="ip", user="other", params={}, body=None)
    assert limiter.rejections() == {f"GET {BALANCE}": {KEY: 2}}
    limiter.reset()
    assert limiter.rejections() == {}


def test_an_order_placed_between_two_orders_calls_is_seen_by_the_second(stack: Stack) -> None:
    """
    Read-your-writes. A first ``orders`` is on the wire (okxsim holds its reply 2 s) when
    the strategy places an order; the strategy's next ``orders`` lists it, although an
    identical read was in flight: it sends its own call. Then with the budget for open
    orders spent (60 per 2 s per account), a read that has to wait for its slot, and
    others that join it, still list an order placed before they asked.
    """
    stack.sim.add_fault(PENDING, "delay", count=1, delay_ms=2000)
    last = Decimal(stack.ok("ticker", symbol="BTC_USDT")["data"]["last"])
    price = str((last * Decimal("0.5")).quantize(Decimal("0.1")))
    slow = start(stack, [stack.envelope("orders", {"symbol": "BTC_USDT"})])
    stack.advance(0.1)
    first = stack.place("BTC_USDT", "buy", price, "0.01")
    assert first in [o["id"] for o in stack.ok("orders", symbol="BTC_USDT")["data"]]
    assert finish(stack, slow)[0]["data"] == []

    stack.advance(2.5)
    burst = start(stack, [stack.envelope("orders", {"symbol": "BTC_USDT"}) for _ in range(61)])
    second = stack.place("BTC_USDT", "buy", price, "0.01")
    after = start(stack, [stack.envelope("orders", {"symbol": "BTC_USDT"}) for _ in range(5)])
    before_replies = finish(stack, burst)
    after_replies = finish(stack, after)
    listed = [{o["id"] for o in reply["data"]} for reply in after_replies]
    assert all(ids == {first, second} for ids in listed)
    assert {first} <= {o["id"] for o in before_replies[0]["data"]}
    metrics = stack.client.metrics
    assert isinstance(metrics, Metrics)
    assert joined(metrics, PENDING) == 5
    assert stack.sim.limiter.rejections() == {}


def test_a_burst_the_deadline_cannot_fit_fails_fast_naming_the_limit() -> None:
    """
    30 different balance reads (``__api_`` with a ``ccy`` each) for one key with a 3 s
    deadline: 10 go at once, 10 at 2.1 s (leaving time for the reply), and the last 10
    are answered at once, before any time passes, with an error naming OKX's limit;
    okxsim never sees them.
    """
    stack = Stack(rate_limits=True, timeout=3.0)
    envelopes = [stack.envelope(f"__api_{BALANCE}", {"ccy": f"C{i}"}) for i in range(30)]
    boxes = start(stack, envelopes)
    assert all(boxes[20:]) and not any(boxes[10:20])
    for reply in [box[0] for box in boxes[20:]]:
        message = reply["error"]
        assert f"GET {BALANCE}" in message
        assert "OKX allows 10 per 2 s per account" in message
        assert "nothing was sent" in message
    replies = finish(stack, boxes)
    assert all("error" not in reply for reply in replies[:20])
    assert upstream(stack) == {BALANCE: 20}
    assert stack.sim.limiter.rejections() == {}
    assert Counter("error" in reply for reply in replies) == {False: 20, True: 10}


def test_orders_queued_past_their_exptime_are_sent_with_it_counted_from_the_slot() -> None:
    """
    200 market orders on one instrument at once: OKX allows 60 per 2 s per account and
    instrument, so the last ones wait about 6 s for a slot -- longer than an order's 5 s
    ``expTime``. Each order's ``expTime`` counts from when it is sent, not from when it
    was queued: every order is placed first time, okxsim refuses none as expired (50037),
    and none arrives after its own ``expTime``.
    """
    stack = Stack(rate_limits=True)
    stack.ok("ticker", symbol="BTC_USDT")
    stack.advance(2.5)
    buy = {"symbol": "BTC_USDT", "type": "buy", "price": "-1", "amount": "5"}
    boxes = start(stack, [stack.envelope("trade", buy) for _ in range(200)])
    replies = finish(stack, boxes)
    assert all("data" in reply for reply in replies), [r for r in replies if "error" in r][:3]
    posts = [seen for seen in stack.sim.requests(PLACE) if seen.method == "POST"]
    assert len(posts) == 200 and len(stack.sim.state()["orders"]) == 200
    assert max(seen.at for seen in posts) - min(seen.at for seen in posts) > 5.0
    assert all(int(seen.headers["exptime"]) >= seen.at * 1000 for seen in posts)
    assert stack.sim.limiter.rejections() == {}
