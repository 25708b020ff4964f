"""
The shared budget notices a lost Redis while the daemon is idle, and keeps it counted as
present: on a fake clock (lost connection, frozen Redis, "present" four times a second
while idle, no extra command while slot requests hear from Redis, nothing after stop)
and with a real redis-server stopped under an idle SharedStateService, whose /healthz
state and degraded metric must follow.
"""

from __future__ import annotations

import pytest_twisted
from prometheus_client import CollectorRegistry
from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import Clock

from fmzokx.okx.pacing.limits import RateRule, Scope
from fmzokx.okx.pacing.shared.metrics import SharedStateMetrics
from fmzokx.okx.pacing.shared.settings import SharedStateService, settings_from_options
from fmzokx.okx.pacing.shared.slots import SharedSlots
from fmzokx.okx.pacing.shared.watch import CHECK_EVERY, SharedWatch
from tests.redisserver import RedisServer

from .fakestore import FakeStore
from .support import until

BALANCE = RateRule("GET", "/api/v5/account/balance", 10, Scope.USER)
KEY = ("GET", "/api/v5/account/balance", "key-0123abcd")


class Rig:
    """SharedSlots on a fake Redis, shared (out of "connecting"), with its watch running."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_000)
        self.store = FakeStore(self.clock)
        self.registry = CollectorRegistry()
        self.slots = SharedSlots(
            self.clock, self.store, hosts=2, where="redis://fake:6379/0",
            metrics=SharedStateMetrics.create(self.registry),
        )
        self.slots.start()
        self.clock.advance(0.5)
        self.clock.advance(0.001)
        assert not self.slots.degraded
        self.watch = SharedWatch(self.slots)
        self.watch.start()

    def degraded_metric(self) -> float | None:
        return self.registry.get_sample_value("fmzokx_shared_state_degraded")

    def idle(self, seconds: float, step: float = 0.01) -> None:
        for _ in range(int(seconds / step)):
            self.clock.advance(step)


def test_a_lost_connection_degrades_an_idle_daemon() -> None:
    rig = Rig()
    rig.idle(3 * CHECK_EVERY)
    assert not rig.slots.degraded and rig.degraded_metric() == 0
    rig.store.connected = False  # Redis went away; nothing asks for a slot
    rig.idle(CHECK_EVERY + 0.1)
    state = rig.slots.snapshot()
    assert (state["state"], state["reason"]) == ("degraded", "unavailable")
    assert rig.degraded_metric() == 1
    # Redis back: the slots' own probe takes the shared budget again.
    rig.store.connected = True
    rig.idle(1.0)
    assert rig.slots.snapshot()["state"] == "shared" and rig.degraded_metric() == 0


def test_a_frozen_redis_degrades_an_idle_daemon() -> None:
    """An open connection on which PING gets no answer within the call deadline."""
    rig = Rig()
    rig.store.hang = True
    rig.idle(CHECK_EVERY + 0.2)
    state = rig.slots.snapshot()
    assert (state["state"], state["reason"]) == ("degraded", "timeout")
    assert rig.degraded_metric() == 1


def test_an_idle_healthy_redis_hears_from_it_at_every_check() -> None:
    """One "present" per check, so it never lapses (1 s) for the other daemons."""
    rig = Rig()
    before = rig.store.pings
    rig.idle(40 * CHECK_EVERY + 0.05)
    assert rig.store.pings - before == 40 == rig.watch.checks
    assert CHECK_EVERY == rig.slots.presence_ttl / 4
    assert list(rig.store.hosts) == [rig.slots.member_prefix]
    assert not rig.slots.degraded


def test_a_busy_daemon_sends_no_extra_command() -> None:
    """Slot requests that hear from Redis make the check unnecessary."""
    rig = Rig()
    before = rig.store.pings
    for _ in range(int(20 * CHECK_EVERY / 0.2)):
        pending = ensureDeferred(rig.slots.reserve(BALANCE, KEY, max_wait=60))
        rig.idle(0.2)
        assert pending.called
    assert rig.store.pings == before and rig.watch.checks == 0


def test_nothing_is_checked_after_stop() -> None:
    rig = Rig()
    rig.watch.stop()
    rig.store.connected = False
    rig.idle(3 * CHECK_EVERY)
    assert not rig.slots.degraded
    assert not rig.clock.getDelayedCalls() or all(
        call.getTime() > rig.clock.seconds() for call in rig.clock.getDelayedCalls()
    )


def test_a_check_in_flight_is_cancelled_by_stop() -> None:
    rig = Rig()
    rig.store.hang = True
    rig.clock.advance(CHECK_EVERY)  # the check's PING is out, unanswered
    assert rig.watch.checks == 1
    rig.watch.stop()
    rig.idle(1.0)
    assert not rig.slots.degraded  # a stopped watch judges nothing


@pytest_twisted.ensureDeferred
async def test_service_reports_redis_stopped_while_idle(redis_server: RedisServer) -> None:
    """
    The daemon's SharedStateService, idle (no call at all), with its Redis stopped:
    within a check (plus the deadline) /healthz's state says degraded and the metric the
    documented alert reads is 1.
    """
    settings = settings_from_options(redis_server.url, hosts=2)
    assert settings is not None
    registry = CollectorRegistry()
    service = SharedStateService.create(reactor, settings, SharedStateMetrics.create(registry))
    service.startService()
    try:
        await until(lambda: service.slots.snapshot()["state"] == "shared")
        assert registry.get_sample_value("fmzokx_shared_state_degraded") == 0
        redis_server.stop()
        await until(lambda: service.slots.snapshot()["state"] == "degraded",
                    limit=CHECK_EVERY + 3.0)
        assert registry.get_sample_value("fmzokx_shared_state_degraded") == 1
        redis_server.start()
        await until(lambda: service.slots.snapshot()["state"] == "shared", limit=15.0)
        assert registry.get_sample_value("fmzokx_shared_state_degraded") == 0
    finally:
        await service.stopService()
