"""
Rate limits: OKX's published per-IP, per-user and per-user-and-instrument limits over
sliding two-second windows of the injected clock, answered with 50011 and HTTP 429.
"""

from __future__ import annotations

from fmzokx.okx.pacing.limits import RateRule, Scope
from fmzokx.sim import DEFAULT_ACCOUNT, SimAccount
from fmzokx.sim.ratelimit import RateLimiter

from .support import Harness

TOO_MANY = {"code": "50011", "msg": "Too Many Requests", "data": []}


def test_public_limit_per_ip() -> None:
    """/public/time allows 10 requests per 2 s; the 11th is 429 until the window slides."""
    harness = Harness(rate_limits=True)
    for _ in range(10):
        assert harness.get("/api/v5/public/time", private=False)[0] == 200
    assert harness.get("/api/v5/public/time", private=False) == (429, TOO_MANY)
    harness.clock.advance(1.999)
    assert harness.get("/api/v5/public/time", private=False)[0] == 429
    harness.clock.advance(0.001)
    assert harness.get("/api/v5/public/time", private=False)[0] == 200


def test_window_slides() -> None:
    """Requests leave the window two seconds after they were made, one by one."""
    harness = Harness(rate_limits=True)
    for _ in range(5):
        harness.get("/api/v5/public/time", private=False)
    harness.clock.advance(1)
    for _ in range(5):
        harness.get("/api/v5/public/time", private=False)
    assert harness.get("/api/v5/public/time", private=False)[0] == 429
    harness.clock.advance(1)
    for _ in range(5):
        assert harness.get("/api/v5/public/time", private=False)[0] == 200
    assert harness.get("/api/v5/public/time", private=False)[0] == 429


def test_endpoints_have_separate_limits() -> None:
    """Exhausting /public/time does not affect /market/ticker (20 per 2 s)."""
    harness = Harness(rate_limits=True)
    for _ in range(11):
        harness.get("/api/v5/public/time", private=False)
    for _ in range(20):
        assert harness.get("/api/v5/market/ticker?instId=BTC-USDT", private=False)[0] == 200
    assert harness.get("/api/v5/market/ticker?instId=BTC-USDT", private=False)[0] == 429


def test_private_limit_per_user() -> None:
    """account/balance allows 10 per 2 s per user; another user has its own window."""
    other = SimAccount(key="k2", secret="s2", passphrase="p2")
    harness = Harness(rate_limits=True, accounts=[DEFAULT_ACCOUNT, other])
    for _ in range(10):
        assert harness.get("/api/v5/account/balance")[0] == 200
    assert harness.get("/api/v5/account/balance") == (429, TOO_MANY)
    headers = harness.headers("GET", "/api/v5/account/balance", b"", account=other)
    assert harness.send("GET", "/api/v5/account/balance", None, headers)[0] == 200


def test_order_limit_per_user_and_instrument() -> None:
    """trade/order allows 60 per 2 s per user and instrument."""
    harness = Harness(rate_limits=True)
    order = dict(tdMode="cash", side="buy", ordType="limit", px="30000", sz="0.001")
    for _ in range(60):
        status, body = harness.post("/api/v5/trade/order", dict(order, instId="BTC-USDT"))
        assert (status, body["code"]) == (200, "0")
    status, body = harness.post("/api/v5/trade/order", dict(order, instId="BTC-USDT"))
    assert (status, body) == (429, TOO_MANY)
    status, body = harness.post("/api/v5/trade/order", dict(order, instId="ETH-USDT",
                                                            px="1000"))
    assert (status, body["code"]) == (200, "0")
    assert len(harness.sim.state()["orders"]) == 61


def test_state_counts_refusals_per_endpoint_and_scope() -> None:
    """
    GET /_sim/state shows every 50011 under its endpoint and the budget that had no room
    (the API key, the IP, or key and instrument), so a client's test can prove it never
    earned one; a reset forgets them.
    """
    other = SimAccount(key="k2", secret="s2", passphrase="p2")
    harness = Harness(rate_limits=True, accounts=[DEFAULT_ACCOUNT, other])
    assert harness.sim.state()["rejected"] == {}
    for _ in range(12):
        harness.get("/api/v5/account/balance")
    for _ in range(11):
        harness.get("/api/v5/public/time", private=False)
    order = dict(instId="ETH-USDT", tdMode="cash", side="buy", ordType="limit", px="1000",
                 sz="0.01")
    for _ in range(61):
        harness.post("/api/v5/trade/order", order)
    headers = harness.headers("GET", "/api/v5/account/balance", b"", account=other)
    assert harness.send("GET", "/api/v5/account/balance", None, headers)[0] == 200
    status, state = harness.send("GET", "/_sim/state")
    assert status == 200
    (ip,) = state["rejected"]["GET /api/v5/public/time"]
    assert state["rejected"] == {
        "GET /api/v5/account/balance": {DEFAULT_ACCOUNT.key: 2},
        "GET /api/v5/public/time": {ip: 1},
        "POST /api/v5/trade/order": {f"{DEFAULT_ACCOUNT.key}|ETH-USDT": 1},
    }
    assert ip and state["rejected"] == harness.sim.state()["rejected"]
    harness.send("POST", "/_sim/reset")
    assert harness.sim.state()["rejected"] == {}


def test_auth_is_checked_before_private_limits() -> None:
    """An unauthenticated request is a 401, and does not use up the user's allowance."""
    harness = Harness(rate_limits=True)
    for _ in range(20):
        assert harness.get("/api/v5/account/balance", private=False)[0] == 401
    assert harness.get("/api/v5/account/balance")[0] == 200


def test_limits_off() -> None:
    """With rate limits off nothing is ever throttled."""
    harness = Harness(rate_limits=False)
    for _ in range(50):
        assert harness.get("/api/v5/public/time", private=False)[0] == 200


def test_limiter_costs() -> None:
    """A request costing n counts as n hits and is refused whole when it does not fit."""
    from twisted.internet.task import Clock

    limiter = RateLimiter(Clock())
    rule = RateRule("GET", "p", 5, Scope.USER)
    assert limiter.allow("p", rule, "u", cost=4)
    assert not limiter.allow("p", rule, "u", cost=2)
    assert limiter.allow("p", rule, "u", cost=1)
    assert not limiter.allow("p", rule, "u", cost=1)


def test_batches_are_admitted_or_refused_whole() -> None:
    """A batch spanning instruments is refused if any instrument is over its limit, and
    then counts against none of them."""
    from twisted.internet.task import Clock

    limiter = RateLimiter(Clock())
    rule = RateRule("POST", "p", 3, Scope.USER_INST_ID)
    assert limiter.allow_all("p", rule, [("u|A", 3)])
    assert not limiter.allow_all("p", rule, [("u|B", 2), ("u|A", 1)])
    assert limiter.allow_all("p", rule, [("u|B", 3)])


def test_batch_orders_count_each_order() -> None:
    """batch-orders counts every order against its instrument (300 per 2 s)."""
    harness = Harness(rate_limits=True)
    order = dict(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit", px="30000",
                 sz="0.00001")
    for _ in range(15):
        status, body = harness.post("/api/v5/trade/batch-orders", [order] * 20)
        assert (status, body["code"]) == (200, "0")
    status, body = harness.post("/api/v5/trade/batch-orders", [order])
    assert (status, body) == (429, TOO_MANY)
