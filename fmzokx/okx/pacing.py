# -*- test-case-name: tests.okx.test_pacing -*-
"""
Client-side pacing, so that callers do not see OKX's 50011 under bursts.

Each budget (an endpoint within its OKX scope, see :mod:`fmzokx.okx.limits`) keeps the
send times it has handed out. A caller reserves the earliest time ``t`` such that no
window of the rule's length holds more than ``limit`` sends, then waits until ``t`` on the
injected clock. Reservations are handed out in arrival order (FIFO), so a burst is spread
over the following windows rather than retried by brute force.

The wait is bounded: if the slot lies beyond the call's deadline, or further away than
``max_wait``, the call fails at once with :class:`~fmzokx.okx.errors.OkxTimeout`
(``phase="pacing"``) and nothing is sent. There is no background timer: the state is
updated lazily from ``clock.seconds()`` at each call (a leaky bucket computed on demand).

A small ``guard`` is added to each window: OKX's window and ours are measured on different
clocks and the request takes time to travel, so sending exactly ``limit`` requests in
exactly ``window`` seconds would be on the edge.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from attrs import define, field
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater

from fmzokx.okx.errors import OkxTimeout
from fmzokx.okx.limits import RateRule, Scope
from fmzokx.okx.observe import scope_word

__all__ = ["Pacer", "budget_key"]

BudgetKey = tuple[str, ...]

_PEAK_MINUTES = 60
_PEAK_ENDPOINTS = 64


def _instrument_value(params: Mapping[str, Any] | None, body: object, name: str) -> str:
    if params and params.get(name):
        return str(params[name])
    if isinstance(body, Mapping) and body.get(name):
        return str(body[name])
    if isinstance(body, list) and body and isinstance(body[0], Mapping) and body[0].get(name):
        return str(body[0][name])
    return ""


def budget_key(
    rule: RateRule,
    *,
    identity: str,
    params: Mapping[str, Any] | None = None,
    body: object = None,
) -> BudgetKey:
    """
    Which budget a call draws from.

    :param identity: a log-safe tag for the API key (its fingerprint), ``"anonymous"``
        for unsigned calls. Ignored for per-IP scopes: those are shared by every key.
    """
    base = (rule.method, rule.path)
    if rule.scope is Scope.IP:
        return (*base, "ip")
    if rule.scope is Scope.IP_INST_TYPE:
        return (*base, "ip", _instrument_value(params, body, "instType"))
    if rule.scope is Scope.IP_INST_ID:
        return (*base, "ip", _instrument_value(params, body, "instId"))
    if rule.scope is Scope.USER:
        return (*base, identity)
    return (*base, identity, _instrument_value(params, body, "instId"))


@define
class _Budget:
    limit: int
    window: float
    scope: Scope
    sends: deque[float] = field(factory=deque)

    def prune(self, now: float) -> None:
        while self.sends and self.sends[0] <= now - self.window:
            self.sends.popleft()

    def reserve(self, now: float) -> float:
        """Reserve the earliest permitted send time at or after ``now``."""
        self.prune(now)
        when = now
        if self.sends:
            when = max(when, self.sends[-1])
        if len(self.sends) >= self.limit:
            when = max(when, self.sends[-self.limit] + self.window)
        self.sends.append(when)
        return when

    def release_last(self) -> None:
        self.sends.pop()


@define
class Pacer:
    """
    Paces calls within OKX's published limits.

    :ivar enabled: ``False`` (``--rate-limits off``) lets every call through at once.
    :ivar max_wait: the longest a call may queue for a slot, in seconds.
    :ivar guard: seconds added to each window as a safety margin.
    """

    _clock: IReactorTime
    enabled: bool = True
    max_wait: float = 5.0
    guard: float = 0.1
    _budgets: dict[BudgetKey, _Budget] = field(factory=dict)
    _last_sweep: float = 0.0
    # (scope word, path) -> the last hour's per-minute peaks, for the status page:
    # (minute, most sends held in one budget's window, that budget's limit). Bounded:
    # at most _PEAK_MINUTES entries per endpoint and _PEAK_ENDPOINTS endpoints.
    _peaks: dict[tuple[str, str], deque[tuple[int, int, int]]] = field(factory=dict)
    _windows: dict[tuple[str, str], float] = field(factory=dict)

    def reserve(self, rule: RateRule, key: BudgetKey) -> float:
        """
        Reserve a send slot and return how many seconds to wait for it (``0.0`` if now).
        """
        if not self.enabled:
            return 0.0
        now = self._clock.seconds()
        self._sweep(now)
        budget = self._budgets.get(key)
        if budget is None:
            budget = self._budgets[key] = _Budget(
                rule.limit, rule.window + self.guard, rule.scope
            )
        when = budget.reserve(now)
        self._note_peak(budget, key, now)
        return max(0.0, when - now)

    def _note_peak(self, budget: _Budget, key: BudgetKey, now: float) -> None:
        name = (scope_word(budget.scope), key[1] if len(key) > 1 else "")
        peaks = self._peaks.get(name)
        if peaks is None:
            if len(self._peaks) >= _PEAK_ENDPOINTS:
                return
            peaks = self._peaks[name] = deque(maxlen=_PEAK_MINUTES)
            self._windows[name] = round(budget.window - self.guard, 3)
        minute, used = int(now // 60), len(budget.sends)
        if peaks and peaks[-1][0] == minute:
            _, held, limit = peaks[-1]
            if used / budget.limit <= held / limit:
                return
            peaks.pop()
        peaks.append((minute, used, budget.limit))

    def release(self, key: BudgetKey) -> None:
        """Give back the slot most recently reserved for ``key`` (the call was not sent)."""
        budget = self._budgets.get(key)
        if budget is not None and budget.sends:
            budget.release_last()

    async def acquire(
        self,
        rule: RateRule,
        key: BudgetKey,
        *,
        deadline: float,
        method: str = "",
        path: str = "",
    ) -> float:
        """
        Wait for a slot in ``key``'s budget; return how many seconds that took.

        :param deadline: the call's absolute deadline on the injected clock.
        :raises OkxTimeout: (``phase="pacing"``) when the slot is later than the deadline
            or more than ``max_wait`` away; the slot is given back and nothing is sent.
        """
        wait = self.reserve(rule, key)
        if wait <= 0:
            return 0.0
        now = self._clock.seconds()
        if wait > self.max_wait or now + wait >= deadline:
            self.release(key)
            raise OkxTimeout(
                "pacing",
                min(self.max_wait, max(0.0, deadline - now)),
                path=path,
                method=method,
            )
        await deferLater(self._clock, wait)
        return wait

    def _sweep(self, now: float) -> None:
        """Forget budgets that have been idle for a while, so per-instrument keys do not pile up."""
        if now - self._last_sweep < 60.0:
            return
        self._last_sweep = now
        for key in [k for k, b in self._budgets.items() if not b.sends or b.sends[-1] < now - 60]:
            del self._budgets[key]

    def usage(self) -> list[dict[str, Any]]:
        """
        For the status page: per endpoint used in the last hour, the most used of its
        budgets -- ``scope`` (the kind of limit, see
        :func:`fmzokx.okx.observe.scope_word`), ``path``, ``used`` sends in the window
        now, ``limit``, ``window_s``, and the peak use over the last 5 and 60 minutes
        (``peak_5m``/``peak_60m``, sends in one window). Which key or instrument a budget
        belongs to is not said.
        """
        now = self._clock.seconds()
        minute = int(now // 60)
        busiest: dict[tuple[str, str], dict[str, Any]] = {}
        for name, peaks in self._peaks.items():
            recent = [(used, limit) for at, used, limit in peaks if at > minute - 60]
            if not recent:
                continue
            last_five = [(u, lim) for at, u, lim in peaks if at > minute - 5]
            top = max(recent, key=lambda pair: pair[0] / pair[1])
            top_five = max(last_five, key=lambda pair: pair[0] / pair[1], default=(0, top[1]))
            busiest[name] = {
                "scope": name[0],
                "path": name[1],
                "used": 0,
                "limit": top[1],
                "window_s": self._windows.get(name),
                "peak_5m": top_five[0],
                "peak_60m": top[0],
            }
        for key, budget in self._budgets.items():
            budget.prune(now)
            if not budget.sends:
                continue
            path = key[1] if len(key) > 1 else ""
            scope = scope_word(budget.scope)
            used = len(budget.sends)
            current = busiest.setdefault(
                (scope, path),
                {"scope": scope, "path": path, "used": 0, "limit": budget.limit,
                 "peak_5m": 0, "peak_60m": 0},
            )
            current["window_s"] = round(budget.window - self.guard, 3)
            if used / budget.limit > current["used"] / current["limit"]:
                current.update(used=used, limit=budget.limit)
        return sorted(
            busiest.values(), key=lambda r: (-r["peak_60m"] / r["limit"], r["scope"], r["path"])
        )

    def window_counts(self) -> dict[BudgetKey, int]:
        """How many sends each budget holds in its current window (for metrics and tests)."""
        now = self._clock.seconds()
        counts = {}
        for key, budget in self._budgets.items():
            budget.prune(now)
            counts[key] = len(budget.sends)
        return counts
