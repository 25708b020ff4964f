# -*- test-case-name: tests.sim.test_ratelimit,tests.sim.test_limits_agree -*-
"""
okxsim's enforcement of OKX's REST rate limits, with sliding windows on the injected clock.

*Which* limit governs an endpoint, over what window and shared by whom, is OKX's
published table in :mod:`fmzokx.okx.pacing.limits` -- the same table the daemon paces itself by,
so the simulator and the client cannot disagree on an endpoint, a scope name or the
default (both describe OKX; the simulator importing the OKX-side table is deliberate).
This module adds what only a server does: count each request under its scope key (a
batch counts once per order, per instrument) and refuse one that does not fit, which
the resource answers with 50011 and HTTP 429. Tests step through windows with the clock.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from attrs import define, field
from twisted.internet.interfaces import IReactorTime

from fmzokx.okx.pacing.limits import RateRule, Scope, rule_for

__all__ = ["RateLimiter", "scope_keys"]


class Window(Protocol):
    """What the limiter needs of a rule: ``limit`` requests per ``window`` seconds."""

    @property
    def limit(self) -> int: ...

    @property
    def window(self) -> float: ...


def scope_keys(
    rule: RateRule, *, ip: str, user: str, params: Mapping[str, Any], body: Any
) -> list[tuple[str, int]]:
    """
    The budgets a request is counted under, with the number of hits in each.

    :param user: the caller's API key (``""`` for a public endpoint).
    :param body: the parsed JSON body; a list (a batch) counts each element against its
        own instrument's budget.
    """
    scope = rule.scope
    if scope is Scope.IP:
        return [(ip, 1)]
    if scope is Scope.IP_INST_ID:
        return [(f"{ip}|{params.get('instId', '')}", 1)]
    if scope is Scope.IP_INST_TYPE:
        return [(f"{ip}|{params.get('instType', '')}", 1)]
    if scope is Scope.USER:
        return [(user, 1)]
    items = body if isinstance(body, list) else [body or params]
    counts: dict[str, int] = {}
    for item in items:
        inst = str(item.get("instId", "")) if isinstance(item, dict) else ""
        counts[inst] = counts.get(inst, 0) + 1
    return [(f"{user}|{inst}", n) for inst, n in counts.items()]


@define
class RateLimiter:
    """
    Sliding-window counters keyed by (endpoint, scope key); ``enabled=False`` lets all
    through.

    :ivar rejected: requests refused, per (endpoint, scope key) that had no room, so a
        test can prove a client never earned a 50011 (see :meth:`rejections`).
    """

    clock: IReactorTime
    enabled: bool = True
    _hits: dict[tuple[str, str], deque[float]] = field(factory=dict)
    rejected: Counter[tuple[str, str]] = field(factory=Counter)

    def admit(
        self,
        method: str,
        path: str,
        *,
        private: bool,
        ip: str,
        user: str,
        params: Mapping[str, Any],
        body: Any,
    ) -> bool:
        """
        Count one request to ``method path`` under OKX's rule for it; ``False`` (and
        nothing counted) when it does not fit.

        :param private: the endpoint needs a key (picks the default scope of an endpoint
            the table does not list).
        """
        rule = rule_for(method, path, signed=private)
        keys = scope_keys(rule, ip=ip, user=user, params=params, body=body)
        return self.allow_all(f"{rule.method} {path}", rule, keys)

    def allow(self, path: str, rule: Window, key: str, cost: int = 1) -> bool:
        """Record ``cost`` requests for ``key`` on ``path`` if within ``rule``; else False."""
        return self.allow_all(path, rule, [(key, cost)])

    def allow_all(self, path: str, rule: Window, costs: Sequence[tuple[str, int]]) -> bool:
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
                self.rejected[(path, key)] += 1
                return False
            windows.append((hits, cost))
        for hits, cost in windows:
            hits.extend([now] * cost)
        return True

    def rejections(self) -> dict[str, dict[str, int]]:
        """Refusals so far as JSON: ``{"GET /api/v5/...": {scope key: count}}``."""
        result: dict[str, dict[str, int]] = {}
        for (path, key), count in sorted(self.rejected.items()):
            result.setdefault(path, {})[key] = count
        return result

    def reset(self) -> None:
        """Forget every window and refusal."""
        self._hits.clear()
        self.rejected.clear()
