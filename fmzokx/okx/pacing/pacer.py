# -*- test-case-name: tests.okx.test_pacing -*-
"""
Client-side pacing, so that callers do not see OKX's 50011 under bursts.

Each budget (an endpoint within its OKX scope, see :mod:`fmzokx.okx.pacing.limits`) keeps the
send times it has handed out. A caller reserves the earliest time ``t`` such that no
window of the rule's length holds more than ``limit`` sends, and is let through at ``t``.
The state is updated lazily from ``clock.seconds()`` at each call (a leaky bucket
computed on demand); only a budget with callers waiting has a timer.

**Order.** Callers waiting in one budget are let through by that budget's one timer,
strictly in arrival order (FIFO), and a caller arriving while others wait queues behind
them even if its own slot is now. One timer per waiter would not do: a reactor does not
promise to run timers due at the same moment in the order they were set. So two writes
for one instrument reach the connection in the order they arrived.

**Deadline.** The wait is bounded by the call's own deadline and decided up front: a slot
that leaves less than ``reply_time`` seconds before the deadline is refused at once with
:class:`~fmzokx.okx.errors.OkxTimeout` (``phase="pacing"``) naming OKX's limit, the slot
is given back and nothing is sent. A caller that gives up while waiting keeps its slot
reserved (a wasted slot is harmless; handing it to a later caller would break the order).
A timer the reactor runs late lets its caller through late, counted from then, and so
moves the callers behind it by as much: the ``reply_time`` each kept to spare absorbs
that (milliseconds); a caller is never refused after it has waited.

A small ``guard`` is added to each window: OKX's window and ours are measured on different
clocks and the request takes time to travel, so sending exactly ``limit`` requests in
exactly ``window`` seconds would be on the edge.

**Answered sends.** OKX counts a request when it arrives, somewhere between the moment
it was let through and the moment its answer came back; a request that waited for a
connection, or travelled slowly, arrives later than its slot. So once a call is
answered (or fails), its send is counted from the answer instead (:meth:`Pacer.settle`),
and a waiter is let through only if the window before it still has room by those
counts: otherwise it waits for it. Slow answers then cost this budget a little
throughput rather than a 50011 (three pollers on the balance once drew one, a soak three
on the positions). Budgets taken from Redis keep the reserved times.

**Shared budgets.** With ``--shared-state`` (:mod:`fmzokx.okx.pacing.shared`), the
account and account+instrument budgets (and the per-IP ones with ``--shared-ip``) are
taken from Redis, shared by every daemon on the account, instead of from this process's
own windows. The order rule still holds: a caller takes its place in the budget's queue
on arrival, before Redis answers, and is let through only after everyone ahead of it.

Budgets are keyed by things callers choose (an API key, an instrument, a pass-through
path), so they are bounded twice: budgets idle for a minute are swept, and at most
``max_budgets`` exist at once -- one more evicts the budget used longest ago, whose
window has almost always lapsed (an adversarial mix of keys and paths once grew this
table by thousands of entries a second).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from itertools import islice
from typing import Any, Protocol

from attrs import define, field
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime

from fmzokx.okx.errors import OkxTimeout
from fmzokx.okx.pacing.limits import RateRule, Scope
from fmzokx.okx.rest.observe import scope_word

__all__ = [
    "MAX_BUDGETS",
    "PRIVATE_SCOPES",
    "Pacer",
    "SharedSlot",
    "SlotSource",
    "budget_key",
    "describe_limit",
]

MAX_BUDGETS = 10_000
"""The most budgets kept at once (each ~1 KB): far above the keys x instruments in use."""

BudgetKey = tuple[str, ...]

PRIVATE_SCOPES = frozenset({Scope.USER, Scope.USER_INST_ID})
"""The scopes every daemon on one account shares (the IP ones only behind one address)."""


class SharedSlot(Protocol):
    """A slot from a shared budget: reserved (``taken``) or not, ``wait`` seconds away."""

    @property
    def taken(self) -> bool: ...

    @property
    def wait(self) -> float: ...


class SlotSource(Protocol):
    """A budget shared with other daemons (:class:`fmzokx.okx.pacing.shared.slots.SharedSlots`)."""

    async def reserve(self, rule: RateRule, key: BudgetKey, *, max_wait: float) -> SharedSlot:
        """Reserve the next slot unless it is more than ``max_wait`` seconds away."""
        ...


# Timers may fire a hair before the float they were set for (now + (t - now) != t).
_DUE = 1e-6

_SCOPE_WORDS = {
    Scope.IP: "per IP address",
    Scope.IP_INST_TYPE: "per IP address and instType",
    Scope.IP_INST_ID: "per IP address and instrument",
    Scope.USER: "per account",
    Scope.USER_INST_ID: "per account and instrument",
}


def describe_limit(rule: RateRule) -> str:
    """OKX's limit in words, for error text: ``"10 per 2 s per account"``."""
    return f"{rule.limit} per {rule.window:g} s {_SCOPE_WORDS[rule.scope]}"

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


@define(eq=False)
class _Waiter:
    """
    A caller queued for its slot at ``when``; ``ready`` fires when it may send. ``when``
    is ``None`` while a shared budget has not answered yet: the place is held. ``local``:
    ``when`` is an entry of the budget's own ``sends`` (not a shared slot).
    """

    when: float | None
    ready: Deferred[None]
    local: bool = False


@define
class _Budget:
    limit: int
    window: float
    scope: Scope
    sends: deque[float] = field(factory=deque)
    waiting: deque[_Waiter] = field(factory=deque)
    timer: IDelayedCall | None = None
    #: sends let through and not answered yet, as (slot, the call's deadline): OKX may
    #: count one at any moment until its answer, so each counts as sent "now"
    flying: list[tuple[float, float]] = field(factory=list)

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

    def move(self, old: float, new: float) -> None:
        """
        Count the send recorded at ``old`` at ``new`` instead; if it has left the
        window already (it was in flight that long), count it again at ``new``.
        """
        sends = self.sends
        index = bisect_left(sends, old)
        if index < len(sends) and sends[index] == old:
            del sends[index]
        insort(sends, new)

    def room_at(self, now: float, own: float) -> float:
        """
        The earliest time at or after ``now`` at which a send counted at ``own`` fits
        the window behind it: the sends counted at or before ``now`` (answered ones
        at their answer), other than itself, within one window.
        """
        self.land(now)
        sends = self.sends
        end = bisect_right(sends, now)
        start = bisect_right(sends, now - self.window, 0, end)
        mine = 1 if now - self.window < own <= now else 0
        if end - start - mine + len(self.flying) < self.limit:
            return now  # room even if every send in flight were outside the window
        before = list(islice(sends, start, end))
        if mine:
            before.remove(own)  # its own entry is no send ahead of it
        # A send still in flight counts whatever its slot (OKX counts it when it arrives,
        # which may be now); only answered sends can leave the window.
        for slot, _ in self.flying:
            index = bisect_left(before, slot)
            if index < len(before) and before[index] == slot:
                del before[index]
        held = len(before) + len(self.flying)
        if held < self.limit:
            return now
        excess = held - self.limit
        if excess < len(before):
            return before[excess] + self.window  # the oldest answered ones must leave first
        # Too many in flight: room comes a window after their answers, not before.
        return now + self.window

    def fly(self, slot: float, deadline: float) -> None:
        """A send let through at ``slot`` is on its way (until :meth:`landed`)."""
        self.flying.append((slot, deadline))

    def landed(self, slot: float) -> None:
        """The send let through at ``slot`` was answered or failed."""
        for index, (flying, _) in enumerate(self.flying):
            if flying == slot:
                del self.flying[index]
                return

    def land(self, now: float) -> None:
        """
        Sends still in flight past their call's deadline were given up (the call ended):
        count each at that deadline, the latest it can have gone, and stop holding it.
        """
        if not self.flying:
            return
        for slot, deadline in [entry for entry in self.flying if entry[1] <= now]:
            self.flying.remove((slot, deadline))
            self.move(slot, deadline)

    @property
    def busy(self) -> bool:
        """Callers are waiting here, or sends are in flight (never forget such a budget)."""
        return bool(self.waiting or self.flying)


@define
class Pacer:
    """
    Paces calls within OKX's published limits.

    :ivar enabled: ``False`` (``--rate-limits off``) lets every call through at once.
    :ivar guard: seconds added to each window as a safety margin.
    :ivar max_budgets: the most budgets kept at once (least recently used out first).
    :ivar reply_time: seconds a slot must leave before the call's deadline to be worth
        taking: a call sent on the edge of its deadline would only time out (and a write
        would end with an unknown outcome).
    :ivar shared: where the budgets of :attr:`shared_scopes` come from when several
        daemons share them (``--shared-state``); ``None``: this process's own windows.
    """

    _clock: IReactorTime
    enabled: bool = True
    guard: float = 0.1
    reply_time: float = 0.5
    max_budgets: int = MAX_BUDGETS
    shared: SlotSource | None = None
    shared_scopes: frozenset[Scope] = PRIVATE_SCOPES
    _budgets: OrderedDict[BudgetKey, _Budget] = field(factory=OrderedDict)
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
        budget = self._budget(rule, key, now)
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
        on_slot: Callable[[float], None] | None = None,
    ) -> float:
        """
        Wait for a slot in ``key``'s budget, behind everyone already waiting there; return
        how many seconds the slot was away.

        :param on_slot: told the slot's recorded time when the caller may send (give it
            to :meth:`settle` with the answer's time); not for shared budgets.

        :param deadline: the call's absolute deadline on the injected clock.
        :raises OkxTimeout: (``phase="pacing"``) at once when the slot would leave less
            than :attr:`reply_time` before ``deadline``; the slot is given back and
            nothing is sent. The message names OKX's limit.
        """
        if not self.enabled:
            return 0.0
        if self.shared is not None and rule.scope in self.shared_scopes:
            return await self._acquire_shared(
                self.shared, rule, key, deadline=deadline, method=method, path=path
            )
        now = self._clock.seconds()
        budget = self._budget(rule, key, now)
        reserved = budget.reserve(now)
        when = max(now, reserved)
        self._note_peak(budget, key, now)
        if when <= now and not budget.waiting:
            if budget.room_at(now, reserved) <= now:
                if on_slot is not None:
                    budget.fly(reserved, deadline)
                    on_slot(reserved)
                return 0.0
            when = reserved  # answered sends still fill the window: queue for room
        if when > now and when + self.reply_time > deadline:
            budget.release_last()
            raise OkxTimeout(
                "pacing",
                max(0.0, deadline - now),
                path=path,
                method=method,
                limit=describe_limit(rule),
                next_slot=when - now,
            )
        ready: Deferred[None] = Deferred(lambda d: self._leave(budget, d))
        waiter = _Waiter(when, ready, local=True)
        budget.waiting.append(waiter)
        self._arm(budget, now)
        await ready
        slot = waiter.when if waiter.when is not None else when
        if on_slot is not None:
            budget.fly(slot, deadline)
            on_slot(slot)
        return slot - now

    async def _acquire_shared(
        self,
        shared: SlotSource,
        rule: RateRule,
        key: BudgetKey,
        *,
        deadline: float,
        method: str,
        path: str,
    ) -> float:
        """
        :meth:`acquire` from a shared budget: hold a place in the local queue at once,
        ask the shared budget for a slot, then wait for it behind everyone ahead.
        """
        now = arrived = self._clock.seconds()
        budget = self._budget(rule, key, now)
        ready: Deferred[None] = Deferred(lambda d: self._leave(budget, d))
        waiter = _Waiter(None, ready)
        budget.waiting.append(waiter)
        try:
            slot = await shared.reserve(
                rule, key, max_wait=max(0.0, deadline - now - self.reply_time)
            )
        except BaseException:
            self._forget(budget, waiter)
            raise
        now = self._clock.seconds()
        if not slot.taken:
            self._forget(budget, waiter)
            raise OkxTimeout(
                "pacing",
                max(0.0, deadline - now),
                path=path,
                method=method,
                limit=describe_limit(rule),
                next_slot=slot.wait,
            )
        waiter.when = now + max(0.0, slot.wait)
        # Only for the status page's use figures (this daemon's own sends): the slot
        # itself was decided by the shared budget.
        budget.sends.append(waiter.when)
        self._note_peak(budget, key, now)
        if budget.waiting and budget.waiting[0] is waiter and slot.wait <= 0:
            budget.waiting.popleft()
            self._arm(budget, now)
            return now - arrived
        self._arm(budget, now)
        await ready
        return self._clock.seconds() - arrived

    def _forget(self, budget: _Budget, waiter: _Waiter) -> None:
        """Take ``waiter`` out of the queue (it will not send) and wake the next one."""
        if waiter in budget.waiting:
            budget.waiting.remove(waiter)
        if budget.timer is not None and budget.timer.active():
            budget.timer.cancel()
        budget.timer = None
        self._arm(budget, self._clock.seconds())

    def settle(self, key: BudgetKey, slot: float, answered: float) -> None:
        """
        The send let through at ``slot`` was answered (or failed) at ``answered``: count
        it from then, the latest OKX can have counted it.
        """
        budget = self._budgets.get(key)
        if budget is None:
            return
        budget.landed(slot)
        if answered <= slot:
            return
        if self.shared is not None and budget.scope in self.shared_scopes:
            return
        budget.move(slot, answered)

    def waiting(self, key: BudgetKey) -> int:
        """How many callers are queued in ``key``'s budget now."""
        budget = self._budgets.get(key)
        return len(budget.waiting) if budget is not None else 0

    def _budget(self, rule: RateRule, key: BudgetKey, now: float) -> _Budget:
        self._sweep(now)
        budget = self._budgets.get(key)
        if budget is None:
            budget = self._budgets[key] = _Budget(
                rule.limit, rule.window + self.guard, rule.scope
            )
            self._evict()
        else:
            self._budgets.move_to_end(key)
        return budget

    def _evict(self) -> None:
        """Drop least recently used budgets past :attr:`max_budgets`, never a busy one
        (its waiters would be stranded)."""
        excess = len(self._budgets) - self.max_budgets
        if excess <= 0:
            return
        idle = (key for key, budget in self._budgets.items() if not budget.busy)
        for key in list(islice(idle, excess)):
            del self._budgets[key]

    def _arm(self, budget: _Budget, now: float) -> None:
        """Make sure the budget's timer fires when its first waiter is due."""
        if budget.timer is not None and budget.timer.active():
            return
        budget.timer = None
        if budget.waiting and budget.waiting[0].when is not None:
            delay = max(0.0, budget.waiting[0].when - now)
            budget.timer = self._clock.callLater(delay, self._let_through, budget)

    def _let_through(self, budget: _Budget) -> None:
        """Release every waiter now due, first come first served, then re-arm."""
        budget.timer = None
        now = self._clock.seconds()
        # Each waiter is popped just before it is released: a caller that arrives while
        # this loop runs (from a released caller's code) still finds the rest queued
        # ahead of it.
        while budget.waiting:
            head = budget.waiting[0]
            when = head.when
            if when is None or when > now + _DUE:
                break  # not due, or a shared budget has not answered it yet
            if head.local:
                if when < now:
                    # Queued behind a waiter that had to wait for room, it is let
                    # through later than its slot: it sends now, so it counts now (its
                    # old entry may have left the window, or been pruned).
                    budget.move(when, now)
                    head.when = when = now
                room = budget.room_at(now, when)
                if room > now + _DUE:
                    # Sends ahead were answered late: wait until the window has room.
                    budget.move(when, room)
                    head.when = room
                    break
            budget.waiting.popleft().ready.callback(None)
        self._arm(budget, now)

    def _leave(self, budget: _Budget, ready: Deferred[None]) -> None:
        """A waiter gave up (cancelled): drop it from the queue; its slot stays used."""
        budget.waiting = deque(w for w in budget.waiting if w.ready is not ready)
        if not budget.waiting and budget.timer is not None and budget.timer.active():
            budget.timer.cancel()
            budget.timer = None

    def _sweep(self, now: float) -> None:
        """Forget budgets that have been idle for a while, so per-instrument keys do not pile up."""
        if now - self._last_sweep < 60.0:
            return
        self._last_sweep = now
        for key in [
            k
            for k, b in self._budgets.items()
            if not b.busy and (not b.sends or b.sends[-1] < now - 60)
        ]:
            del self._budgets[key]

    def usage(self) -> list[dict[str, Any]]:
        """
        For the status page: per endpoint used in the last hour, the most used of its
        budgets -- ``scope`` (the kind of limit, see
        :func:`fmzokx.okx.rest.observe.scope_word`), ``path``, ``used`` sends in the window
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
