# -*- test-case-name: tests.status.test_history -*-
"""
The last hour of the daemon's traffic, per minute, in fixed memory.

The status page needs windowed numbers (calls, errors, latency p50/p99 over the last 5
and 60 minutes) and a per-minute line for the charts; Prometheus is not assumed to
exist. Each series is a ring of :data:`RING_MINUTES` one-minute slots, overwritten in
place as time moves on, so memory depends on the number of series (capped) and never
on traffic. Latencies go into a log-spaced histogram (bins 20% apart, 0.1 ms to
120 s): a quantile is the bin's midpoint, clamped to the window's smallest and largest
sample, so it is within 20% of the exact value (usually much closer: the samples of a
bin are spread across it) and exact when all samples agree.

Every event carries only bounded, secret-free words: service labels of the access
policy's shape, OKX paths as :func:`fmzokx.metrics.label_for_path` gives them, short
codes and outcomes; error messages pass through ``scrub`` (the process's credential
mask) when recorded. Past a cap, new labels are counted as ``"other"``.

All time comes from the injected clock.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Generic, Protocol, TypeVar

from attrs import define, field
from twisted.internet.interfaces import IReactorTime

from fmzokx.logs import secrets
from fmzokx.metrics import label_for_path, label_for_status

__all__ = [
    "LATENCY_BOUNDS",
    "ORDER_OUTCOMES",
    "RING_MINUTES",
    "WINDOWS",
    "History",
    "LatencyHistogram",
    "MinuteRing",
]

RING_MINUTES = 60
"""Minutes of history kept (the current, partial minute is the newest of them)."""

WINDOWS = (5, 60)
"""The windows the page reports, in minutes, each ending now."""

ORDER_OUTCOMES = ("placed", "reconciled", "not-placed", "unknown")
"""Placed at once; placed, found by reconciliation; definitely not placed; nobody knows."""

_ORDER_ALIASES = {"found": "reconciled", "not_placed": "not-placed"}

OTHER = "other"
MAX_LABELS = 16
MAX_ENDPOINTS = 32
MAX_SCOPES = 8
MAX_ERRORS = 20
MAX_WORDS_PER_MINUTE = 16
MAX_MESSAGE = 400

_RATIO = 1.2
_FLOOR = 0.0001
_CEILING = 120.0
LATENCY_BOUNDS: tuple[float, ...] = tuple(
    _FLOOR * _RATIO**i for i in range(math.ceil(math.log(_CEILING / _FLOOR, _RATIO)) + 1)
)
"""Upper bounds of the latency bins, in seconds; one more bin holds anything slower."""

_LABEL = re.compile(r"^[A-Za-z0-9_.~-]{1,64}$")
_WORD = re.compile(r"^[A-Za-z0-9_.+-]{1,40}$")


class _Slot(Protocol):
    minute: int


SlotT = TypeVar("SlotT", bound=_Slot)


@define
class LatencyHistogram:
    """Counts per log-spaced latency bin, with the exact smallest and largest sample."""

    counts: dict[int, int] = field(factory=dict)
    total: int = 0
    low: float = math.inf
    high: float = 0.0

    def add(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        index = bisect_left(LATENCY_BOUNDS, seconds)
        self.counts[index] = self.counts.get(index, 0) + 1
        self.total += 1
        self.low = min(self.low, seconds)
        self.high = max(self.high, seconds)

    def merge(self, other: LatencyHistogram) -> None:
        for index, count in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + count
        self.total += other.total
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile in seconds (nearest rank), or ``None`` without samples."""
        if self.total == 0:
            return None
        rank = max(1, math.ceil(q * self.total))
        seen = 0
        for index in sorted(self.counts):
            count = self.counts[index]
            if seen + count >= rank:
                # Spread the bin's samples evenly (on the log scale) across the bin.
                position = (rank - seen - 0.5) / count
                return min(max(_within(index, position), self.low), self.high)
            seen += count
        return self.high


def _within(index: int, position: float) -> float:
    """The latency at ``position`` (0..1) through bin ``index``, on a log scale."""
    if index <= 0:
        return LATENCY_BOUNDS[0]
    if index >= len(LATENCY_BOUNDS):
        return LATENCY_BOUNDS[-1]
    low, high = LATENCY_BOUNDS[index - 1], LATENCY_BOUNDS[index]
    return float(low * (high / low) ** position)


@define
class MinuteRing(Generic[SlotT]):
    """
    The last ``size`` one-minute slots of one series.

    A slot is reused when its position comes round again: :meth:`current` resets a slot
    holding an older minute, and :meth:`window` ignores slots outside the window, so a
    quiet hour leaves nothing stale behind.
    """

    make: Callable[[int], SlotT]
    size: int = RING_MINUTES
    slots: list[SlotT | None] = field(init=False)

    def __attrs_post_init__(self) -> None:
        self.slots = [None] * self.size

    def current(self, minute: int) -> SlotT:
        position = minute % self.size
        slot = self.slots[position]
        if slot is None or slot.minute != minute:
            slot = self.slots[position] = self.make(minute)
        return slot

    def get(self, minute: int) -> SlotT | None:
        slot = self.slots[minute % self.size]
        return slot if slot is not None and slot.minute == minute else None

    def window(self, now_minute: int, minutes: int) -> list[SlotT]:
        """The slots of the ``minutes`` minutes ending with ``now_minute`` that saw events."""
        first = now_minute - min(minutes, self.size) + 1
        return [
            slot for slot in self.slots if slot is not None and first <= slot.minute <= now_minute
        ]


@define
class _CallMinute:
    """One minute of one series of calls."""

    minute: int
    calls: int = 0
    errors: int = 0
    latency: LatencyHistogram = field(factory=LatencyHistogram)
    statuses: dict[str, int] = field(factory=dict)
    codes: dict[str, int] = field(factory=dict)


@define
class _WaitMinute:
    minute: int
    waits: int = 0
    seconds: float = 0.0
    longest: float = 0.0


@define
class _OrderMinute:
    minute: int
    outcomes: dict[str, int] = field(factory=dict)


def _bump(counts: dict[str, int], word: str) -> None:
    if word not in counts and len(counts) >= MAX_WORDS_PER_MINUTE:
        word = OTHER
    counts[word] = counts.get(word, 0) + 1


def _word(value: object) -> str:
    text = str(value).strip()
    return text if _WORD.match(text) else OTHER


def _call_summary(slots: Iterable[_CallMinute], minutes: int) -> dict[str, Any]:
    calls = errors = 0
    latency = LatencyHistogram()
    statuses: dict[str, int] = {}
    codes: dict[str, int] = {}
    for slot in slots:
        calls += slot.calls
        errors += slot.errors
        latency.merge(slot.latency)
        for source, target in ((slot.statuses, statuses), (slot.codes, codes)):
            for word, count in source.items():
                target[word] = target.get(word, 0) + count
    return {
        "calls": calls,
        "errors": errors,
        "per_second": calls / (minutes * 60.0),
        "p50_ms": _ms(latency.quantile(0.50)),
        "p99_ms": _ms(latency.quantile(0.99)),
        "max_ms": _ms(latency.high if latency.total else None),
        "statuses": dict(sorted(statuses.items(), key=lambda item: (-item[1], item[0]))),
        "codes": dict(sorted(codes.items(), key=lambda item: (-item[1], item[0]))),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


@define
class History:
    """
    Records what the daemon reports and summarises the last hour on demand.

    The recording methods are cheap (a dict lookup and a few additions) and are meant to
    be called from the points that already feed ``/metrics``. :meth:`snapshot` is called
    per page view.
    """

    _clock: IReactorTime
    scrub: Callable[[str], str] = secrets.scrub
    _services: dict[str, MinuteRing[_CallMinute]] = field(factory=dict)
    _endpoints: dict[str, MinuteRing[_CallMinute]] = field(factory=dict)
    _scopes: dict[str, MinuteRing[_WaitMinute]] = field(factory=dict)
    _orders: MinuteRing[_OrderMinute] = field(factory=lambda: MinuteRing(_OrderMinute))
    _order_totals: dict[str, int] = field(factory=lambda: dict.fromkeys(ORDER_OUTCOMES, 0))
    _errors: deque[dict[str, Any]] = field(factory=lambda: deque(maxlen=MAX_ERRORS))
    _last_upstream: tuple[_CallMinute, bool] | None = None

    def _minute(self) -> int:
        return int(self._clock.seconds() // 60)

    @staticmethod
    def _series(
        table: dict[str, MinuteRing[SlotT]], name: str, cap: int, make: Callable[[int], SlotT]
    ) -> MinuteRing[SlotT]:
        ring = table.get(name)
        if ring is None:
            if len(table) >= cap and OTHER not in table:
                name = OTHER
            elif len(table) >= cap:
                return table[OTHER]
            ring = table.setdefault(name, MinuteRing(make))
        return ring

    # -- recording ------------------------------------------------------------------

    def docker_call(self, label: str, outcome: str, seconds: float) -> None:
        """One docker call answered: its service label, ``"ok"`` or not, and its duration."""
        name = self.service_label(label)
        slot = self._series(self._services, name, MAX_LABELS, _CallMinute).current(
            self._minute()
        )
        slot.calls += 1
        if outcome != "ok":
            slot.errors += 1
            _bump(slot.statuses, _word(outcome))
        slot.latency.add(seconds)

    def upstream_call(self, path: str, status: int | str, seconds: float) -> None:
        """One HTTP request to OKX: its path, HTTP status (or failure word) and duration."""
        slot = self._endpoint_slot(path)
        slot.calls += 1
        word = label_for_status(status)
        failed = word != "200"
        if failed:
            slot.errors += 1
        _bump(slot.statuses, word)
        slot.latency.add(seconds)
        self._last_upstream = (slot, failed)

    def okx_code(self, path: str, code: str | int) -> None:
        """
        An OKX error code in the reply to the request just recorded for ``path``.

        The client reports the attempt, then its code, back to back; a code on an HTTP
        200 reply (``51008`` and most business errors) makes that request an error too.
        """
        slot = self._endpoint_slot(path)
        _bump(slot.codes, _word(code))
        last = self._last_upstream
        if last is None or last[0] is not slot or not last[1]:
            slot.errors += 1
        self._last_upstream = (slot, True)

    def _endpoint_slot(self, path: str) -> _CallMinute:
        ring = self._series(self._endpoints, label_for_path(path), MAX_ENDPOINTS, _CallMinute)
        return ring.current(self._minute())

    def pacing_wait(self, scope: str, seconds: float) -> None:
        """A call queued ``seconds`` for rate-limit budget of kind ``scope`` (0: no wait)."""
        if not seconds > 0:
            return
        ring = self._series(self._scopes, _word(scope), MAX_SCOPES, _WaitMinute)
        slot = ring.current(self._minute())
        slot.waits += 1
        slot.seconds += max(0.0, seconds)
        slot.longest = max(slot.longest, seconds)

    def order_outcome(self, outcome: str) -> None:
        """How an order ended: one of :data:`ORDER_OUTCOMES` (``found`` = reconciled)."""
        word = _ORDER_ALIASES.get(outcome, outcome)
        if word not in self._order_totals:
            return
        self._order_totals[word] += 1
        _bump(self._orders.current(self._minute()).outcomes, word)

    def error(self, label: str, method: str, message: str) -> None:
        """An error answered to the docker; only the latest :data:`MAX_ERRORS` are kept."""
        text = self.scrub(str(message))
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE - 1] + "\u2026"
        self._errors.append(
            {
                "time": self._clock.seconds(),
                "label": self.service_label(label),
                "method": _word(method) if method else "",
                "message": text,
            }
        )

    def service_label(self, label: str) -> str:
        """The label a docker call is filed under: the access policy's shape, scrubbed."""
        text = label.strip()
        if not _LABEL.match(text) or self.scrub(text) != text:
            return OTHER if text else "(none)"
        return text

    # -- reading --------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The last hour as plain data (numbers, short words; see :mod:`fmzokx.status.page`)."""
        now = self._clock.seconds()
        minute = int(now // 60)
        return {
            "now": now,
            "windows": list(WINDOWS),
            "services": [
                self._call_series("label", name, ring, now)
                for name, ring in sorted(self._services.items())
            ],
            "endpoints": [
                self._call_series("path", name, ring, now)
                for name, ring in sorted(self._endpoints.items())
            ],
            "pacing": [
                {
                    "scope": name,
                    "windows": {
                        str(w): _wait_summary(ring.window(minute, w)) for w in WINDOWS
                    },
                }
                for name, ring in sorted(self._scopes.items())
            ],
            "orders": {
                "windows": {
                    str(w): _order_summary(self._orders.window(minute, w)) for w in WINDOWS
                },
                "total": dict(self._order_totals),
            },
            "errors": list(reversed(self._errors)),
        }

    def _call_series(
        self, key: str, name: str, ring: MinuteRing[_CallMinute], now: float
    ) -> dict[str, Any]:
        minute = int(now // 60)
        windows = {str(w): _call_summary(ring.window(minute, w), w) for w in WINDOWS}
        return {key: name, "windows": windows, "chart": _chart(ring, now)}


def _chart(ring: MinuteRing[_CallMinute], now: float) -> dict[str, list[float | None]]:
    """Per minute over the ring, oldest first: calls/s, p50 and p99 (ms; None if idle)."""
    minute = int(now // 60)
    rate: list[float | None] = []
    p50: list[float | None] = []
    p99: list[float | None] = []
    for m in range(minute - ring.size + 1, minute + 1):
        slot = ring.get(m)
        # The current minute is partial: divide by the seconds it has had so far.
        span = max(1.0, now - m * 60.0) if m == minute else 60.0
        if slot is None:
            rate.append(0.0)
            p50.append(None)
            p99.append(None)
            continue
        rate.append(slot.calls / span)
        p50.append(_ms(slot.latency.quantile(0.50)))
        p99.append(_ms(slot.latency.quantile(0.99)))
    return {"calls_per_s": rate, "p50_ms": p50, "p99_ms": p99}


def _wait_summary(slots: Iterable[_WaitMinute]) -> dict[str, Any]:
    waits = 0
    seconds = longest = 0.0
    for slot in slots:
        waits += slot.waits
        seconds += slot.seconds
        longest = max(longest, slot.longest)
    return {"waits": waits, "seconds": round(seconds, 6), "longest_ms": _ms(longest)}


def _order_summary(slots: Iterable[_OrderMinute]) -> dict[str, int]:
    counts = dict.fromkeys(ORDER_OUTCOMES, 0)
    for slot in slots:
        for word, count in slot.outcomes.items():
            counts[word] = counts.get(word, 0) + count
    return counts
