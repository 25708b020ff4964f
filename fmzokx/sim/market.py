# -*- test-case-name: tests.sim.test_market -*-
"""
Deterministic synthetic market data: prices, trades, order books, candles, funding.

Prices must be a pure function of ``(seed, instrument, time)`` so that a test Clock can
jump hours ahead without simulating every step, and so that trades and candles of every
bar size agree exactly. The path is built top-down in integer ticks: each UTC day gets an
open/high/low/close from layered value noise (O(1) per day), and each bar is split into its
children (day -> 24 hours -> 60 minutes -> 60 seconds) by a seeded Brownian bridge that
touches the parent's high and low exactly. One trade happens every second at that second's
close, so the OHLCV of any interval is the aggregate of the native bars that tile it, and
every candle is consistent with the trade tape. Splits are cached, so evaluating "now" after
a long clock jump costs a handful of splits, not one step per second.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from decimal import Decimal
from functools import lru_cache
from math import isqrt

from attrs import frozen

from fmzokx.sim.instruments import SimInstrument, Underlying

__all__ = ["Bar", "Level", "Market", "Trade", "Walk", "BAR_SECONDS", "parse_bar"]

SECOND = 1
MINUTE = 60
HOUR = 3600
DAY = 86_400
_CHILD = {DAY: HOUR, HOUR: MINUTE, MINUTE: SECOND}
_PARENT = {HOUR: DAY, MINUTE: HOUR, SECOND: MINUTE}
_OCTAVES = 8
_FUNDING_PERIOD = 8 * HOUR

#: Bar name -> (seconds, alignment offset in seconds). Calendar months are handled apart.
BAR_SECONDS: dict[str, tuple[int, int]] = {
    "1s": (1, 0),
    "1m": (60, 0),
    "3m": (180, 0),
    "5m": (300, 0),
    "15m": (900, 0),
    "30m": (1800, 0),
    "1H": (3600, 0),
    "2H": (7200, 0),
    "4H": (14400, 0),
    "6H": (21600, -8 * HOUR),
    "12H": (43200, -8 * HOUR),
    "1D": (DAY, -8 * HOUR),
    "2D": (2 * DAY, -8 * HOUR),
    "3D": (3 * DAY, -8 * HOUR),
    "1W": (7 * DAY, -8 * HOUR - 3 * DAY),
    "6Hutc": (21600, 0),
    "12Hutc": (43200, 0),
    "1Dutc": (DAY, 0),
    "2Dutc": (2 * DAY, 0),
    "3Dutc": (3 * DAY, 0),
    "1Wutc": (7 * DAY, -3 * DAY),
}
_MONTH_BARS = {"1M": (1, 8), "3M": (3, 8), "1Mutc": (1, 0), "3Mutc": (3, 0)}


@frozen
class Bar:
    """OHLC in integer ticks and volume in integer lots over some interval."""

    open: int
    high: int
    low: int
    close: int
    volume: int

    def merge(self, later: Bar) -> Bar:
        """The bar covering this interval followed immediately by ``later``."""
        return Bar(
            self.open,
            max(self.high, later.high),
            min(self.low, later.low),
            later.close,
            self.volume + later.volume,
        )


@frozen
class Trade:
    """One public trade: the single trade of one simulated second."""

    trade_id: int
    ts_ms: int
    px: Decimal
    sz: Decimal
    side: str


@frozen
class Level:
    """One order-book level."""

    px: Decimal
    sz: Decimal
    orders: int


def _rng(*parts: object) -> random.Random:
    return random.Random(_hash(*parts))


def _hash(*parts: object) -> int:
    digest = hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@lru_cache(maxsize=65536)
def _noise(seed: int, key: str, octave: int, cell: int, amplitude: int) -> int:
    """A uniform integer in ``[-amplitude, amplitude]`` for one lattice point of one octave."""
    return _hash(seed, key, "oct", octave, cell) % (2 * amplitude + 1) - amplitude


@frozen
class Walk:
    """
    The price path of one underlying, in ticks of ``tick`` and lots of ``lot``.
    """

    seed: int
    key: str
    base_ticks: int
    day_lots: int

    def _day_close(self, day: int) -> int:
        total = self.base_ticks
        amplitude = max(1, self.base_ticks * 3 // 100)
        for octave in range(_OCTAVES):
            period = 1 << octave
            cell, offset = divmod(day, period)
            left = _noise(self.seed, self.key, octave, cell, amplitude)
            right = _noise(self.seed, self.key, octave, cell + 1, amplitude)
            total += left + (right - left) * offset // period
        return max(total, self.base_ticks // 10 + 1)

    def _day(self, day: int) -> Bar:
        open_, close = self._day_close(day - 1), self._day_close(day)
        spread = max(2, self.base_ticks // 50)
        draw = _hash(self.seed, self.key, "day", day)
        up, draw = draw % (spread + 1), draw // (spread + 1)
        down, draw = draw % (spread + 1), draw // (spread + 1)
        high = max(open_, close) + up
        low = max(1, min(open_, close) - down)
        volume = max(DAY, self.day_lots * (50 + draw % 101) // 100)
        return Bar(open_, high, low, close, volume)

    def bar(self, size: int, index: int) -> Bar:
        """The native bar number ``index`` of ``size`` seconds (1, 60, 3600 or 86400)."""
        if size == DAY:
            return _day_bar(self, index)
        parent = _PARENT[size]
        per = parent // size
        return _children(self, parent, index // per)[index % per]

    def span(self, start: int, end: int) -> Bar:
        """Aggregate OHLCV over seconds ``[start, end)`` (``end > start``)."""
        result: Bar | None = None
        for bar in self._tiles(start, end):
            result = bar if result is None else result.merge(bar)
        assert result is not None
        return result

    def _tiles(self, start: int, end: int) -> Iterator[Bar]:
        cursor = start
        while cursor < end:
            for size in (DAY, HOUR, MINUTE, SECOND):
                if cursor % size == 0 and cursor + size <= end:
                    yield self.bar(size, cursor // size)
                    cursor += size
                    break

    def _split(self, parent: Bar, size: int, index: int) -> tuple[Bar, ...]:
        child = _CHILD[size]
        count = size // child
        rng = _rng(self.seed, self.key, "split", size, index)
        high, low = parent.high, parent.low
        anchors = {0: parent.open, count: parent.close}
        peak, trough = rng.sample(range(1, count), 2)
        anchors[peak] = high
        anchors[trough] = low
        step = max(1, (high - low) // (2 * isqrt(count)))
        points = [0] * (count + 1)
        marks = sorted(anchors)
        for left, right in zip(marks, marks[1:], strict=False):
            u, v = anchors[left], anchors[right]
            width = right - left
            walk = [0]
            for _ in range(width):
                walk.append(walk[-1] + rng.randint(-step, step))
            for k in range(width + 1):
                bridge = walk[k] - walk[width] * k // width
                value = u + (v - u) * k // width + bridge
                points[left + k] = min(high, max(low, value))
            points[left], points[right] = u, v
        extra = parent.volume - size
        weights = [rng.randint(1, 100) for _ in range(count)]
        total = sum(weights)
        shares = [extra * w // total for w in weights]
        for k in range(extra - sum(shares)):
            shares[k % count] += 1
        bars = []
        for k in range(count):
            o, c = points[k], points[k + 1]
            if child == SECOND:
                hi, lo = max(o, c), min(o, c)
            else:
                wiggle = max(0, (high - low) // (4 * count))
                hi = min(high, max(o, c) + rng.randint(0, wiggle))
                lo = max(low, min(o, c) - rng.randint(0, wiggle))
            bars.append(Bar(o, hi, lo, c, child + shares[k]))
        return tuple(bars)


@lru_cache(maxsize=8192)
def _day_bar(walk: Walk, day: int) -> Bar:
    return walk._day(day)


# Each entry holds up to 60 bars; 4096 entries bound the cache to a few tens of MB.
@lru_cache(maxsize=4096)
def _children(walk: Walk, size: int, index: int) -> tuple[Bar, ...]:
    return walk._split(walk.bar(size, index), size, index)


def parse_bar(name: str) -> str | None:
    """Return ``name`` when it is a bar size OKX accepts, else ``None``."""
    if name in BAR_SECONDS or name in _MONTH_BARS:
        return name
    return None


def _month_start(seconds: int, months: int, offset_hours: int, back: int) -> int:
    """The start of the calendar bar containing ``seconds``, moved ``back`` bars earlier."""
    from datetime import datetime, timedelta, timezone

    shifted = datetime.fromtimestamp(seconds, tz=timezone.utc) + timedelta(hours=offset_hours)
    month_index = shifted.year * 12 + shifted.month - 1
    month_index = month_index - month_index % months - back * months
    year, month = divmod(month_index, 12)
    start = datetime(year, month + 1, 1, tzinfo=timezone.utc) - timedelta(hours=offset_hours)
    return int(start.timestamp())


@frozen
class Market:
    """
    Market data for every instrument, as a pure function of the seed and the time.
    """

    seed: int

    def walk(self, instrument: SimInstrument) -> Walk:
        """The price path ``instrument`` trades on (shared by instruments of one underlying)."""
        under: Underlying = instrument.underlying
        if instrument.inverse:
            lot_value = instrument.lot_sz * instrument.ct_val / under.start
        elif instrument.derivative:
            lot_value = instrument.lot_sz * instrument.ct_val
        else:
            lot_value = instrument.lot_sz
        return Walk(
            self.seed,
            under.key,
            int(under.start / instrument.tick_sz),
            max(DAY, int(under.daily_volume / lot_value)),
        )

    def _px(self, instrument: SimInstrument, ticks: int) -> Decimal:
        return ticks * instrument.tick_sz

    def _sz(self, instrument: SimInstrument, lots: int) -> Decimal:
        return lots * instrument.lot_sz

    def last(self, instrument: SimInstrument, now: float) -> Decimal:
        """The last traded price at ``now``."""
        second = int(now)
        return self._px(instrument, self.walk(instrument).bar(SECOND, second).close)

    def span(self, instrument: SimInstrument, start: int, end: int) -> tuple[Decimal, ...]:
        """``(open, high, low, close, volume)`` over seconds ``[start, end)``."""
        bar = self.walk(instrument).span(start, end)
        return (
            self._px(instrument, bar.open),
            self._px(instrument, bar.high),
            self._px(instrument, bar.low),
            self._px(instrument, bar.close),
            self._sz(instrument, bar.volume),
        )

    def first_touch(
        self, instrument: SimInstrument, start: int, end: int, px: Decimal, buy: bool
    ) -> int | None:
        """
        The first second in ``[start, end)`` whose trade reaches ``px`` (at or below it for a
        resting buy, at or above it for a resting sell), or ``None``.
        """
        if start >= end:
            return None
        walk = self.walk(instrument)
        ticks = px / instrument.tick_sz

        def touched(lo: int, hi: int) -> bool:
            # Trades happen at each second's close; the closes of [lo, hi) are exactly the
            # points of span(lo + 1, hi), whose open is the close of second ``lo``.
            if hi - lo == 1:
                close = walk.bar(SECOND, lo).close
                return close <= ticks if buy else close >= ticks
            bar = walk.span(lo + 1, hi)
            return bar.low <= ticks if buy else bar.high >= ticks

        if not touched(start, end):
            return None
        lo, hi = start, end
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if touched(lo, mid):
                hi = mid
            else:
                lo = mid
        return lo

    def trade(self, instrument: SimInstrument, second: int) -> Trade:
        """The one trade of ``second``."""
        bar = self.walk(instrument).bar(SECOND, second)
        if bar.close > bar.open:
            side = "buy"
        elif bar.close < bar.open:
            side = "sell"
        else:
            side = "buy" if second % 2 else "sell"
        return Trade(
            trade_id=second,
            ts_ms=second * 1000,
            px=self._px(instrument, bar.close),
            sz=self._sz(instrument, bar.volume),
            side=side,
        )

    def trades(self, instrument: SimInstrument, now: float, limit: int) -> list[Trade]:
        """The latest ``limit`` trades at ``now``, newest first."""
        second = int(now)
        oldest = max(second - limit, -1)
        return [self.trade(instrument, s) for s in range(second, oldest, -1)]

    def book(self, instrument: SimInstrument, now: float, depth: int) -> tuple[list[Level], ...]:
        """
        ``(asks, bids)`` around the last price: bids from the last price down, asks from one
        tick above it up, one tick apart; sizes vary deterministically each second.
        """
        walk = self.walk(instrument)
        second = int(now)
        last = walk.bar(SECOND, second).close
        rng = _rng(self.seed, walk.key, "book", second)
        typical = max(1, walk.day_lots // DAY * 3)
        asks, bids = [], []
        for level in range(depth):
            ask_lots = rng.randint(max(1, typical // 3), typical * 3)
            bid_lots = rng.randint(max(1, typical // 3), typical * 3)
            asks.append(
                Level(
                    self._px(instrument, last + 1 + level),
                    self._sz(instrument, ask_lots),
                    rng.randint(1, 12),
                )
            )
            if last - level >= 1:
                bids.append(
                    Level(
                        self._px(instrument, last - level),
                        self._sz(instrument, bid_lots),
                        rng.randint(1, 12),
                    )
                )
        return asks, bids

    def candle_starts(
        self, bar: str, now: float, after: int | None, before: int | None, limit: int
    ) -> list[tuple[int, int]]:
        """
        ``(start, end)`` seconds of the candles to return, newest first, honouring the
        exclusive ``after`` (older than, ms) and ``before`` (newer than, ms) cursors.
        """
        second = int(now)
        result: list[tuple[int, int]] = []
        if bar in _MONTH_BARS:
            months, offset = _MONTH_BARS[bar]
            back = 0
            while len(result) < limit and back < 100_000:
                start = _month_start(second, months, offset, back)
                end = _month_start(second, months, offset, back - 1)
                back += 1
                if after is not None and start * 1000 >= after:
                    continue
                if before is not None and start * 1000 <= before:
                    break
                result.append((start, end))
            return result
        size, offset = BAR_SECONDS[bar]
        newest = (second - offset) // size * size + offset
        if after is not None:
            # Newest bar starting strictly before ``after`` ms.
            bound = (after - 1) // 1000
            newest = min(newest, (bound - offset) // size * size + offset)
        start = newest
        while len(result) < limit:
            if before is not None and start * 1000 <= before:
                break
            result.append((start, start + size))
            start -= size
        return result

    def funding_rate(self, instrument: SimInstrument, funding_time_ms: int) -> Decimal:
        """The (deterministic) funding rate settled at ``funding_time_ms``."""
        rng = _rng(self.seed, instrument.inst_id, "funding", funding_time_ms)
        return Decimal(rng.randint(-300_000, 600_000)) / Decimal(10**10)

    @staticmethod
    def funding_times(now: float) -> tuple[int, int]:
        """``(next, following)`` funding settlement times in ms (every 8 hours from 00:00)."""
        period = _FUNDING_PERIOD
        upcoming = (int(now) // period + 1) * period
        return upcoming * 1000, (upcoming + period) * 1000
