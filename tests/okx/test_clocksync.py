"""
Clock synchronisation: RTT-midpoint samples, correction of a ±60 s skew, the periodic
timer, and the state exposed for /healthz.
"""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from fmzokx.okx.errors import OkxTransportError
from fmzokx.okx.rest.clocksync import ClockSync, Sample, estimate_offset, okx_stamps

from .support import CREDS, RESTING_BUY, Harness

TIME = "/api/v5/public/time"
BALANCE = "/api/v5/account/balance"


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
    h = Harness()
    h.skew(skew)
    for _ in range(5):
        assert h.run(h.client.get(BALANCE, {}, credentials=CREDS)).code == "0"
    assert h.count(BALANCE) == 6
    assert h.count(TIME) == 3
    assert h.client.clock_offset == pytest.approx(skew, abs=0.01)


@pytest.mark.parametrize("skew", [60.0, -60.0])
def test_initial_sync_prevents_any_refusal(skew: float) -> None:
    """start() syncs at once with several samples, so no signed call is ever refused."""
    h = Harness()
    h.skew(skew)
    h.client.start()
    h.advance(0.1)
    assert h.count(TIME) == 3
    path = "/api/v5/account/set-position-mode"
    h.run(h.client.post(path, {"posMode": "net_mode"}, credentials=CREDS))
    assert h.count(path) == 1
    h.run(h.client.stop())


def test_sync_uses_rtt_midpoint_with_latency() -> None:
    """With OKX answering after 0.4 s, the offset is computed from the trip's midpoint."""
    h = Harness()
    h.skew(30.0)
    # okxsim reads its clock when the request arrives and holds the answer for 0.4 s;
    # the midpoint estimate therefore lands 0.2 s late: offset = 30 - 0.2.
    h.sim.add_fault(TIME, "delay", count=3, delay_ms=400)
    offset = h.run(h.client.sync_clock())
    assert offset == pytest.approx(30.0 - 0.2, abs=0.02)


def test_periodic_resync() -> None:
    """The timer resyncs every sync_interval seconds, picking up drift."""
    h = Harness(sync_interval=60.0)
    h.client.start()
    h.advance(0.1)
    assert h.client.health()["clock_syncs"] == 1
    h.skew(7.0)
    h.advance(60.0, step=0.5)
    health = h.client.health()
    assert health["clock_syncs"] == 2
    assert health["clock_offset_s"] == pytest.approx(7.0, abs=0.01)
    h.run(h.client.stop())
    h.advance(120.0, step=1.0)
    assert h.client.health()["clock_syncs"] == 2


def test_failed_sync_keeps_offset_and_reports_error() -> None:
    """If every sample fails, the offset is kept, health shows the error, the timer lives on."""
    h = Harness(sync_interval=30.0)
    h.skew(5.0)
    h.run(h.client.sync_clock())
    h.sim.add_fault(TIME, "reply", count=3, status=502, body=b"bad gateway",
                    content_type="text/plain")
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
    h = Harness(start=1_795_600_000)
    h.skew(skew)
    expires = int((h.clock.seconds() + 5) * 1000)
    reply = h.run(h.client.post("/api/v5/trade/order", RESTING_BUY, credentials=CREDS,
                                headers={"expTime": str(expires)}))
    assert reply.items[0].ok
    first, second = h.requests("/api/v5/trade/order")
    assert int(first.headers["exptime"]) == expires
    shift = int(second.headers["exptime"]) - expires
    assert shift == pytest.approx(skew * 1000, abs=50)


def test_okx_stamps_are_read_from_trade_envelopes_only() -> None:
    """inTime/outTime (µs) and per-item ts (ms) count; market rows' ts does not."""
    payload = {
        "code": "0",
        "inTime": "1700000000100000",
        "outTime": "1700000000200000",
        "data": [{"sCode": "0", "ts": "1700000000150"}, {"ts": "1"}],
    }
    assert okx_stamps(payload) == [1_700_000_000.1, 1_700_000_000.2, 1_700_000_000.15]
    assert okx_stamps({"code": "0", "data": [{"instId": "BTC-USDT", "ts": "17"}]}) == []
    assert okx_stamps({"inTime": "", "outTime": "x1"}) == [] == okx_stamps(None)


def test_disagreement_is_judged_against_the_round_trip() -> None:
    """A stamp fits any offset between stamp - received and stamp - sent (± tolerance)."""
    sync = ClockSync(Clock(), lambda: Deferred(), offset=0.0, tolerance=0.5)
    assert not sync.disagrees(100.0, 102.0, [101.0])
    assert not sync.disagrees(100.0, 102.0, [100.2, 102.3])
    assert sync.disagrees(100.0, 102.0, [103.0])
    assert sync.disagrees(100.0, 102.0, [99.0])


def test_reply_from_a_stepped_clock_starts_one_resync() -> None:
    """
    OKX's clock steps 3 s ahead after the last sync -- too little for 50102 or 50037 --
    and an order reply's inTime/outTime show it: the client resyncs in the background,
    once however many replies disagree before the next check is due.
    """
    h = Harness(start=1_795_600_000)
    h.run(h.client.sync_clock())
    assert h.count(TIME) == 3
    h.skew(3.0)
    for _ in range(3):
        assert h.run(h.client.post("/api/v5/trade/order", RESTING_BUY,
                                   credentials=CREDS)).items[0].ok
    h.advance(0.5)
    assert h.count(TIME) == 6
    assert h.client.clock_offset == pytest.approx(3.0, abs=0.01)


def test_agreeing_replies_start_nothing() -> None:
    h = Harness(start=1_795_600_000)
    h.sim.add_fault("/api/v5/trade/order", "delay", delay_ms=2000)
    for _ in range(2):
        h.run(h.client.post("/api/v5/trade/order", RESTING_BUY, credentials=CREDS))
    h.advance(0.5)
    assert h.count(TIME) == 0


def test_sync_since_measures_only_when_the_estimate_is_older() -> None:
    """A measurement begun after the mark is reused; an older one is replaced."""
    h = Harness()
    h.run(h.client.sync_clock())
    mark = h.client.clock_mark()
    h.skew(-15.0)
    assert h.run(h.client.sync_clock_since(mark)) == pytest.approx(-15.0, abs=0.01)
    assert h.count(TIME) == 6
    assert h.run(h.client.sync_clock_since(mark)) == pytest.approx(-15.0, abs=0.01)
    assert h.count(TIME) == 6


def test_sync_since_does_not_settle_for_a_measurement_begun_earlier() -> None:
    """Joining a sync that was under way at the mark is followed by a fresh one."""
    clock = Clock()
    gates: list[Deferred[None]] = []

    async def sample() -> Sample:
        gate: Deferred[None] = Deferred()
        gates.append(gate)
        await gate
        return Sample(sent=0, received=0, server=float(len(gates)))

    sync = ClockSync(clock, sample, samples_per_sync=1)
    Deferred.fromCoroutine(sync.sync())
    late = Deferred.fromCoroutine(sync.sync_since(sync.mark()))
    gates[0].callback(None)
    assert not late.called and len(gates) == 2
    gates[1].callback(None)
    assert late.result == 2.0


def test_default_interval_catches_a_step_within_thirty_seconds() -> None:
    """By default the clock is measured every 30 s, so a step is found within that."""
    h = Harness()
    assert h.client.sync_interval == 30.0
    h.client.start()
    h.advance(0.1)
    h.skew(15.0)
    h.advance(30.0, step=0.5)
    assert h.client.clock_offset == pytest.approx(15.0, abs=0.01)
    assert h.count(TIME) == 6
    h.run(h.client.stop())
