"""
okxsim and the daemon agree on OKX's rate limits: one table (fmzokx.okx.pacing.limits), every
endpoint okxsim serves listed in it, the same limit, window, default and scope sharing
on both sides. Reactor-free: the limiter runs on a Clock.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from twisted.internet.task import Clock

from fmzokx.okx.pacing.limits import (
    DEFAULT_LIMIT,
    DEFAULT_WINDOW,
    LIMITS,
    RateRule,
    Scope,
    rule_for,
)
from fmzokx.okx.pacing.pacer import budget_key
from fmzokx.sim.handlers import ROUTES
from fmzokx.sim.ratelimit import RateLimiter, scope_keys

RULES = sorted(LIMITS.values(), key=lambda rule: (rule.path, rule.method))


def served() -> list[tuple[str, str, bool]]:
    """Every (method, path, private) okxsim answers."""
    return [
        (method, path, route.private)
        for path, methods in sorted(ROUTES.items())
        for method, route in sorted(methods.items())
    ]


def request(rule: RateRule, *, user: str = "u1", inst: str = "BTC-USDT") -> dict[str, Any]:
    """Arguments for a request that names ``inst`` the way the endpoint takes it."""
    params = {"instId": inst, "instType": "SPOT"}
    body: Any = None
    if rule.method == "POST":
        body = [{"instId": inst}] if "batch" in rule.path else {"instId": inst}
        params = {}
    return {"private": rule.scope.private, "ip": "10.0.0.1", "user": user, "params": params,
            "body": body}


@pytest.mark.parametrize(("method", "path", "private"), served())
def test_every_served_endpoint_has_its_own_rule(method: str, path: str, private: bool) -> None:
    """The default never stands in for an endpoint okxsim serves, and the scope's side
    (IP or user) matches whether the endpoint needs a key."""
    rule = LIMITS.get((method, path))
    assert rule is not None, f"{method} {path} is served by okxsim but not in LIMITS"
    assert rule.scope.private is private


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: f"{rule.method} {rule.path}")
def test_okxsim_enforces_the_table(rule: RateRule) -> None:
    """``limit`` requests fit in ``window`` seconds, the next is refused, and it fits
    again once the window has slid past the first."""
    clock = Clock()
    limiter = RateLimiter(clock)
    args = request(rule)
    for _ in range(rule.limit):
        assert limiter.admit(rule.method, rule.path, **args)
    assert not limiter.admit(rule.method, rule.path, **args)
    clock.advance(rule.window - 0.001)
    assert not limiter.admit(rule.method, rule.path, **args)
    clock.advance(0.001)
    assert limiter.admit(rule.method, rule.path, **args)


@pytest.mark.parametrize("private", [False, True])
def test_unknown_endpoints_get_the_same_default(private: bool) -> None:
    """An endpoint in neither table gets DEFAULT_LIMIT per DEFAULT_WINDOW on both sides."""
    path = "/api/v5/not/in/the/table"
    rule = rule_for("GET", path, signed=private)
    assert (rule.limit, rule.window) == (DEFAULT_LIMIT, DEFAULT_WINDOW)
    assert rule.scope is (Scope.USER if private else Scope.IP)
    clock = Clock()
    limiter = RateLimiter(clock)
    args = {"private": private, "ip": "10.0.0.1", "user": "u1", "params": {}, "body": None}
    for _ in range(DEFAULT_LIMIT):
        assert limiter.admit("GET", path, **args)
    assert not limiter.admit("GET", path, **args)


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: f"{rule.method} {rule.path}")
def test_client_and_okxsim_share_budgets_alike(rule: RateRule) -> None:
    """Two requests draw from one budget in the client's pacer exactly when okxsim
    counts them under one key (same IP: the daemon is one host)."""
    variants = [request(rule, user=user, inst=inst)
                for user, inst in itertools.product(("u1", "u2"), ("BTC-USDT", "ETH-USDT"))]
    variants.append(dict(request(rule), params={"instId": "BTC-USDT", "instType": "SWAP"}))
    for one, other in itertools.combinations(variants, 2):
        client_shares = budget_key(
            rule, identity=one["user"], params=one["params"], body=one["body"]
        ) == budget_key(rule, identity=other["user"], params=other["params"], body=other["body"])
        sim_keys = [
            scope_keys(rule, ip=v["ip"], user=v["user"], params=v["params"], body=v["body"])
            for v in (one, other)
        ]
        assert client_shares == (sim_keys[0] == sim_keys[1]), (one, other)


def test_scope_names_are_okxs() -> None:
    """One vocabulary: the scopes are OKX's rule names, nothing simulator-specific."""
    assert {scope.value for scope in Scope} == {
        "ip", "ip+instType", "ip+instId", "user", "user+instId"
    }
    assert {rule.scope for rule in RULES} == set(Scope)
