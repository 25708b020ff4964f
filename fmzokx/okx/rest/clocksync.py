# -*- test-case-name: tests.okx.test_clocksync -*-
"""
The offset between our clock and OKX's, measured the way NTP does.

OKX rejects a signed request whose timestamp is more than 30 s from its own clock (50102).
Hosts drift and containers start with wrong clocks, so signing uses ``clock.seconds() +
offset``. The offset comes from several samples of ``GET /api/v5/public/time``: each
sample assumes OKX read its clock halfway through the round trip, and the sample with the
shortest round trip (the least room for asymmetry) wins.

OKX's clock can also *step* between two syncs. Two things catch that before it costs an
order: replies that carry OKX's own timestamps (``inTime``/``outTime`` on trade writes,
``ts`` on each placed or cancelled item) are checked against the estimate -- OKX stamped
them between our send and our receipt, which bounds the true offset -- and a reply that
rules the estimate out starts a resync (:meth:`ClockSync.observe_reply`); and code that
must decide something on OKX's clock *now* (is this order's ``expTime`` past?) asks for a
measurement begun after a given point (:meth:`ClockSync.mark`, :meth:`ClockSync.sync_since`).

This module holds the estimate and its history for ``/healthz``; fetching the samples is
the client's job (it passes a ``sample`` callable), so the arithmetic is tested without
any HTTP at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from attrs import define, field, frozen
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from fmzokx.deferreds import SingleFlight
from fmzokx.logs import logger
from fmzokx.okx.errors import OkxError

__all__ = ["ClockSync", "Sample", "estimate_offset", "okx_stamps"]


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


def okx_stamps(payload: object) -> list[float]:
    """
    OKX's own timestamps in a reply, in seconds: the envelope's ``inTime``/``outTime``
    (microseconds, on trade writes) and each result item's ``ts`` (milliseconds, on place,
    cancel and amend items). OKX's REST envelopes carry no top-level ``ts``; the ``ts`` of
    market data rows is the data's time, not the reply's, so it is not used.
    """
    if not isinstance(payload, Mapping):
        return []
    stamps = []
    for name in ("inTime", "outTime"):
        value = payload.get(name)
        if isinstance(value, str) and value.isdigit():
            stamps.append(int(value) / 1_000_000)
    data = payload.get("data")
    if isinstance(data, list):
        for item in data:
            if isinstance(item, Mapping) and "sCode" in item:
                value = item.get("ts")
                if isinstance(value, str) and value.isdigit():
                    stamps.append(int(value) / 1000)
    return stamps


@define
class ClockSync:
    """
    The current offset estimate and how it was obtained.

    :ivar samples_per_sync: round trips per synchronisation.
    :ivar on_measure: called with each newly adopted offset (for metrics).
    :ivar tolerance: seconds a reply's stamps may sit outside the interval the estimate
        allows (OKX stamps in whole milliseconds, and its gateway and time service may
        differ slightly) before they count as disagreeing.
    :ivar recheck_gap: least seconds between two resyncs started by disagreeing replies.
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
    tolerance: float = 1.0
    recheck_gap: float = 10.0
    _rechecked_at: float | None = field(default=None, init=False)
    _begun: int = field(default=0, init=False)
    _adopted_from: int = field(default=0, init=False)
    _running: SingleFlight[None, float] = field(factory=SingleFlight, init=False)

    log = logger("fmzokx.okx.rest.clocksync")

    async def sync(self) -> float:
        """
        Measure the offset now and adopt it; concurrent callers share one measurement.

        Samples that fail are skipped; if all fail, the previous offset is kept and the
        last failure is raised.
        """
        return await self._running.run(None, self._measure)

    def mark(self) -> int:
        """A point in the sequence of measurements, for :meth:`sync_since`."""
        return self._begun

    async def sync_since(self, mark: int) -> float:
        """
        The offset from a measurement begun after ``mark`` was taken: the current one if
        it is that recent, else a new one. Joining a measurement that was already under
        way at ``mark`` is not enough, so that one is followed by another.
        """
        for _ in range(2):
            if self._adopted_from > mark:
                break
            await self.sync()
        return self.offset

    def disagrees(self, sent: float, received: float, stamps: Sequence[float]) -> bool:
        """
        Whether OKX's ``stamps``, taken while it handled a request we sent at ``sent`` and
        whose reply we had at ``received``, rule out the current offset: each stamp lies
        between OKX's clock at those two moments, so the offset lies between
        ``stamp - received`` and ``stamp - sent``.
        """
        return any(
            not stamp - received - self.tolerance <= self.offset <= stamp - sent + self.tolerance
            for stamp in stamps
        )

    def observe_reply(self, sent: float, received: float, payload: object) -> None:
        """
        Check a reply's OKX timestamps against the estimate and, when they disagree,
        resynchronise in the background (at most once per :attr:`recheck_gap`).
        """
        stamps = okx_stamps(payload)
        if not stamps or not self.disagrees(sent, received, stamps):
            return
        now = self._clock.seconds()
        if self._running.in_flight(None) or (
            self._rechecked_at is not None and now - self._rechecked_at < self.recheck_gap
        ):
            return
        self._rechecked_at = now
        self.log.warn(
            "OKX's clock in a reply ({stamp:.3f}) disagrees with the estimated offset "
            "{offset:.3f} s: resynchronising",
            stamp=stamps[0],
            offset=self.offset,
        )
        Deferred.fromCoroutine(self.sync()).addErrback(self._background_failed)

    def _background_failed(self, failure: Failure) -> None:
        # _measure logged an OKX failure and kept the offset; a stop cancels the samples.
        if not failure.check(OkxError, CancelledError):
            self.log.failure("unexpected error during a clock resync", failure)

    async def _measure(self) -> float:
        self._begun += 1
        number = self._begun
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
        self._adopted_from = number
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
