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

Every script call also tells Redis that this daemon is present (a heartbeat every
``presence_ttl / 4`` seconds keeps an idle one present). The script keeps the share of
each of ``hosts`` daemons not heard from for ``presence_ttl`` free: such a daemon may be
pacing on its local share (cut off, frozen, starting, or not running at all).

What this guarantees, with ``hosts`` set to the number of daemons sharing one account:

* all daemons on the shared budget: at most OKX's limit per window, as one daemon;
* all degraded (Redis down or frozen): ``hosts × floor(limit / hosts)``, which is at
  most the limit;
* switching: a daemon going local waits until the newest slot it knows of in each
  shared window (its own or another daemon's, from Redis's last answer) has left the
  window, and until the others, no longer hearing from it, keep its share free
  (:attr:`presence_ttl` after its last call could still act in Redis, plus a window);
  coming back, it carries its local sends into Redis, and counts as present again.
* a frozen Redis: every wait ends within the patience cap
  (:data:`~fmzokx.okx.pacing.shared.patience.CAP` call deadlines, see
  :mod:`.patience`); the first timeout sends every call still waiting on Redis to the
  local share at once, where it is paced; and a call that reaches Redis after its
  caller gave up (queued while Redis was frozen: later than
  :attr:`~SharedSlots.shelf_life` after it was sent) reserves nothing and does not
  count its daemon as present (``not_after``, on Redis's clock as last seen).

What it cannot guarantee: slots the other daemons reserved in Redis after this daemon's
last answer and before they stopped hearing from it, further ahead than one window, are
unknown to it; its local sends may then meet them in one window, and OKX answers 50011
for some calls: reads are retried after a pause, and a refused write is reported as
refused (nothing was placed).

:meth:`SharedSlots.snapshot` is the state for ``/healthz`` and the status page.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
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
from fmzokx.okx.pacing.shared.patience import CAP, SharedStateTimeout, patiently
from fmzokx.okx.pacing.shared.script import (
    PRESENCE_SCRIPT,
    RESERVE_SCRIPT,
    Presence,
    Reply,
    Script,
    budget_redis_key,
    hosts_redis_key,
    reserve_args,
)

__all__ = ["SharedSlots", "Slot", "SlotStore"]

log = logger(__name__)

BudgetKey = tuple[str, ...]

_SWEEP_EVERY = 60.0
MAX_BUDGETS = 10_000
"""The most budgets remembered per table (keys are partly chosen by callers)."""
MAX_SHELF_LIFE = 1.0
"""The longest a call may sit unexecuted and still act in Redis (seconds, plus guard)."""

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
        ``floor(limit / hosts)`` when degraded, and the shared budget keeps that share
        free for each daemon not heard from.
    :ivar namespace: prefix of every Redis key, so several desks can share one Redis.
    :ivar call_deadline: the longest a call waits for Redis's answer, in seconds (see
        :mod:`.patience`: at most :data:`~.patience.CAP` of them on a busy reactor).
    :ivar probe_interval: seconds between probes while degraded.
    :ivar presence_ttl: seconds a daemon counts as present after Redis last heard from
        it; it says so every ``presence_ttl / 4`` seconds while it takes shared slots.
    :ivar guard: seconds added to each window, as the local pacer does.
    :ivar where: the Redis URL with the password masked, for logs and the status page.
    """

    clock: IReactorTime
    store: SlotStore
    hosts: int = 2
    namespace: str = "fmzokx"
    call_deadline: float = 0.05
    probe_interval: float = 0.5
    presence_ttl: float = 1.0
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
    expired: int = field(default=0, init=False)
    last_round_trip: float | None = field(default=None, init=False)
    _local: dict[BudgetKey, LocalShare] = field(factory=dict, init=False)
    # The newest slot known in each shared window (anyone's), on this clock.
    _newest: dict[BudgetKey, float] = field(factory=dict, init=False)
    _blocked: dict[BudgetKey, float] = field(factory=dict, init=False)
    # While degraded: no local share sends before this (plus its window).
    _floor: float | None = field(default=None, init=False)
    _in_flight: set[Deferred[Any]] = field(factory=set, init=False)
    _sequence: Any = field(factory=itertools.count, init=False)
    _probe: LoopingCall | None = field(default=None, init=False)
    _heartbeat: LoopingCall | None = field(default=None, init=False)
    _probing: bool = field(default=False, init=False)
    _beating: bool = field(default=False, init=False)
    _slow_probes: int = field(default=0, init=False)
    _last_sweep: float = field(default=0.0, init=False)
    _last_answer: float = field(default=float("-inf"), init=False)
    _last_sent: float | None = field(default=None, init=False)
    # Redis's clock minus this one, from the latest answers (the largest is the closest).
    _offsets: deque[float] = field(factory=lambda: deque(maxlen=16), init=False)

    def __attrs_post_init__(self) -> None:
        if self.hosts < 1:
            raise ValueError("hosts must be at least 1")
        if self.call_deadline <= 0:
            raise ValueError("call_deadline must be positive")
        if self.presence_ttl <= 0:
            raise ValueError("presence_ttl must be positive")

    @property
    def patience(self) -> float:
        """The longest any call waits for Redis (the cap of :mod:`.patience`)."""
        return CAP * self.call_deadline

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
        """Stop probing and the heartbeat."""
        self.store.on_ready = None
        self._stop_probe()
        self._stop_heartbeat()

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

    def _presence(self) -> Presence:
        return Presence(self.member_prefix, self.hosts, self.presence_ttl)

    @property
    def shelf_life(self) -> float:
        """
        Seconds after sending within which a call may still act in Redis: the patience
        cap (its caller waits no longer), at most a second, plus the guard. A call
        delayed longer (in a frozen Redis's socket) does nothing when it arrives.
        """
        return min(self.patience, MAX_SHELF_LIFE) + self.guard

    def _not_after(self, now: float) -> int:
        """
        The latest time on Redis's clock (ms) at which a call sent now may still act
        (:attr:`shelf_life`). 0 (any time) before Redis has answered once.
        """
        if not self._offsets:
            return 0
        return int((now + max(self._offsets) + self.shelf_life) * 1000)

    async def _shared(
        self, rule: RateRule, key: BudgetKey, window: float, max_wait: float
    ) -> Slot | None:
        start = self.clock.seconds()
        args = reserve_args(
            rule.limit, window, max_wait, self._member(),
            presence=self._presence(), not_after_ms=self._not_after(start),
        )
        try:
            reply = Reply.parse(await self._run(
                RESERVE_SCRIPT,
                [budget_redis_key(self.namespace, key), hosts_redis_key(self.namespace)],
                args,
            ))
        except CancelledError:
            raise  # the caller gave up (shutdown): says nothing about Redis
        except Exception as error:
            self._observe(start, "timeout" if isinstance(error, SharedStateTimeout) else "error")
            self._degrade(_reason(error), error)
            return None
        now = self.clock.seconds()
        self._observe(start, "ok")
        self._note_newest(key, now + reply.newest, window)
        if reply.expired:
            # Reached Redis after the patience cap (possible only on a reactor too busy
            # to read the answer): nothing was reserved; pace this call locally.
            self.expired += 1
            self._degrade("timeout", SharedStateTimeout("the call reached Redis too late"))
            return None
        if reply.taken:
            self.shared_slots += 1
        return Slot(taken=reply.taken, wait=reply.wait, shared=True)

    def _note_newest(self, key: BudgetKey, newest: float, window: float) -> None:
        """Remember the newest slot in ``key``'s shared window; while degraded, block."""
        newest = max(self._newest.get(key, newest), newest)
        _put(self._newest, key, newest)
        if self.degraded:
            # Granted after another call timed out: the local share of this budget
            # must still wait for this slot to leave the window.
            self._block(key, newest + window)

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
            # Not before the newest shared slot it knows of has left the window, nor
            # before the other daemons keep its share free.
            not_before = self._blocked.pop(key, 0.0)
            newest = self._newest.get(key)
            if newest is not None and self._floor is not None:
                not_before = max(not_before, newest + window)
            if self._floor is not None:
                not_before = max(not_before, self._floor + window)
            share = LocalShare(share_of(rule.limit, self.hosts), window, not_before=not_before)
            _put(self._local, key, share)
        taken, wait = share.reserve(now, max_wait)
        if taken:
            self.local_slots += 1
            if self.metrics is not None:
                self.metrics.count_local_slot()
        return Slot(taken=taken, wait=wait, shared=False)

    def _run(self, script: Script, keys: Sequence[str], args: Sequence[str]) -> Deferred[Any]:
        """
        The script's answer, or :class:`SharedStateTimeout` (see :mod:`.patience`); when
        the daemon degrades meanwhile, :class:`SharedStateTimeout` at once.
        """
        self._last_sent = self.clock.seconds()
        answer = self.store.run(script, keys, args)

        def answered(result: object) -> object:
            if not isinstance(result, Failure):
                now = self._last_answer = self.clock.seconds()
                redis_now = _redis_time(result)
                if redis_now is not None:
                    self._offsets.append(redis_now - now)
                if self.degraded:
                    # Redis answered after all (the reactor was too busy to hear it in
                    # time): probe now rather than at the next tick.
                    self.clock.callLater(0, self.poke)
            return result

        answer.addBoth(answered)
        waiting = patiently(
            answer, self.clock, self.call_deadline,
            answered_since=lambda moment: self._last_answer > moment,
        )
        self._in_flight.add(waiting)

        def done(result: object) -> object:
            self._in_flight.discard(waiting)
            return result

        return waiting.addBoth(done)

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
        # The others count this daemon present until presence_ttl after the last call
        # that could still act in Redis (its not_after: shelf_life after it was sent);
        # only after that, and a window, is its local share within the limit.
        last = now if self._last_sent is None else self._last_sent + self.shelf_life
        if isinstance(error, RedisUnavailable):
            last = min(last, now)  # the connection is closed: nothing sent on it runs later
        self._floor = last + self.presence_ttl
        for key, newest in self._newest.items():
            share = self._local.get(key)
            if share is not None:
                share.not_before = max(share.not_before, newest + share.window,
                                       self._floor + share.window)
        if self.metrics is not None:
            self.metrics.set_degraded(True)
            self.metrics.count_fallback(reason)
        log.warn(
            "shared rate budget at {where} unusable ({reason}: {detail}): pacing on this "
            "daemon's share (1/{hosts} of each budget) until it answers again",
            where=self.where, reason=reason, hosts=self.hosts,
            detail=str(error) if error is not None else self.store.last_error,
        )
        self._stop_heartbeat()
        self._start_probe()
        # Every call still waiting on Redis goes to the local share now, where it is
        # paced, rather than each at its own deadline.
        for waiting in list(self._in_flight):
            if not waiting.called:
                waiting.errback(SharedStateTimeout(f"shared state unusable ({reason})"))

    def poke(self) -> None:
        """The connection is (back) up: probe now rather than at the next tick."""
        if self.degraded:
            self._probe_once()

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

    def _start_heartbeat(self) -> None:
        if self._heartbeat is not None and self._heartbeat.running:
            return
        beat = self._heartbeat = LoopingCall(self._beat)
        beat.clock = self.clock
        beat.start(self.presence_ttl / 4, now=False)

    def _stop_heartbeat(self) -> None:
        if self._heartbeat is not None and self._heartbeat.running:
            self._heartbeat.stop()
        self._heartbeat = None

    def _beat(self) -> None:
        """Say "present" (and find a frozen Redis while no call asks it anything)."""
        if self.degraded or self._beating:
            return
        self._beating = True
        start = self.clock.seconds()

        def failed(failure: Failure) -> None:
            error = failure.value
            if error is not None and not failure.check(CancelledError):
                self._observe(start, "timeout" if failure.check(SharedStateTimeout) else "error")
                self._degrade(_reason(error), error)

        def finished(_: object) -> None:
            self._beating = False

        self._say_present().addCallbacks(lambda _: None, failed).addBoth(finished)

    def _say_present(self) -> Deferred[Any]:
        return self._run(
            PRESENCE_SCRIPT, [hosts_redis_key(self.namespace)],
            [self.member_prefix, str(max(1, int(self.presence_ttl * 1000))),
             str(self._not_after(self.clock.seconds()))],
        )

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
            await self._say_present()
        except SharedStateTimeout:
            # An open connection that stopped answering (a half-open TCP flow, a frozen
            # server): after a few slow probes start over on a fresh one.
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
        self._floor = None
        self.degraded = False
        outage = now - (self.since or now)
        self.reason, self.since = "", now
        if self.metrics is not None:
            self.metrics.set_degraded(False)
        self._stop_probe()
        self._start_heartbeat()
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
                RESERVE_SCRIPT,
                [budget_redis_key(self.namespace, key), hosts_redis_key(self.namespace)],
                reserve_args(
                    1, share.window, -1, self._member(), ages, presence=self._presence(),
                    not_after_ms=self._not_after(now),
                ),
            )
            for key, share, ages in carrying
        ]
        failure: BaseException | None = None
        for (_, _, ages), result in zip(carrying, results, strict=True):
            try:
                reply = Reply.parse(await result)
            except Exception as error:
                failure = failure or error
            else:
                if reply.expired:
                    failure = failure or SharedStateTimeout("the carry reached Redis too late")
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
        horizon = now - _SWEEP_EVERY
        for key in [k for k, newest in self._newest.items() if newest < horizon]:
            del self._newest[key]
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


def _redis_time(result: object) -> float | None:
    """Redis's clock in seconds from a script's answer (either script), if it has one."""
    if isinstance(result, int) and not isinstance(result, bool):
        return result / 1000
    if isinstance(result, (list, tuple)) and len(result) == 4 and isinstance(result[2], int):
        return float(result[2]) / 1000
    return None
