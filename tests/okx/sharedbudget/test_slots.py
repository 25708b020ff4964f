"""
SharedSlots on a fake clock: slots from Redis when it answers within the deadline, the
local share (floor(limit / hosts)) when it does not, one log line each way, the hand-over
rules (blocked until the shared slots left the window; local sends carried back), the
state for /healthz and the status page, and the metrics.
"""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import Clock

from fmzokx.okx.pacing.limits import RateRule, Scope
from fmzokx.okx.pacing.shared.localshare import LocalShare, share_of
from fmzokx.okx.pacing.shared.metrics import SharedStateMetrics
from fmzokx.okx.pacing.shared.patience import CAP
from fmzokx.okx.pacing.shared.slots import SharedSlots, Slot
from tests.helpers import success_result_of

from .fakestore import FakeStore

BALANCE = RateRule("GET", "/api/v5/account/balance", 10, Scope.USER)
KEY = ("GET", "/api/v5/account/balance", "key-0123abcd")
REDIS_KEY = "fmzokx:slots:GET:/api/v5/account/balance:key-0123abcd"


def shared_events(events: list[dict[str, Any]]) -> list[str]:
    return [
        e["log_format"] for e in events
        if e.get("log_namespace") == "fmzokx.okx.pacing.shared.slots"
    ]


class Rig:
    def __init__(self, hosts: int = 3, **options: Any) -> None:
        self.clock = Clock()
        self.clock.advance(1_000)
        # The other daemons are all heard from, unless a test says otherwise.
        self.store = FakeStore(self.clock, others=hosts - 1)
        self.registry = CollectorRegistry()
        self.slots = SharedSlots(
            self.clock, self.store, hosts=hosts, where="redis://fake:6379/0",
            metrics=SharedStateMetrics.create(self.registry), **options,
        )
        self.slots.start()
        self.clock.advance(0.5)  # the first probe pings Redis...
        self.clock.advance(0.001)  # ...which answers: "connecting" is over
        assert not self.slots.degraded

    def reserve(self, max_wait: float = 10.0, key: tuple[str, ...] = KEY) -> Deferred[Slot]:
        return ensureDeferred(self.slots.reserve(BALANCE, key, max_wait=max_wait))

    def take(self, max_wait: float = 10.0, key: tuple[str, ...] = KEY) -> Slot:
        """One slot request, letting the fake Redis (or the deadline) answer."""
        pending = self.reserve(max_wait, key)
        for _ in range(100):
            if pending.called:
                break
            self.clock.advance(0.001)
        return success_result_of(pending)

    def settle(self, seconds: float = 0.01) -> None:
        """Let the fake Redis's replies (1 ms each) and what they trigger happen."""
        for _ in range(round(seconds / 0.001)):
            self.clock.advance(0.001)

    def metric(self, name: str, **labels: str) -> float | None:
        value: float | None = self.registry.get_sample_value(name, labels)
        return value


def test_share_of() -> None:
    assert [share_of(10, n) for n in (1, 2, 3, 4, 10, 11, 50)] == [10, 5, 3, 2, 1, 1, 1]
    assert share_of(60, 0) == 60


def test_local_share_window() -> None:
    share = LocalShare(limit=2, window=1.1)
    assert share.reserve(0.0, 5) == (True, 0.0)
    assert share.reserve(0.0, 5) == (True, 0.0)
    assert share.reserve(0.0, 5) == (True, 1.1)
    assert share.reserve(0.0, 1.0) == (False, pytest.approx(1.1))
    assert share.recent(0.0) == [0.0, 0.0, 1.1]
    assert share.recent(1.2) == [1.1]
    blocked = LocalShare(limit=5, window=1.0, not_before=3.0)
    assert blocked.reserve(1.0, 5) == (True, 2.0)
    assert not LocalShare(1, 1.0, not_before=3.0).idle(2.0)


def test_starts_local_until_redis_answers(events: list[dict[str, Any]]) -> None:
    clock = Clock()
    store = FakeStore(clock, connected=False)
    slots = SharedSlots(clock, store, hosts=2, where="redis://fake:6379/0")
    slots.start()
    assert slots.snapshot()["state"] == "degraded"
    assert slots.snapshot()["reason"] == "connecting"
    slot = success_result_of(ensureDeferred(slots.reserve(BALANCE, KEY, max_wait=5)))
    assert slot == Slot(taken=True, wait=0.0, shared=False)
    assert store.calls == []  # no call waits on a Redis that is not there
    store.connected = True
    slots.poke()  # what the connection does when it comes up
    clock.advance(0.001)
    assert slots.snapshot()["state"] == "shared"
    assert shared_events(events)[-1].startswith("shared rate budget at {where} in use")
    slots.stop()


def test_slots_come_from_redis() -> None:
    rig = Rig()
    slots = [rig.take() for _ in range(12)]
    assert all(s.shared and s.taken for s in slots)
    assert [s.wait for s in slots[:10]] == [0.0] * 10
    assert slots[10].wait == pytest.approx(2.1 - 0.010, abs=0.002)
    key, args = rig.store.calls[0]
    assert key == REDIS_KEY
    assert args[:3] == ["10", "2100", "10000"]
    assert args[3].startswith(rig.slots.member_prefix + ":")
    assert rig.slots.snapshot()["shared_slots"] == 12
    assert rig.metric("fmzokx_shared_state_degraded") == 0
    assert rig.metric("fmzokx_shared_state_round_trip_seconds_count", outcome="ok") == 12


def test_a_slot_too_far_is_refused_unrecorded() -> None:
    rig = Rig()
    for _ in range(10):
        rig.take()
    slot = rig.take(max_wait=1.0)
    assert slot == Slot(taken=False, wait=pytest.approx(2.1, abs=0.01), shared=True)
    assert len(rig.store.windows[REDIS_KEY]) == 10


# Going local, a budget opens once the other daemons keep this one's share free: the
# presence time after the last call that could still reach Redis (sent + the patience
# cap + the guard), then a window.
OPENS_AFTER_TIMEOUT = min(CAP * 0.05, 1.0) + 0.1 + 1.0 + 2.1
OPENS_AFTER_LOSS = 1.0 + 2.1


def test_timeout_falls_back_at_the_deadline(events: list[dict[str, Any]]) -> None:
    """Redis stops answering: the call gets a local slot 50 ms later; later calls do not
    ask Redis at all; one warning; the local share opens once it is safe."""
    rig = Rig(hosts=3)
    rig.store.hang = True
    sent = rig.clock.seconds()
    pending = rig.reserve()
    rig.clock.advance(0.049)
    assert not pending.called
    rig.clock.advance(0.001)
    rig.clock.advance(0.002)  # the deadline, then a moment for an answer on its way
    first = success_result_of(pending)
    assert first.taken and not first.shared
    opens = sent + OPENS_AFTER_TIMEOUT
    assert rig.clock.seconds() + first.wait == pytest.approx(opens)
    asked = len(rig.store.calls)
    # floor(10 / 3) = 3 per window locally: 2 more then, then the next window
    slots = [rig.take() for _ in range(4)]
    assert [rig.clock.seconds() + s.wait for s in slots] == [
        pytest.approx(opens), pytest.approx(opens),
        pytest.approx(opens + 2.1), pytest.approx(opens + 2.1),
    ]
    assert len(rig.store.calls) == asked
    snapshot = rig.slots.snapshot()
    assert snapshot["degraded"] and snapshot["reason"] == "timeout"
    assert snapshot["fallbacks"] == 1 and snapshot["local_slots"] == 5
    warnings = [f for f in shared_events(events) if "unusable" in f]
    assert len(warnings) == 1
    assert rig.metric("fmzokx_shared_state_degraded") == 1
    assert rig.metric("fmzokx_shared_state_fallbacks_total", reason="timeout") == 1
    assert rig.metric("fmzokx_shared_state_local_slots_total") == 5
    assert rig.metric("fmzokx_shared_state_round_trip_seconds_count", outcome="timeout") == 1


def test_every_call_waiting_on_redis_goes_local_at_the_first_timeout() -> None:
    """
    Twenty calls in flight when Redis freezes: the first timeout sends all of them to
    the local share at once (not each at its own, later, deadline), where they are paced:
    3 per window, no burst.
    """
    rig = Rig(hosts=3)
    rig.store.hang = True
    pending = [rig.reserve() for _ in range(20)]
    rig.clock.advance(0.03)
    pending += [rig.reserve() for _ in range(5)]  # sent later: their deadline is later
    rig.clock.advance(0.02)
    rig.clock.advance(0.002)
    assert all(p.called for p in pending)
    slots = [success_result_of(p) for p in pending]
    assert not any(s.shared for s in slots)
    times = sorted(rig.clock.seconds() + s.wait for s in slots if s.taken)
    for i, moment in enumerate(times):  # never more than 3 in any 2.1 s
        assert sum(1 for t in times[i:] if t < moment + 2.1 - 1e-9) <= 3


def test_lost_connection_falls_back_at_once() -> None:
    """No wait on Redis; the share opens a presence time and a window after the loss."""
    rig = Rig()
    rig.store.connected = False
    now = rig.clock.seconds()
    slot = success_result_of(rig.reserve())
    assert slot.taken and not slot.shared
    assert now + slot.wait == pytest.approx(now + OPENS_AFTER_LOSS)
    assert rig.slots.snapshot()["reason"] == "unavailable"


def test_going_local_waits_for_the_shared_slots_to_leave(events: list[dict[str, Any]]) -> None:
    """
    After 14 shared slots (the last one 2.1 s ahead), the local share may only start
    once that slot has left its window; a budget this daemon never drew from Redis once
    the others keep its share free.
    """
    rig = Rig(hosts=2)
    taken = [rig.take() for _ in range(14)]
    tail = rig.clock.seconds() + taken[-1].wait
    rig.store.connected = False
    lost = rig.clock.seconds()
    first_local = rig.take()
    assert not first_local.shared
    assert rig.clock.seconds() + first_local.wait == pytest.approx(tail + 2.1)
    other = rig.take(key=("GET", "/api/v5/account/balance", "key-ffff0000"))
    assert rig.clock.seconds() + other.wait == pytest.approx(lost + OPENS_AFTER_LOSS, abs=0.01)


def test_going_local_waits_for_the_other_daemons_slots_too() -> None:
    """
    Another daemon took the budget's window up to 4 s ahead; this one, whose last answer
    said so, does not send locally before that slot has left the window.
    """
    rig = Rig(hosts=2)
    rig.take()
    now_ms = int(rig.clock.seconds() * 1000)
    rig.store.windows[REDIS_KEY] += [(now_ms + 4000 - i, f"other:{i}") for i in range(9)]
    rig.store.windows[REDIS_KEY].sort()
    late = rig.take(max_wait=0.5)  # the window is full: refused, but it learnt the tail
    assert not late.taken
    rig.store.connected = False
    local = rig.take()
    assert not local.shared
    assert rig.clock.seconds() + local.wait == pytest.approx(now_ms / 1000 + 4.0 + 2.1, abs=0.01)


def test_recovery_carries_local_sends(events: list[dict[str, Any]]) -> None:
    rig = Rig(hosts=2)
    rig.store.connected = False
    local = [rig.take(max_wait=10) for _ in range(3)]
    assert [s.shared for s in local] == [False] * 3
    rig.clock.advance(4.0)  # the share opened; the three went
    rig.store.connected = True
    before = len(rig.store.calls)
    rig.clock.advance(0.5)  # the probe says "present", then carries
    rig.settle()
    assert rig.slots.snapshot()["state"] == "shared"
    carry_key, carry_args = rig.store.calls[before]
    assert carry_key == REDIS_KEY
    assert carry_args[2] == "-1"  # carry only, reserve nothing
    ages = sorted(int(a) for a in carry_args[9:])
    assert len(ages) == 3 and all(0 <= a <= 2100 for a in ages)
    assert rig.slots.snapshot()["carried"] == 3
    # The shared window counts them; the other daemon is heard from: OKX's limit (10).
    assert [rig.take().wait for _ in range(7)] == [0.0] * 7
    assert rig.take().wait > 0.5
    back = [f for f in shared_events(events) if "in use" in f]
    assert len(back) == 2  # once at start-up, once after the outage
    assert rig.metric("fmzokx_shared_state_degraded") == 0


def test_a_daemon_not_heard_from_keeps_its_share(events: list[dict[str, Any]]) -> None:
    """
    With --shared-hosts 3 and only this daemon heard from, the shared budget keeps the
    two others' shares (3 of 10 each) free: they may be pacing locally.
    """
    rig = Rig(hosts=3)
    rig.store.others = 1  # one other daemon heard from, one not
    waits = [rig.take().wait for _ in range(8)]
    assert waits[:7] == [0.0] * 7 and waits[7] > 2.0
    rig.store.others = 2  # all heard from: OKX's limit again (one slot is still held)
    rig.clock.advance(2.2)
    assert [rig.take().wait for _ in range(9)] == [0.0] * 9


def test_a_call_reaching_redis_too_late_reserves_nothing() -> None:
    """
    A reservation that reaches Redis after its caller gave up (it sat in a frozen
    Redis's socket) records no slot and does not count the daemon as present.
    """
    rig = Rig(hosts=2)
    rig.take()
    rig.store.latency = 1.0  # the answer comes after the patience cap
    pending = rig.reserve()
    rig.settle(1.1)
    slot = success_result_of(pending)
    assert not slot.shared
    assert len(rig.store.windows[REDIS_KEY]) == 1  # only the first
    (key, args), = rig.store.calls[-1:]
    assert int(args[4]) > 0  # it said until when it was wanted


def test_failed_carry_degrades_again_and_keeps_the_sends() -> None:
    rig = Rig(hosts=2)
    rig.store.connected = False
    for _ in range(5):
        rig.take()
    rig.store.connected = True
    pings = rig.store.pings
    rig.clock.advance(0.5)  # probe: ping answered...
    assert rig.store.pings == pings + 1
    rig.store.hang = True  # ...but the carry that follows is not
    rig.settle(0.06)
    snapshot = rig.slots.snapshot()
    assert snapshot["degraded"] and snapshot["reason"] == "timeout"
    assert snapshot["carried"] == 0 and snapshot["fallbacks"] == 2
    # the 5 local sends still count: the share (5) is used up this window
    assert rig.take().wait > 1.0


def test_frozen_connection_is_dropped_after_slow_pings() -> None:
    rig = Rig()
    rig.store.hang = True
    rig.take()
    assert rig.slots.degraded
    for _ in range(3):
        rig.clock.advance(0.5)
        rig.settle(0.06)
    assert rig.store.drops == 1
    rig.store.hang = False
    rig.clock.advance(0.5)
    rig.clock.advance(0.01)
    assert not rig.slots.degraded


def test_no_probe_while_shared_and_stop_ends_probing() -> None:
    rig = Rig()
    pings = rig.store.pings
    rig.clock.advance(10)
    assert rig.store.pings == pings
    rig.store.connected = False
    rig.take()
    rig.slots.stop()
    rig.store.connected = True
    rig.clock.advance(10)
    assert rig.slots.degraded and rig.clock.getDelayedCalls() == []


def test_snapshot_has_no_secrets_and_says_where() -> None:
    rig = Rig()
    rig.take()
    snapshot = rig.slots.snapshot()
    assert snapshot["where"] == "redis://fake:6379/0"
    assert snapshot["state"] == "shared" and snapshot["connected"] is True
    assert snapshot["hosts"] == 3 and snapshot["call_deadline_ms"] == 50
    assert snapshot["last_round_trip_ms"] == pytest.approx(1.0)
    assert set(snapshot) == {
        "backend", "where", "state", "degraded", "reason", "since_seconds", "connected",
        "last_error", "hosts", "call_deadline_ms", "fallbacks", "shared_slots",
        "local_slots", "carried", "last_round_trip_ms",
    }


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="hosts"):
        SharedSlots(Clock(), FakeStore(Clock()), hosts=0)
    with pytest.raises(ValueError, match="call_deadline"):
        SharedSlots(Clock(), FakeStore(Clock()), call_deadline=0)


def test_a_busy_daemon_is_not_a_slow_redis() -> None:
    """
    A reply queued behind others that Redis is visibly answering (this process's own
    backlog) gets more time; the deadline only ends the wait when Redis shows no life.
    """
    rig = Rig()
    rig.store.latency = 0.03
    first = rig.reserve()
    rig.clock.advance(0.001)
    rig.store.latency = 0.08
    second = rig.reserve()  # its answer comes 80 ms later, after the first's
    rig.settle(0.1)
    assert success_result_of(first).shared and success_result_of(second).shared
    assert not rig.slots.degraded


def test_the_extensions_are_bounded() -> None:
    rig = Rig()
    rig.store.hang = True
    stuck = rig.reserve()
    rig.store.hang = False
    sent = rig.clock.seconds()
    while not stuck.called and rig.clock.seconds() - sent < 1:
        rig.reserve()  # others keep being answered
        rig.settle(0.01)
    # four deadlines of 50 ms, each with its 2 ms settle (checked every 10 ms here)
    assert rig.clock.seconds() - sent == pytest.approx(0.208, abs=0.015)
    slot = success_result_of(stuck)
    assert slot.taken and not slot.shared
    assert rig.slots.snapshot()["reason"] == "timeout"
