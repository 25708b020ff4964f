# -*- test-case-name: tests.okx.sharedbudget.test_slots,tests.okx.sharedbudget.test_redis -*-
"""
Send slots from a budget shared by several daemons, and what to do when it is away.

:class:`SharedSlots` takes each slot from Redis with one script call
(:mod:`~fmzokx.okx.pacing.shared.script`), bounded by a short deadline (50 ms by
default; :mod:`~fmzokx.okx.pacing.shared.patience` keeps a daemon busy with a burst from
mistaking itself for a slow Redis). When Redis does not answer in time, has no
connection, or refuses the script, the daemon is **degraded**: it logs that once, and
paces every budget on its local share, ``floor(limit / hosts)``
(:mod:`~fmzokx.okx.pacing.shared.localshare`), without asking Redis again per call. A
probe every ``probe_interval`` seconds (and at once when the connection comes back)
pings Redis; when it answers in time, the sends made locally are written into the
shared windows ("carried") and the daemon takes its slots from Redis again, logging
that once.

What this guarantees, with ``hosts`` set to the number of daemons sharing one account:

* all daemons on the shared budget: at most OKX's limit per window, as one daemon;
* all degraded (Redis down): ``hosts × floor(limit / hosts)``, which is at most the
  limit;
* switching: a daemon going local waits until the slots it was handed by Redis have
  left their window (it cannot know the others' slots beyond that); coming back, it
  carries its local sends into Redis, and for ``recovery_grace`` seconds leaves the
  other daemons' shares free in the shared budget, since they come back one by one.

What it cannot guarantee: while *some* daemons reach Redis and others do not (a
network partition around one host), the cut-off daemons' local shares come on top of
the shared budget. OKX then answers 50011 for some calls: reads are retried after a
pause, and a refused write is reported as refused (nothing was placed).

:meth:`SharedSlots.snapshot` is the state for ``/healthz`` and the status page.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from attrs import define, field, frozen
from twisted.internet.defer import CancelledError, Deferred, ensureDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from fmzokx.logs import logger
from fmzokx.okx.pacing.limits import RateRule
from fmzokx.okx.pacing.shared.connection import RedisUnavailable
from fmzokx.okx.pacing.shared.localshare import LocalShare, share_of
from fmzokx.okx.pacing.shared.metrics import SharedStateMetrics
from fmzokx.okx.pacing.shared.patience import SharedStateTimeout, patiently
from fmzokx.okx.pacing.shared.script import (
    RESERVE_SCRIPT,
    Reply,
    Script,
    budget_redis_key,
    reserve_args,
)

__all__ = ["SharedSlots", "Slot", "SlotStore"]

log = logger(__name__)

BudgetKey = tuple[str, ...]

_SWEEP_EVERY = 60.0
MAX_BUDGETS = 10_000
"""The most budgets remembered per table (keys are partly chosen by callers)."""

K = TypeVar("K")
V = TypeVar("V")


def _put(table: dict[K, V], key: K, value: V) -> None:
    """Set ``key`` as the newest entry; past :data:`MAX_BUDGETS` forget the oldest."""
    table.pop(key, None)
    table[key] = value
    while len(table) > MAX_BUDGETS:
        del table[next(iter(table))]


class SlotStore(Protocol):
    """What :class:`SharedSlots` needs of a Redis connection (see ``RedisConnection``)."""

    on_ready: Callable[[], None] | None
    last_error: str

    @property
    def ready(self) -> bool: ...

    def run(self, script: Script, keys: Sequence[str], args: Sequence[str]) -> Deferred[Any]: ...

    def ping(self) -> Deferred[Any]: ...

    def drop(self) -> None: ...


@frozen
class Slot:
    """
    The answer to one slot request.

    :ivar taken: the slot is reserved; send after ``wait`` seconds. ``False``: it was
        further away than the caller may wait, and nothing was reserved.
    :ivar wait: seconds from now until the slot.
    :ivar shared: the slot came from Redis (``False``: from the local share).
    """

    taken: bool
    wait: float
    shared: bool


def _reason(error: BaseException) -> str:
    if isinstance(error, SharedStateTimeout):
        return "timeout"
    if isinstance(error, RedisUnavailable):
        return "unavailable"
    if isinstance(error, ValueError):
        return "malformed"
    return "refused"


@define(eq=False)
class SharedSlots:
    """
    Slot-taking for budgets shared through Redis, degrading to local shares.

    :ivar hosts: how many daemons share the budgets (``--shared-hosts``); each takes
        ``floor(limit / hosts)`` when degraded.
    :ivar namespace: prefix of every Redis key, so several desks can share one Redis.
    :ivar call_deadline: the longest a call waits for Redis's answer, in seconds.
    :ivar probe_interval: seconds between pings while degraded.
    :ivar recovery_grace: seconds after coming back during which the other daemons'
        local shares are kept free in the shared budget (they come back one by one,
        each within a probe interval plus a reconnection backoff).
    :ivar guard: seconds added to each window, as the local pacer does.
    :ivar where: the Redis URL with the password masked, for logs and the status page.
    """

    clock: IReactorTime
    store: SlotStore
    hosts: int = 2
    namespace: str = "fmzokx"
    call_deadline: float = 0.05
    probe_interval: float = 0.5
    recovery_grace: float = 5.0
    guard: float = 0.1
    where: str = ""
    metrics: SharedStateMetrics | None = None
    member_prefix: str = field(factory=lambda: os.urandom(6).hex())
    degraded: bool = field(default=True, init=False)
    reason: str = field(default="connecting", init=False)
    since: float | None = field(default=None, init=False)
    fallbacks: int = field(default=0, init=False)
    shared_slots: int = field(default=0, init=False)
    local_slots: int = field(default=0, init=False)
    carried: int = field(default=0, init=False)
    last_round_trip: float | None = field(default=None, init=False)
    _local: dict[BudgetKey, LocalShare] = field(factory=dict, init=False)
    _tails: dict[BudgetKey, tuple[float, float]] = field(factory=dict, init=False)
    _blocked: dict[BudgetKey, float] = field(factory=dict, init=False)
    _sequence: Any = field(factory=itertools.count, init=False)
    _probe: LoopingCall | None = field(default=None, init=False)
    _probing: bool = field(default=False, init=False)
    _slow_probes: int = field(default=0, init=False)
    _last_sweep: float = field(default=0.0, init=False)
    _last_answer: float = field(default=float("-inf"), init=False)
    _back_at: float | None = field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        if self.hosts < 1:
            raise ValueError("hosts must be at least 1")
        if self.call_deadline <= 0:
            raise ValueError("call_deadline must be positive")

    # -- life ------------------------------------------------------------------------

    def start(self) -> None:
        """Begin on the local shares until Redis answers; probe until it does."""
        self.since = self.clock.seconds()
        self.store.on_ready = self.poke
        if self.metrics is not None:
            self.metrics.set_degraded(True)
        log.info(
            "shared rate budget at {where}: pacing on this daemon's share (1/{hosts} of "
            "each budget) until Redis answers",
            where=self.where, hosts=self.hosts,
        )
        self._start_probe()

    def stop(self) -> None:
        """Stop probing."""
        self.store.on_ready = None
        self._stop_probe()

    # -- taking slots ----------------------------------------------------------------

    async def reserve(self, rule: RateRule, key: BudgetKey, *, max_wait: float) -> Slot:
        """
        Reserve the next send slot of ``key``'s budget (OKX's ``rule``), from Redis, or
        from the local share while degraded.

        Waits on Redis for :attr:`call_deadline` once Redis stops showing signs of life
        (:mod:`.patience`), then paces locally. ``max_wait`` is the longest the caller may
        wait for the slot; a slot further away is not reserved.
        """
        window = rule.window + self.guard
        now = self.clock.seconds()
        self._sweep(now)
        if not self.degraded:
            slot = await self._shared(rule, key, window, max_wait)
            if slot is not None:
                return slot
        return self._local_slot(rule, key, window, max_wait)

    def _shared_limit(self, rule: RateRule, now: float) -> int:
        """
        The limit to take shared slots under: OKX's, except for :attr:`recovery_grace`
        seconds after coming back from the local share, when the other daemons may not
        be back yet and each may still send its own share: their shares are kept free.
        """
        if self._back_at is None or now - self._back_at >= self.recovery_grace:
            return rule.limit
        share = share_of(rule.limit, self.hosts)
        return max(share, rule.limit - (self.hosts - 1) * share)

    async def _shared(
        self, rule: RateRule, key: BudgetKey, window: float, max_wait: float
    ) -> Slot | None:
        start = self.clock.seconds()
        limit = self._shared_limit(rule, start)
        args = reserve_args(limit, window, max_wait, self._member())
        try:
            reply = Reply.parse(await self._run([budget_redis_key(self.namespace, key)], args))
        except CancelledError:
            raise  # the caller gave up (shutdown): says nothing about Redis
        except Exception as error:
            self._observe(start, "timeout" if isinstance(error, SharedStateTimeout) else "error")
            self._degrade(_reason(error), error)
            return None
        now = self.clock.seconds()
        self._observe(start, "ok")
        if reply.taken:
            self.shared_slots += 1
            if self.degraded:
                # Granted after another call timed out: the local share of this budget
                # must still wait for this slot to leave the window.
                self._block(key, now + reply.wait + window)
            else:
                _put(self._tails, key, (now + reply.wait, window))
        return Slot(taken=reply.taken, wait=reply.wait, shared=True)

    def _block(self, key: BudgetKey, until: float) -> None:
        """The local share of ``key`` may not send before ``until``."""
        _put(self._blocked, key, max(self._blocked.get(key, 0.0), until))
        share = self._local.get(key)
        if share is not None:
            share.not_before = max(share.not_before, until)

    def _local_slot(self, rule: RateRule, key: BudgetKey, window: float, max_wait: float) -> Slot:
        now = self.clock.seconds()
        share = self._local.get(key)
        if share is None:
            share = LocalShare(
                share_of(rule.limit, self.hosts), window, not_before=self._blocked.pop(key, 0.0)
            )
            _put(self._local, key, share)
        taken, wait = share.reserve(now, max_wait)
        if taken:
            self.local_slots += 1
            if self.metrics is not None:
                self.metrics.count_local_slot()
        return Slot(taken=taken, wait=wait, shared=False)

    def _run(self, keys: Sequence[str], args: Sequence[str]) -> Deferred[Any]:
        """The script's answer, or :class:`SharedStateTimeout` (see :mod:`.patience`)."""
        answer = self.store.run(RESERVE_SCRIPT, keys, args)

        def answered(result: object) -> object:
            if not isinstance(result, Failure):
                self._last_answer = self.clock.seconds()
            return result

        answer.addBoth(answered)
        return patiently(
            answer, self.clock, self.call_deadline,
            answered_since=lambda moment: self._last_answer > moment,
        )

    def _member(self) -> str:
        return f"{self.member_prefix}:{next(self._sequence)}"

    def _observe(self, start: float, outcome: str) -> None:
        seconds = self.clock.seconds() - start
        if outcome == "ok":
            self.last_round_trip = seconds
        if self.metrics is not None:
            self.metrics.observe_round_trip(seconds, outcome)

    # -- degrading and recovering ----------------------------------------------------

    def _degrade(self, reason: str, error: BaseException | None = None) -> None:
        if self.degraded:
            return
        now = self.clock.seconds()
        self.degraded, self.reason, self.since = True, reason, now
        self.fallbacks += 1
        # Each budget this daemon drew from Redis stays closed until the newest slot it
        # was handed has left the window: the other daemons' slots up to then are
        # unknown here, so only after that is a local share provably within the limit.
        for key, (tail, window) in self._tails.items():
            if tail + window > now:
                self._block(key, tail + window)
        self._tails.clear()
        if self.metrics is not None:
            self.metrics.set_degraded(True)
            self.metrics.count_fallback(reason)
        log.warn(
            "shared rate budget at {where} unusable ({reason}: {detail}): pacing on this "
            "daemon's share (1/{hosts} of each budget) until it answers again",
            where=self.where, reason=reason, hosts=self.hosts,
            detail=str(error) if error is not None else self.store.last_error,
        )
        self._start_probe()

    def poke(self) -> None:
        """The connection is (back) up: probe now rather than at the next tick."""
        if self.degraded:
            self._probe_once()

    def answered_since(self, moment: float) -> bool:
        """Whether Redis answered a slot request after ``moment`` (clock time)."""
        return self._last_answer > moment

    def check_failed(self, error: BaseException) -> None:
        """A health check (:mod:`.watch`) found Redis unusable: degrade now."""
        self._degrade(_reason(error), error)

    def _start_probe(self) -> None:
        if self._probe is not None and self._probe.running:
            return
        probe = self._probe = LoopingCall(self._probe_once)
        probe.clock = self.clock
        probe.start(self.probe_interval, now=False)

    def _stop_probe(self) -> None:
        if self._probe is not None and self._probe.running:
            self._probe.stop()
        self._probe = None

    def _probe_once(self) -> None:
        if not self.degraded:
            self._stop_probe()
            return
        if self._probing or not self.store.ready:
            return
        self._probing = True
        ensureDeferred(self._try_recover()).addBoth(self._probed)

    def _probed(self, _: object) -> None:
        self._probing = False

    async def _try_recover(self) -> None:
        try:
            await patiently(
                self.store.ping(), self.clock, self.call_deadline,
                answered_since=lambda moment: self._last_answer > moment,
            )
        except SharedStateTimeout:
            # An open connection that stopped answering (a half-open TCP flow, a frozen
            # server): after a few slow pings start over on a fresh one.
            self._slow_probes += 1
            if self._slow_probes >= 3:
                self._slow_probes = 0
                self.store.drop()
            return
        except Exception:
            return
        self._slow_probes = 0
        await self._recover()

    async def _recover(self) -> None:
        """Carry the local sends into Redis, then take slots from it again."""
        now = self.clock.seconds()
        pending = {
            key: share for key, share in self._local.items() if share.recent(now)
        }
        self._local = {}
        self._blocked.clear()
        # Coming out of start-up ("connecting") is no outage: nobody else was cut off.
        self._back_at = None if self.reason == "connecting" else now
        self.degraded = False
        outage = now - (self.since or now)
        self.reason, self.since = "", now
        if self.metrics is not None:
            self.metrics.set_degraded(False)
        self._stop_probe()
        log.info(
            "shared rate budget at {where} in use (after {seconds:.1f} s on the local share)",
            where=self.where, seconds=outage,
        )
        carrying = [
            (key, share, [now - moment for moment in share.recent(now)])
            for key, share in pending.items()
        ]
        # All carries go out at once (one round trip, pipelined), ahead of any slot
        # request that follows on the same connection.
        results = [
            self._run(
                [budget_redis_key(self.namespace, key)],
                reserve_args(1, share.window, -1, self._member(), ages),
            )
            for key, share, ages in carrying
        ]
        failure: BaseException | None = None
        for (_, _, ages), result in zip(carrying, results, strict=True):
            try:
                await result
            except Exception as error:
                failure = failure or error
            else:
                self.carried += len(ages)
        if failure is not None:
            # Back to the local shares, which must count this daemon's recent sends
            # (counting a carried one twice only makes the next window more careful).
            for key, share, _ in carrying:
                self._local.setdefault(key, share)
            self._degrade(_reason(failure), failure)

    # -- housekeeping ----------------------------------------------------------------

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < _SWEEP_EVERY:
            return
        self._last_sweep = now
        for key in [k for k, share in self._local.items() if share.idle(now)]:
            del self._local[key]
        for key in [k for k, (tail, window) in self._tails.items() if tail + window < now]:
            del self._tails[key]
        for key in [k for k, until in self._blocked.items() if until < now]:
            del self._blocked[key]

    def snapshot(self) -> dict[str, Any]:
        """The state for ``/healthz``, ``/metrics`` and the status page (no secrets)."""
        now = self.clock.seconds()
        return {
            "backend": "redis",
            "where": self.where,
            "state": "degraded" if self.degraded else "shared",
            "degraded": self.degraded,
            "reason": self.reason,
            "since_seconds": None if self.since is None else round(now - self.since, 3),
            "connected": self.store.ready,
            "last_error": self.store.last_error,
            "hosts": self.hosts,
            "call_deadline_ms": round(self.call_deadline * 1000, 3),
            "fallbacks": self.fallbacks,
            "shared_slots": self.shared_slots,
            "local_slots": self.local_slots,
            "carried": self.carried,
            "last_round_trip_ms": (
                None if self.last_round_trip is None else round(self.last_round_trip * 1000, 3)
            ),
        }
