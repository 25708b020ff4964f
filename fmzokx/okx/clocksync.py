# -*- test-case-name: tests.okx.test_clocksync -*-
"""
The offset between our clock and OKX's, measured the way NTP does.

OKX rejects a signed request whose timestamp is more than 30 s from its own clock (50102).
Hosts drift and containers start with wrong clocks, so signing uses ``clock.seconds() +
offset``. The offset comes from several samples of ``GET /api/v5/public/time``: each
sample assumes OKX read its clock halfway through the round trip, and the sample with the
shortest round trip (the least room for asymmetry) wins.

This module holds the estimate and its history for ``/healthz``; fetching the samples is
the client's job (it passes a ``sample`` callable), so the arithmetic is tested without
any HTTP at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from attrs import define, field, frozen
from twisted.internet.interfaces import IReactorTime

from fmzokx.logs import logger
from fmzokx.okx.errors import OkxError
from fmzokx.okx.singleflight import SingleFlight

__all__ = ["ClockSync", "Sample", "estimate_offset"]


@frozen
class Sample:
    """One round trip: local send time, local receive time, OKX's time (all in seconds)."""

    sent: float
    received: float
    server: float

    @property
    def rtt(self) -> float:
        """The round-trip time."""
        return self.received - self.sent

    @property
    def offset(self) -> float:
        """OKX's clock minus ours, assuming OKX read its clock at the midpoint."""
        return self.server - (self.sent + self.received) / 2


def estimate_offset(samples: Sequence[Sample]) -> Sample:
    """The sample to trust: the one with the shortest round trip."""
    if not samples:
        raise ValueError("no samples")
    return min(samples, key=lambda s: s.rtt)


@define
class ClockSync:
    """
    The current offset estimate and how it was obtained.

    :ivar samples_per_sync: round trips per synchronisation.
    :ivar on_measure: called with each newly adopted offset (for metrics).
    """

    _clock: IReactorTime
    _sample: Callable[[], Awaitable[Sample]]
    samples_per_sync: int = 3
    offset: float = 0.0
    synced_at: float | None = None
    rtt: float | None = None
    last_error: str | None = None
    syncs: int = 0
    on_measure: Callable[[float], None] | None = None
    _running: SingleFlight[None, float] = field(factory=SingleFlight, init=False)

    log = logger("fmzokx.okx.clocksync")

    async def sync(self) -> float:
        """
        Measure the offset now and adopt it; concurrent callers share one measurement.

        Samples that fail are skipped; if all fail, the previous offset is kept and the
        last failure is raised.
        """
        return await self._running.run(None, self._measure)

    async def _measure(self) -> float:
        samples = []
        failure: OkxError | None = None
        for _ in range(self.samples_per_sync):
            try:
                samples.append(await self._sample())
            except OkxError as error:
                failure = error
        if not samples:
            assert failure is not None
            self.last_error = str(failure)
            self.log.warn("OKX clock sync failed: {error}", error=str(failure))
            raise failure
        best = estimate_offset(samples)
        previous = self.offset
        self.offset = best.offset
        self.rtt = best.rtt
        self.synced_at = self._clock.seconds()
        self.last_error = None
        self.syncs += 1
        if self.on_measure is not None:
            self.on_measure(best.offset)
        self.log.info(
            "OKX clock offset {offset:.1f} ms (was {previous:.1f} ms, rtt {rtt:.1f} ms, "
            "{count} samples)",
            offset=best.offset * 1000.0,
            previous=previous * 1000.0,
            rtt=best.rtt * 1000.0,
            count=len(samples),
        )
        return best.offset

    def health(self) -> dict[str, object]:
        """The estimate and its provenance, for ``/healthz``."""
        return {
            "clock_offset_s": round(self.offset, 6),
            "clock_synced": self.synced_at is not None,
            "clock_synced_at": self.synced_at,
            "clock_sync_rtt_s": None if self.rtt is None else round(self.rtt, 6),
            "clock_syncs": self.syncs,
            "clock_sync_error": self.last_error,
        }
