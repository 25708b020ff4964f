# -*- test-case-name: tests.sim.test_ratelimit -*-
"""
OKX's published REST rate limits, enforced with sliding two-second windows.

Limits are per IP for public endpoints, per user for private ones, and per user and
instrument for placing and cancelling orders; over the limit OKX answers 50011 with
HTTP 429. Windows are measured on the injected clock, so tests can step through them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from attrs import define, field, frozen
from twisted.internet.interfaces import IReactorTime

__all__ = ["RULES", "RateLimiter", "Rule"]


@frozen
class Rule:
    """At most ``limit`` requests per ``window`` seconds, counted per ``scope``."""

    limit: int
    scope: str  # "ip", "ip+inst", "ip+instType", "user", "user+inst"
    window: float = 2.0


#: Published limits (okx-api.md §3); unlisted endpoints get :data:`DEFAULT_PUBLIC` or
#: :data:`DEFAULT_PRIVATE`.
RULES: dict[str, Rule] = {
    "/api/v5/public/time": Rule(10, "ip"),
    "/api/v5/public/instruments": Rule(20, "ip+instType"),
    "/api/v5/public/funding-rate": Rule(10, "ip+inst"),
    "/api/v5/public/funding-rate-history": Rule(10, "ip+inst"),
    "/api/v5/market/ticker": Rule(20, "ip"),
    "/api/v5/market/tickers": Rule(20, "ip"),
    "/api/v5/market/books": Rule(40, "ip"),
    "/api/v5/market/trades": Rule(100, "ip"),
    "/api/v5/market/history-trades": Rule(20, "ip"),
    "/api/v5/market/candles": Rule(40, "ip"),
    "/api/v5/market/history-candles": Rule(20, "ip"),
    "/api/v5/account/balance": Rule(10, "user"),
    "/api/v5/account/positions": Rule(10, "user"),
    "/api/v5/account/positions-history": Rule(10, "user"),
    "/api/v5/account/config": Rule(5, "user"),
    "/api/v5/account/set-position-mode": Rule(5, "user"),
    "/api/v5/account/set-leverage": Rule(20, "user"),
    "/api/v5/account/leverage-info": Rule(20, "user"),
    "/api/v5/trade/order": Rule(60, "user+inst"),
    "/api/v5/trade/batch-orders": Rule(300, "user+inst"),
    "/api/v5/trade/cancel-order": Rule(60, "user+inst"),
    "/api/v5/trade/cancel-batch-orders": Rule(300, "user+inst"),
    "/api/v5/trade/amend-order": Rule(60, "user+inst"),
    "/api/v5/trade/amend-batch-orders": Rule(300, "user+inst"),
    "/api/v5/trade/close-position": Rule(20, "user+inst"),
    "/api/v5/trade/orders-pending": Rule(60, "user"),
    "/api/v5/trade/orders-history": Rule(40, "user"),
    "/api/v5/trade/orders-history-archive": Rule(20, "user"),
    "/api/v5/trade/fills": Rule(60, "user"),
    "/api/v5/trade/fills-history": Rule(10, "user"),
    "/api/v5/account/trade-fee": Rule(5, "user"),
    "/api/v5/account/bills": Rule(5, "user", 1.0),
    "/api/v5/account/bills-archive": Rule(5, "user", 2.0),
    "/api/v5/account/max-size": Rule(20, "user"),
    "/api/v5/account/max-avail-size": Rule(20, "user"),
    "/api/v5/asset/currencies": Rule(6, "user", 1.0),
    "/api/v5/asset/balances": Rule(6, "user", 1.0),
    "/api/v5/public/mark-price": Rule(10, "ip+inst"),
    "/api/v5/public/price-limit": Rule(20, "ip"),
    "/api/v5/public/open-interest": Rule(20, "ip"),
    "/api/v5/public/underlying": Rule(20, "ip"),
    "/api/v5/system/status": Rule(1, "ip", 5.0),
}
DEFAULT_PUBLIC = Rule(20, "ip")
DEFAULT_PRIVATE = Rule(20, "user")
#: GET /trade/order shares its path with POST; it is limited per user and instrument.
ORDER_DETAILS = Rule(60, "user+inst")


@define
class RateLimiter:
    """
    Sliding-window counters keyed by (path, scope key); ``enabled=False`` lets all through.
    """

    clock: IReactorTime
    enabled: bool = True
    _hits: dict[tuple[str, str], deque[float]] = field(factory=dict)

    def allow(self, path: str, rule: Rule, key: str, cost: int = 1) -> bool:
        """Record ``cost`` requests for ``key`` on ``path`` if within ``rule``; else False."""
        return self.allow_all(path, rule, [(key, cost)])

    def allow_all(self, path: str, rule: Rule, costs: Sequence[tuple[str, int]]) -> bool:
        """
        Record each ``(key, cost)`` if every one fits within ``rule``; record none otherwise
        (a batch over several instruments is refused or admitted whole).
        """
        if not self.enabled:
            return True
        now = self.clock.seconds()
        windows = []
        for key, cost in costs:
            hits = self._hits.setdefault((path, key), deque())
            while hits and hits[0] <= now - rule.window:
                hits.popleft()
            if len(hits) + cost > rule.limit:
                return False
            windows.append((hits, cost))
        for hits, cost in windows:
            hits.extend([now] * cost)
        return True

    def reset(self) -> None:
        """Forget every window."""
        self._hits.clear()
