# -*- test-case-name: tests.okx.test_pacing,tests.sim.test_limits_agree -*-
"""
OKX's published REST rate limits, as data: the one table both sides of the wire use.

OKX scopes each endpoint's budget differently (``overview-rate-limits``): public market
data per client **IP** (shared by every API key this daemon serves), private endpoints per
**user** (we key on the API key, the closest thing to OKX's User ID that we can see), and
place/cancel/order-details per **user + instrument**. Some public endpoints are further
split per ``instType`` or ``instId``. Limits are counted per endpoint (method + path), so a
``POST /trade/order`` (place) and a ``GET /trade/order`` (details) have separate budgets.

The daemon paces itself by this table (:mod:`fmzokx.okx.pacing.pacer`) and okxsim enforces it
(:mod:`fmzokx.sim.ratelimit`), so the two cannot disagree on an endpoint, a scope or the
default. Values are OKX's 2026 API documentation (the "Rate Limits" overview and the
"Rate limit" line of each endpoint's page). Endpoints not in the table get a conservative default of
:data:`DEFAULT_LIMIT` requests per 2 s in the scope implied by whether the call is signed.
Batch endpoints count orders, not requests, on OKX (and in okxsim); the client paces a
batch as one request.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from attrs import frozen

__all__ = ["DEFAULT_LIMIT", "DEFAULT_WINDOW", "LIMITS", "RateRule", "Scope", "rule_for"]

#: OKX's rate-limit window, in seconds.
DEFAULT_WINDOW = 2.0


class Scope(enum.Enum):
    """Who shares a budget."""

    IP = "ip"
    IP_INST_TYPE = "ip+instType"
    IP_INST_ID = "ip+instId"
    USER = "user"
    USER_INST_ID = "user+instId"

    @property
    def private(self) -> bool:
        """Whether the budget belongs to an API key rather than to this host."""
        return self in (Scope.USER, Scope.USER_INST_ID)


@frozen
class RateRule:
    """``limit`` requests per ``window`` seconds for one endpoint, shared within ``scope``."""

    method: str
    path: str
    limit: int
    scope: Scope
    window: float = DEFAULT_WINDOW


def _rules(*rules: RateRule) -> Mapping[tuple[str, str], RateRule]:
    return {(rule.method, rule.path): rule for rule in rules}


_P = "/api/v5"
_IP, _IP_TYPE, _IP_INST = Scope.IP, Scope.IP_INST_TYPE, Scope.IP_INST_ID
_USER, _USER_INST = Scope.USER, Scope.USER_INST_ID

LIMITS: Mapping[tuple[str, str], RateRule] = _rules(
    # market data: per IP
    RateRule("GET", f"{_P}/market/ticker", 20, _IP),
    RateRule("GET", f"{_P}/market/tickers", 20, _IP),
    RateRule("GET", f"{_P}/market/books", 40, _IP),
    RateRule("GET", f"{_P}/market/trades", 100, _IP),
    RateRule("GET", f"{_P}/market/history-trades", 20, _IP),
    RateRule("GET", f"{_P}/market/candles", 40, _IP),
    RateRule("GET", f"{_P}/market/history-candles", 20, _IP),
    # public data: per IP, some per instrument type or instrument
    RateRule("GET", f"{_P}/public/instruments", 20, _IP_TYPE),
    RateRule("GET", f"{_P}/public/time", 10, _IP),
    RateRule("GET", f"{_P}/public/funding-rate", 10, _IP_INST),
    RateRule("GET", f"{_P}/public/funding-rate-history", 10, _IP_INST),
    RateRule("GET", f"{_P}/public/mark-price", 10, _IP_INST),
    RateRule("GET", f"{_P}/public/price-limit", 20, _IP),
    RateRule("GET", f"{_P}/public/open-interest", 20, _IP),
    RateRule("GET", f"{_P}/public/underlying", 20, _IP),
    RateRule("GET", f"{_P}/system/status", 1, _IP, window=5.0),
    # account: per user
    RateRule("GET", f"{_P}/account/balance", 10, _USER),
    RateRule("GET", f"{_P}/account/positions", 10, _USER),
    RateRule("GET", f"{_P}/account/positions-history", 10, _USER),
    RateRule("GET", f"{_P}/account/config", 5, _USER),
    RateRule("POST", f"{_P}/account/set-position-mode", 5, _USER),
    RateRule("POST", f"{_P}/account/set-leverage", 20, _USER),
    RateRule("GET", f"{_P}/account/leverage-info", 20, _USER),
    RateRule("GET", f"{_P}/account/trade-fee", 5, _USER),
    RateRule("GET", f"{_P}/account/bills", 5, _USER, window=1.0),
    RateRule("GET", f"{_P}/account/bills-archive", 5, _USER),
    RateRule("GET", f"{_P}/account/max-size", 20, _USER),
    RateRule("GET", f"{_P}/account/max-avail-size", 20, _USER),
    RateRule("GET", f"{_P}/asset/currencies", 6, _USER, window=1.0),
    RateRule("GET", f"{_P}/asset/balances", 6, _USER, window=1.0),
    # trading: place/cancel/amend/details per user and instrument, lists per user
    RateRule("POST", f"{_P}/trade/order", 60, _USER_INST),
    RateRule("POST", f"{_P}/trade/batch-orders", 300, _USER_INST),
    RateRule("POST", f"{_P}/trade/cancel-order", 60, _USER_INST),
    RateRule("POST", f"{_P}/trade/cancel-batch-orders", 300, _USER_INST),
    RateRule("POST", f"{_P}/trade/amend-order", 60, _USER_INST),
    RateRule("POST", f"{_P}/trade/amend-batch-orders", 300, _USER_INST),
    RateRule("POST", f"{_P}/trade/close-position", 20, _USER_INST),
    RateRule("GET", f"{_P}/trade/order", 60, _USER_INST),
    RateRule("GET", f"{_P}/trade/orders-pending", 60, _USER),
    RateRule("GET", f"{_P}/trade/orders-history", 40, _USER),
    RateRule("GET", f"{_P}/trade/orders-history-archive", 20, _USER),
    RateRule("GET", f"{_P}/trade/fills", 60, _USER),
    RateRule("GET", f"{_P}/trade/fills-history", 10, _USER),
)

#: Budget for endpoints missing from :data:`LIMITS`, per :data:`DEFAULT_WINDOW`.
DEFAULT_LIMIT = 10


def rule_for(method: str, path: str, *, signed: bool) -> RateRule:
    """
    The rule governing ``method path``; a conservative default for unknown endpoints.
    """
    method = method.upper()
    rule = LIMITS.get((method, path))
    if rule is not None:
        return rule
    return RateRule(method, path, DEFAULT_LIMIT, Scope.USER if signed else Scope.IP)
