"""
Client-side pacing within OKX's scoped limits. (Identical reads joining one call, first
come first served per budget and failing fast: ``test_joining``.)
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from fmzokx.okx.errors import OkxTimeout
from fmzokx.okx.pacing.limits import LIMITS, Scope, rule_for
from fmzokx.okx.pacing.pacer import Pacer, budget_key
from fmzokx.sim import DEFAULT_ACCOUNT
from tests.helpers import success_result_of

from .support import CREDS, NOW, OTHER, OTHER_ACCOUNT, RESTING_BUY, Harness, outcome_of

TICKER = "/api/v5/market/ticker"
BTC = {"instId": "BTC-USDT"}
TWO_KEYS = {"accounts": (DEFAULT_ACCOUNT, OTHER_ACCOUNT)}


def max_in_window(times: list[float], window: float) -> int:
    """The most events in any half-open window ``(t - window, t]``."""
    times = sorted(times)
    return max(
        (sum(1 for other in times if t - window < other <= t + 1e-9) for t in times), default=0
    )


def run_all(h: Harness, calls: list[Any], seconds: float = 30.0) -> list[Any]:
    boxes = [outcome_of(h.start(call)) for call in calls]
    h.advance(seconds, step=0.05)
    assert all(boxes), "some calls never finished"
    return [box[0] for box in boxes]


def test_ticker_burst_stays_within_20_per_2s() -> None:
    """
    25 concurrent ticker reads: all succeed, the first 20 go at once, and no 2 s window
    ever holds more than 20 (the 21st waits for the window plus the guard).
    """
    h = Harness(coalesce=False)
    results = run_all(h, [h.client.get(TICKER, BTC) for _ in range(25)])
    assert not any(isinstance(r, Failure) for r in results)
    times = [t - NOW for t in h.times(TICKER)]
    assert len(times) == 25
    assert max_in_window(times, 2.0) <= 20
    assert sum(1 for t in times if t == 0) == 20
    assert min(t for t in times if t > 0) >= 2.0


def test_pacing_off_sends_everything_at_once() -> None:
    """With rate_limits=False (``--rate-limits off``) the burst is not paced."""
    h = Harness(rate_limits=False, coalesce=False, sim_options={"rate_limits": False})
    run_all(h, [h.client.get(TICKER, BTC) for _ in range(25)], 1.0)
    assert h.times(TICKER) == [NOW] * 25


def test_public_budget_is_shared_by_all_keys() -> None:
    """Public endpoints are limited per IP: two API keys draw from one ticker budget."""
    h = Harness(sim_options=TWO_KEYS)
    calls = [
        h.client.get(TICKER, BTC, credentials=CREDS if i % 2 else OTHER) for i in range(30)
    ]
    boxes = [outcome_of(h.start(call)) for call in calls]
    h.advance(0.5)
    assert len(h.times(TICKER)) == 20
    h.advance(5)
    assert all(box and not isinstance(box[0], Failure) for box in boxes)


def test_private_budgets_are_per_key() -> None:
    """
    /account/balance allows 10 per 2 s per user: 10 calls for each of two keys go at
    once, and an 11th for the first key waits for the next window.
    """
    h = Harness(sim_options=TWO_KEYS)
    calls = [
        h.client.get("/api/v5/account/balance", {}, credentials=c)
        for c in [CREDS] * 11 + [OTHER] * 10
    ]
    boxes = [outcome_of(h.start(call)) for call in calls]
    h.advance(0.5)
    assert len(h.times("/api/v5/account/balance")) == 20
    h.advance(2.0)
    assert len(h.times("/api/v5/account/balance")) == 21
    assert all(box and not isinstance(box[0], Failure) for box in boxes)


def test_order_budgets_are_per_key_and_instrument() -> None:
    """Place-order pacing is per user + instrument: 60 BTC and 60 ETH orders go at once."""
    h = Harness()
    path = "/api/v5/trade/order"
    eth = {**RESTING_BUY, "instId": "ETH-USDT", "px": "100", "sz": "0.01"}
    calls = [
        h.client.post(path, body, credentials=CREDS) for body in [RESTING_BUY] * 61 + [eth] * 60
    ]
    boxes = [outcome_of(h.start(call)) for call in calls]
    h.advance(0.5)
    assert len(h.times(path)) == 120
    h.advance(2.0)
    assert len(h.times(path)) == 121
    assert all(box and box[0].items[0].ok for box in boxes)
    assert len(h.sim.state()["orders"]) == 121


def test_wait_is_bounded_by_the_call_deadline() -> None:
    """
    200 ticker reads, joining off, with the default 10 s deadline: those whose slot leaves
    time for a reply are sent (20 per window: at 0, 2.1, 4.2, 6.3 and 8.4 s); the other
    100 fail at once, before any time passes, with OkxTimeout(phase="pacing") naming
    OKX's limit, and are never sent.
    """
    h = Harness(coalesce=False)
    boxes = [outcome_of(h.start(h.client.get(TICKER, BTC))) for _ in range(200)]
    failed_at_once = [box for box in boxes if box and isinstance(box[0], Failure)]
    assert len(failed_at_once) == 100
    assert boxes.index(failed_at_once[0]) == 100
    for box in failed_at_once:
        error = box[0].value
        assert isinstance(error, OkxTimeout)
        assert error.phase == "pacing"
        assert error.limit == "20 per 2 s per IP address"
        assert str(error).startswith(f"GET {TICKER} timed out before it was sent")
        assert "OKX allows 20 per 2 s per IP address" in str(error)
        assert "10.5 s away" in str(error) and "nothing was sent" in str(error)
    h.advance(12)
    assert len(h.times(TICKER)) == 100
    assert all(box and not isinstance(box[0], Failure) for box in boxes[:100])
    assert max(h.times(TICKER)) - NOW == pytest.approx(8.4, abs=0.02)


def spend_ticker_budget(h: Harness) -> None:
    """Send 20 ticker reads for another symbol: the next ticker read waits ~2.1 s."""
    for _ in range(20):
        h.start(h.client.get(TICKER, {"instId": "ETH-USDT"}))
    assert h.count(TICKER) == 20


def test_identical_public_reads_waiting_for_a_slot_share_one_call() -> None:
    """
    Identical unsigned GETs that are all waiting for a slot share one upstream request
    and one result; a read arriving after that request went out sends its own.
    """
    h = Harness()
    spend_ticker_budget(h)
    calls = [h.start(h.client.get(TICKER, BTC)) for _ in range(5)]
    h.advance(2.2)
    results = [success_result_of(call) for call in calls]
    assert h.count(TICKER) == 21
    assert all(r is results[0] for r in results)
    assert [seen.query for seen in h.requests(TICKER)][20:] == [b"instId=BTC-USDT"]
    h.run(h.client.get(TICKER, BTC))
    assert h.count(TICKER) == 22


def test_reads_already_in_flight_are_not_shared() -> None:
    """
    Identical reads (signed or not) whose slot is free are each sent: a caller never gets
    the answer to a request that left before it asked (read-your-writes).
    """
    for path, credentials in (("/api/v5/account/balance", CREDS), (TICKER, None)):
        h = Harness()
        params = {} if credentials else BTC
        h.sim.add_fault(path, "delay", count=3, delay_ms=500)
        calls = [h.client.get(path, params, credentials=credentials) for _ in range(3)]
        results = run_all(h, calls, 1.0)
        assert h.count(path) == 3
        assert all(r.code == "0" for r in results)
        assert len({id(r) for r in results}) == 3


def test_cancelling_one_sharer_leaves_the_others() -> None:
    """One caller giving up on a shared (waiting) read does not cancel it for the rest."""
    h = Harness()
    spend_ticker_budget(h)
    first: Deferred[Any] = Deferred.fromCoroutine(h.client.get(TICKER, BTC))
    second: Deferred[Any] = Deferred.fromCoroutine(h.client.get(TICKER, BTC))
    first.addErrback(lambda f: None)
    first.cancel()
    box = outcome_of(second)
    h.advance(2.5)
    assert box and box[0].data
    assert h.count(TICKER) == 21


def test_pacer_reservations_for_a_burst() -> None:
    """The pure pacer hands out 20 immediate slots, then slots one window (+guard) later."""
    clock = Clock()
    pacer = Pacer(clock)
    rule = rule_for("GET", TICKER, signed=False)
    key = budget_key(rule, identity="anonymous")
    waits = [pacer.reserve(rule, key) for _ in range(25)]
    assert waits[:20] == [0.0] * 20
    assert waits[20:] == [2.1] * 5


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=120),
    limit=st.integers(min_value=1, max_value=30),
)
def test_pacer_never_exceeds_limit_in_any_window(gaps: list[float], limit: int) -> None:
    """For any arrival pattern, sends in any window of the rule's length never exceed the limit."""
    clock = Clock()
    pacer = Pacer(clock)
    rule = rule_for("GET", "/api/v5/unknown", signed=False)
    rule = type(rule)(rule.method, rule.path, limit, rule.scope)
    key = budget_key(rule, identity="anonymous")
    sends = []
    for gap in gaps:
        clock.advance(gap)
        sends.append(clock.seconds() + pacer.reserve(rule, key))
    assert sends == sorted(sends)
    assert max_in_window(sends, rule.window) <= limit


def test_budget_keys_follow_okx_scopes() -> None:
    """Budget keys: per IP ignores the key; per user uses it; per instrument adds instId."""
    ticker = LIMITS[("GET", TICKER)]
    order = LIMITS[("POST", "/api/v5/trade/order")]
    instruments = LIMITS[("GET", "/api/v5/public/instruments")]
    assert ticker.scope is Scope.IP
    assert budget_key(ticker, identity="a") == budget_key(ticker, identity="b")
    assert budget_key(order, identity="a", body={"instId": "BTC-USDT"}) != budget_key(
        order, identity="a", body={"instId": "ETH-USDT"}
    )
    assert budget_key(order, identity="a", body={"instId": "BTC-USDT"}) != budget_key(
        order, identity="b", body={"instId": "BTC-USDT"}
    )
    assert budget_key(instruments, identity="a", params={"instType": "SPOT"}) != budget_key(
        instruments, identity="a", params={"instType": "SWAP"}
    )
    assert LIMITS[("GET", "/api/v5/trade/order")] is not order
    assert rule_for("GET", "/api/v5/asset/balances", signed=True).scope is Scope.USER
