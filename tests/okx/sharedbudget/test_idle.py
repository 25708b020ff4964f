"""
An idle daemon notices that the shared budget's Redis is gone (issue #26: with Redis
stopped and no traffic, /healthz kept saying "shared" and the degraded metric stayed 0,
so the documented alert could not fire). Its presence heartbeat finds out without any
slot request: on a fake clock (lost connection, frozen Redis), and with a real
redis-server stopped under an idle SharedStateService, whose /healthz state and degraded
metric must follow.
"""

from __future__ import annotations

import pytest_twisted
from prometheus_client import CollectorRegistry
from twisted.internet import reactor
from twisted.internet.task import Clock

from fmzokx.okx.pacing.shared.metrics import SharedStateMetrics
from fmzokx.okx.pacing.shared.settings import SharedStateService, settings_from_options
from fmzokx.okx.pacing.shared.slots import SharedSlots
from tests.redisserver import RedisServer

from .fakestore import FakeStore
from .support import until

NOTICE_WITHIN = 2.0
"""Seconds an idle daemon may take to report Redis gone (the alert waits 1 min)."""


class Rig:
    """SharedSlots on a fake Redis, shared (out of "connecting"), then left idle."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_000)
        self.store = FakeStore(self.clock, others=1)
        self.registry = CollectorRegistry()
        self.slots = SharedSlots(
            self.clock, self.store, hosts=2, where="redis://fake:6379/0",
            metrics=SharedStateMetrics.create(self.registry),
        )
        self.slots.start()
        self.clock.advance(0.5)
        self.clock.advance(0.001)
        assert not self.slots.degraded

    def degraded_metric(self) -> float | None:
        return self.registry.get_sample_value("fmzokx_shared_state_degraded")

    def idle(self, seconds: float, step: float = 0.01) -> None:
        for _ in range(round(seconds / step)):
            self.clock.advance(step)


def test_a_lost_connection_degrades_an_idle_daemon() -> None:
    rig = Rig()
    rig.idle(10.0)
    assert not rig.slots.degraded and rig.degraded_metric() == 0
    rig.store.connected = False  # Redis went away; nothing asks for a slot
    rig.idle(NOTICE_WITHIN)
    state = rig.slots.snapshot()
    assert (state["state"], state["reason"]) == ("degraded", "unavailable")
    assert rig.degraded_metric() == 1
    # Redis back: the slots' probe takes the shared budget again.
    rig.store.connected = True
    rig.idle(1.0)
    assert rig.slots.snapshot()["state"] == "shared" and rig.degraded_metric() == 0


def test_a_frozen_redis_degrades_an_idle_daemon() -> None:
    """An open connection on which nothing is answered any more."""
    rig = Rig()
    rig.store.hang = True
    rig.idle(NOTICE_WITHIN)
    state = rig.slots.snapshot()
    assert (state["state"], state["reason"]) == ("degraded", "timeout")
    assert rig.degraded_metric() == 1


@pytest_twisted.ensureDeferred
async def test_service_reports_redis_stopped_while_idle(redis_server: RedisServer) -> None:
    """
    The daemon's SharedStateService, idle (no call at all), with its Redis stopped: soon
    /healthz's state says degraded and the metric the documented alert reads is 1; both
    recover when Redis is back.
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
                    limit=NOTICE_WITHIN + 3.0)
        assert registry.get_sample_value("fmzokx_shared_state_degraded") == 1
        redis_server.start()
        await until(lambda: service.slots.snapshot()["state"] == "shared", limit=15.0)
        assert registry.get_sample_value("fmzokx_shared_state_degraded") == 0
    finally:
        await service.stopService()
