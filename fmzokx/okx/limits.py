# -*- test-case-name: tests.okx.test_pacing -*-
"""
OKX's published REST rate limits, as data.

OKX scopes each endpoint's budget differently (``overview-rate-limits``): public market
data per client **IP** (shared by every API key this daemon serves), private endpoints per
**user** (we key on the API key, the closest thing to OKX's User ID that we can see), and
place/cancel/order-details per **user + instrument**. Some public endpoints are further
split per ``instType`` or ``instId``. Limits are counted per endpoint (method + path), so a
``POST /trade/order`` (place) and a ``GET /trade/order`` (details) have separate budgets.

Values are OKX's 2026 documentation (research note ``okx-api.md`` §3). Endpoints not in the
table get a conservative default of 10 requests per 2 s in the scope implied by whether
the call is signed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from attrs import frozen

__all__ = ["DEFAULT_WINDOW", "LIMITS", "RateRule", "Scope", "rule_for"]

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

LIMITS: Mapping[tuple[str, str], RateRule] = _rules(
    RateRule("GET", f"{_P}/market/ticker", 20, Scope.IP),
    RateRule("GET", f"{_P}/market/tickers", 20, Scope.IP),
    RateRule("GET", f"{_P}/market/books", 40, Scope.IP),
    RateRule("GET", f"{_P}/market/trades", 100, Scope.IP),
    RateRule("GET", f"{_P}/market/history-trades", 20, Scope.IP),
    RateRule("GET", f"{_P}/market/candles", 40, Scope.IP),
    RateRule("GET", f"{_P}/market/history-candles", 20, Scope.IP),
    RateRule("GET", f"{_P}/public/instruments", 20, Scope.IP_INST_TYPE),
    RateRule("GET", f"{_P}/public/time", 10, Scope.IP),
    RateRule("GET", f"{_P}/public/funding-rate", 10, Scope.IP_INST_ID),
    RateRule("GET", f"{_P}/public/funding-rate-history", 10, Scope.IP_INST_ID),
    RateRule("GET", f"{_P}/account/balance", 10, Scope.USER),
    RateRule("GET", f"{_P}/account/positions", 10, Scope.USER),
    RateRule("POST", f"{_P}/account/set-leverage", 20, Scope.USER),
    RateRule("GET", f"{_P}/account/leverage-info", 20, Scope.USER),
    RateRule("POST", f"{_P}/trade/order", 60, Scope.USER_INST_ID),
    RateRule("POST", f"{_P}/trade/cancel-order", 60, Scope.USER_INST_ID),
    RateRule("POST", f"{_P}/trade/amend-order", 60, Scope.USER_INST_ID),
    RateRule("GET", f"{_P}/trade/order", 60, Scope.USER_INST_ID),
    RateRule("GET", f"{_P}/trade/orders-pending", 60, Scope.USER),
    RateRule("GET", f"{_P}/trade/orders-history", 40, Scope.USER),
    RateRule("GET", f"{_P}/trade/orders-history-archive", 20, Scope.USER),
)

#: Budget for endpoints missing from :data:`LIMITS`.
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
