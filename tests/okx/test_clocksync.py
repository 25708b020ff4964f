"""
Clock synchronisation: RTT-midpoint samples, correction of a ±60 s skew, the periodic
timer, and the state exposed for /healthz.
"""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from fmzokx.okx.clocksync import ClockSync, Sample, estimate_offset
from fmzokx.okx.errors import OkxTransportError

from .fakeokx import Behaviour, FakeOkx
from .support import CREDS, Harness

NOW = 1_700_000_000.0
TIME = "/api/v5/public/time"


def setup(**options: Any) -> tuple[FakeOkx, Harness]:
    clock = Clock()
    clock.advance(NOW)
    fake = FakeOkx(clock)
    return fake, Harness(fake, clock, **options)


def test_sample_offset_is_midpoint() -> None:
    """A sample's offset assumes OKX read its clock halfway through the round trip."""
    sample = Sample(sent=100.0, received=100.4, server=160.2)
    assert sample.rtt == pytest.approx(0.4)
    assert sample.offset == pytest.approx(60.0)


def test_shortest_round_trip_wins() -> None:
    """Of several samples the one with the least RTT (least asymmetry) is trusted."""
    samples = [
        Sample(sent=0.0, received=1.0, server=10.9),
        Sample(sent=2.0, received=2.1, server=12.05),
        Sample(sent=3.0, received=3.6, server=13.0),
    ]
    assert estimate_offset(samples) is samples[1]
    with pytest.raises(ValueError):
        estimate_offset([])


@pytest.mark.parametrize("skew", [60.0, -60.0])
def test_skew_is_corrected_after_one_resync(skew: float) -> None:
    """
    With OKX's clock ±60 s from ours, the first signed call is refused (50102), the client
    resyncs and re-signs, and every later signed call succeeds first time.
    """
    fake, h = setup()
    fake.skew = skew
    for _ in range(5):
        assert h.run(h.client.get("/api/v5/echo", {}, credentials=CREDS)).code == "0"
    assert fake.count("/api/v5/echo") == 6
    assert fake.count(TIME) == 3
    assert h.client.clock_offset == pytest.approx(skew, abs=0.01)


@pytest.mark.parametrize("skew", [60.0, -60.0])
def test_initial_sync_prevents_any_refusal(skew: float) -> None:
    """start() syncs at once with several samples, so no signed call is ever refused."""
    fake, h = setup()
    fake.skew = skew
    h.client.start()
    h.advance(0.1)
    assert fake.count(TIME) == 3
    h.run(h.client.post("/api/v5/echo", {"a": 1}, credentials=CREDS))
    assert fake.count("/api/v5/echo") == 1
    h.run(h.client.stop())


def test_sync_uses_rtt_midpoint_with_latency() -> None:
    """With OKX answering after 0.4 s, the offset is computed from the trip's midpoint."""
    fake, h = setup()
    fake.skew = 30.0
    # The fake reads its clock as it answers, 0.4 s after the request arrived; the
    # midpoint estimate therefore lands 0.2 s early: offset = 30 + 0.2.
    fake.then(TIME, *[Behaviour("delay", seconds=0.4) for _ in range(3)])
    offset = h.run(h.client.sync_clock())
    assert offset == pytest.approx(30.0 + 0.2, abs=0.02)


def test_periodic_resync() -> None:
    """The timer resyncs every sync_interval seconds, picking up drift."""
    fake, h = setup(sync_interval=60.0)
    h.client.start()
    h.advance(0.1)
    assert h.client.health()["clock_syncs"] == 1
    fake.skew = 7.0
    h.advance(60.0, step=0.5)
    health = h.client.health()
    assert health["clock_syncs"] == 2
    assert health["clock_offset_s"] == pytest.approx(7.0, abs=0.01)
    h.run(h.client.stop())
    h.advance(120.0, step=1.0)
    assert h.client.health()["clock_syncs"] == 2


def test_failed_sync_keeps_offset_and_reports_error() -> None:
    """If every sample fails, the offset is kept, health shows the error, the timer lives on."""
    fake, h = setup(sync_interval=30.0)
    fake.skew = 5.0
    h.run(h.client.sync_clock())
    fake.then(TIME, *[Behaviour("raw", status=502, raw=b"bad gateway") for _ in range(3)])
    h.client.start()
    h.advance(0.5)
    health = h.client.health()
    assert health["clock_offset_s"] == pytest.approx(5.0, abs=0.01)
    assert "502" in str(health["clock_sync_error"])
    h.advance(30.0, step=0.5)
    assert h.client.health()["clock_sync_error"] is None
    h.run(h.client.stop())


def test_concurrent_syncs_share_one_measurement() -> None:
    """Two simultaneous sync requests (e.g. two 50102s) cause one set of samples."""
    clock = Clock()
    calls = []
    gate: Deferred[None] = Deferred()

    async def slow_sample() -> Sample:
        await gate
        calls.append(clock.seconds())
        return Sample(sent=0.0, received=0.0, server=2.0)

    sync = ClockSync(clock, slow_sample)
    first = Deferred.fromCoroutine(sync.sync())
    second = Deferred.fromCoroutine(sync.sync())
    gate.callback(None)
    assert (first.result, second.result) == (2.0, 2.0)
    assert len(calls) == 3


def test_sync_failure_propagates_and_is_recorded() -> None:
    """When every sample fails, sync raises and the failure is kept for /healthz."""
    clock = Clock()

    async def sample() -> Sample:
        raise OkxTransportError("down")

    sync = ClockSync(clock, sample)
    failure: list[Any] = []
    Deferred.fromCoroutine(sync.sync()).addErrback(failure.append)
    assert failure and isinstance(failure[0].value, OkxTransportError)
    assert sync.last_error == "down"
    assert sync.health()["clock_synced"] is False


@pytest.mark.parametrize("skew", [60.0, -60.0])
def test_exptime_follows_the_clock_correction_on_resend(skew: float) -> None:
    """A 50102 resend moves the order's expTime by the measured clock correction."""
    clock = Clock()
    clock.advance(1_795_600_000)
    fake = FakeOkx(clock)
    fake.skew = skew
    h = Harness(fake, clock)
    expires = int((clock.seconds() + 5) * 1000)
    h.run(h.client.post("/api/v5/trade/order", {"instId": "BTC-USDT"}, credentials=CREDS,
                        headers={"expTime": str(expires)}))
    first, second = [s for s in fake.requests if s.path == "/api/v5/trade/order"]
    assert int(first.headers["exptime"]) == expires
    shift = int(second.headers["exptime"]) - expires
    assert shift == pytest.approx(skew * 1000, abs=50)
