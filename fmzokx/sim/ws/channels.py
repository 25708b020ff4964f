# -*- test-case-name: tests.sim.test_ws_channels -*-
"""
OKX's market-data channels, rendered from okxsim's market.

Every payload is built by the functions behind the REST views (:mod:`fmzokx.sim.public`)
at the moment of the push, so a ticker pushed at time T equals ``GET /market/ticker`` at
T, and the ``books`` channel's book for second N equals ``GET /market/books?sz=400`` in
that second (``seqId`` N on both). The market changes once a second; feeds are polled on
the server's 100 ms tick.

When a feed pushes follows the ``ws_cadence`` setting (:mod:`fmzokx.sim.settings`):
``okx``, as OKX documents it, pushes a channel only when its data changed (a ticker on a
trade or a best bid/ask change, a book's changes, an unchanged book's empty update
about once a minute); ``tick`` pushes every channel at every tick.

Each subscription of each session gets its own :class:`Feed`, which remembers what it
sent (the books feed: the last book and ``seqId``; the trades feeds: the last trade) so
that the next push carries only what is new.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

from .. import public
from ..instruments import SimInstrument
from ..market import Level, Market, parse_bar
from ..numbers import render
from ..settings import SimSettings

__all__ = [
    "BOOK_DEPTH",
    "BUSINESS",
    "PUBLIC",
    "BooksFeed",
    "Feed",
    "book_checksum",
    "channel_path",
    "make_feed",
]

PUBLIC = "/ws/v5/public"
BUSINESS = "/ws/v5/business"
BOOK_DEPTH = 400
CHECKSUM_LEVELS = 25
TRADE_BURST = 100
"""Most trades pushed at one tick (after a test clock jumps hours ahead)."""
CANDLE_SPACING_MS = 500
"""OKX pushes a candle at most every 500 ms."""
BOOK_KEEPALIVE_POLLS = 600
"""With OKX's cadence, an unchanged book sends its empty update after this many polls
(about a minute on the server's 100 ms tick; counted in polls, not market time, so a
market held still by a test still sends it)."""

_PUBLIC_CHANNELS = ("tickers", "books", "books5", "bbo-tbt", "trades")
_BUSINESS_CHANNELS = ("trades-all",)

Message = dict[str, Any]
Side = dict[Decimal, tuple[Decimal, int]]


def channel_path(channel: str) -> str | None:
    """The WebSocket path serving ``channel``, or ``None`` for a channel okxsim lacks."""
    if channel in _PUBLIC_CHANNELS:
        return PUBLIC
    if channel in _BUSINESS_CHANNELS:
        return BUSINESS
    if channel.startswith("candle") and parse_bar(channel[len("candle"):]) is not None:
        return BUSINESS
    return None


def book_checksum(bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]) -> int:
    """
    OKX's order-book checksum: CRC32, as a signed 32-bit integer, of the top 25 bids and
    asks written ``bid1px:bid1sz:ask1px:ask1sz:...``; when one side is shorter its
    missing levels are left out.
    """
    parts: list[str] = []
    for index in range(CHECKSUM_LEVELS):
        for side in (bids, asks):
            if index < len(side):
                parts.append(f"{side[index][0]}:{side[index][1]}")
    value = zlib.crc32(":".join(parts).encode("ascii"))
    return value - (1 << 32) if value >= 1 << 31 else value


def _row(px: Decimal, sz: Decimal, orders: int) -> list[str]:
    return [render(px), render(sz), "0", str(orders)]


def _rows(levels: Iterable[Level]) -> list[list[str]]:
    return [_row(level.px, level.sz, level.orders) for level in levels]


class Feed(Protocol):
    """What one subscription pushes: right after its acknowledgement, then at each tick."""

    def first(self, now_ms: int) -> list[Message]:
        """Messages sent right after the subscription is acknowledged."""

    def poll(self, now_ms: int) -> list[Message]:
        """Messages due at this tick (often none)."""


class _Base:
    def __init__(
        self,
        market: Market,
        inst: SimInstrument,
        channel: str,
        settings: SimSettings | None = None,
    ) -> None:
        self.market = market
        self.inst = inst
        self.arg = {"channel": channel, "instId": inst.inst_id}
        self.settings = settings if settings is not None else SimSettings()

    @property
    def every_tick(self) -> bool:
        """Whether to push at every tick (``ws_cadence`` ``tick``), not only on change."""
        return self.settings.ws_cadence == "tick"

    def _message(self, data: list[Any], **extra: Any) -> Message:
        return {"arg": dict(self.arg), **extra, "data": data}


class TickerFeed(_Base):
    """
    ``tickers``: the REST ticker (its ``ts`` is the push time), pushed when a trade happened
    or the best bid or ask changed since the last push (at every tick with ``tick``).
    """

    _sent: tuple[str, ...] | None = None

    def first(self, now_ms: int) -> list[Message]:
        self._sent = None
        return self.poll(now_ms)

    def poll(self, now_ms: int) -> list[Message]:
        ticker = public.ticker(self.market, self.inst, now_ms)
        second = now_ms // 1000
        mark = (str(self.market.trade(self.inst, second).trade_id),) + tuple(
            ticker[name] for name in ("askPx", "askSz", "bidPx", "bidSz")
        )
        if mark == self._sent and not self.every_tick:
            return []
        self._sent = mark
        return [self._message([ticker])]


class TopFeed(_Base):
    """``books5`` and ``bbo-tbt``: a snapshot of the top levels at every tick."""

    def __init__(
        self,
        market: Market,
        inst: SimInstrument,
        channel: str,
        settings: SimSettings | None = None,
    ) -> None:
        super().__init__(market, inst, channel, settings)
        self.depth = 5 if channel == "books5" else 1
        self._sent: tuple[Any, ...] | None = None

    def first(self, now_ms: int) -> list[Message]:
        self._sent = None
        return self.poll(now_ms)

    def poll(self, now_ms: int) -> list[Message]:
        asks, bids = self.market.book(self.inst, now_ms / 1000, self.depth)
        mark = (tuple(asks), tuple(bids))
        if mark == self._sent and not self.every_tick:
            return []
        self._sent = mark
        item: dict[str, Any] = {"asks": _rows(asks), "bids": _rows(bids)}
        if self.depth == 5:
            item["instId"] = self.inst.inst_id
        item["ts"] = str(now_ms)
        item["seqId"] = now_ms // 1000
        return [self._message([item])]


class BooksFeed(_Base):
    """
    ``books``: a 400-level snapshot, then the levels that changed since the last message
    (size ``"0"`` deletes a level) when the book moved to a new second, or, when nothing
    changed, OKX's no-change form (empty sides, ``prevSeqId`` equal to ``seqId``): about
    once a minute with OKX's cadence, at every tick with ``tick``. ``seqId`` is the second
    whose book the message brings you to, as in REST, until a ``seq-reset`` fault.

    :ivar corrupt: the number of coming updates whose checksum is to be wrong (a fault).
    :ivar drop: the number of coming new-second updates to leave unsent, opening a gap in
        the ``seqId`` chain (a fault).
    :ivar reset_seq: whether the next update restarts ``seqId`` low, chained by
        ``prevSeqId`` as OKX does after maintenance (a fault).
    """

    def __init__(
        self,
        market: Market,
        inst: SimInstrument,
        channel: str,
        settings: SimSettings | None = None,
    ) -> None:
        super().__init__(market, inst, channel, settings)
        self.seq = -1
        self.sent_seq = -1
        self.shift = 0
        self.quiet_polls = 0
        self.keepalive_polls = BOOK_KEEPALIVE_POLLS
        self.asks: Side = {}
        self.bids: Side = {}
        self.corrupt = 0
        self.drop = 0
        self.reset_seq = False

    def _book(self, second: int) -> tuple[Side, Side]:
        return _full_book(self.market, self.inst, second)

    def _checksum(self) -> int:
        if self.settings.ws_checksum == "zero":
            return 0

        def top(side: Side, descending: bool) -> list[list[str]]:
            prices = sorted(side, reverse=descending)[:CHECKSUM_LEVELS]
            return [[render(px), render(side[px][0])] for px in prices]

        return book_checksum(top(self.bids, True), top(self.asks, False))

    def first(self, now_ms: int) -> list[Message]:
        second = now_ms // 1000
        self.asks, self.bids = self._book(second)
        self.seq = second
        self.sent_seq = second - self.shift
        self.quiet_polls = 0
        item = {
            "asks": [_row(px, *self.asks[px]) for px in sorted(self.asks)],
            "bids": [_row(px, *self.bids[px]) for px in sorted(self.bids, reverse=True)],
            "ts": str(now_ms),
            "checksum": self._checksum(),
            "prevSeqId": -1,
            "seqId": self.sent_seq,
        }
        return [self._message([item], action="snapshot")]

    def poll(self, now_ms: int) -> list[Message]:
        second = now_ms // 1000
        ask_changes: list[list[str]] = []
        bid_changes: list[list[str]] = []
        moved = second != self.seq
        if moved:
            asks, bids = self._book(second)
            ask_changes = sorted(_diff(self.asks, asks), key=lambda row: Decimal(row[0]))
            bid_changes = sorted(
                _diff(self.bids, bids), key=lambda row: Decimal(row[0]), reverse=True
            )
            self.asks, self.bids, self.seq = asks, bids, second
            if self.drop:
                self.drop -= 1
                self.sent_seq = second - self.shift  # "sent", so the next names it
                return []
        elif not self.every_tick:
            self.quiet_polls += 1
            if self.quiet_polls < self.keepalive_polls:
                return []
        prev = self.sent_seq
        if moved and self.reset_seq:
            self.reset_seq = False
            self.shift = second - 1
        checksum = self._checksum()
        if self.corrupt:
            self.corrupt -= 1
            checksum = checksum ^ 0x5A5A5A5A or 1
        self.sent_seq = self.seq - self.shift
        self.quiet_polls = 0
        item = {
            "asks": ask_changes,
            "bids": bid_changes,
            "ts": str(now_ms),
            "checksum": checksum,
            "prevSeqId": prev if moved else self.sent_seq,
            "seqId": self.sent_seq,
        }
        return [self._message([item], action="update")]


@lru_cache(maxsize=64)
def _full_book(market: Market, inst: SimInstrument, second: int) -> tuple[Side, Side]:
    """The 400-level book of one second, shared by every session (read-only)."""
    asks, bids = market.book(inst, second, BOOK_DEPTH)
    return (
        {level.px: (level.sz, level.orders) for level in asks},
        {level.px: (level.sz, level.orders) for level in bids},
    )


def _diff(old: Side, new: Side) -> list[list[str]]:
    rows = [_row(px, *level) for px, level in new.items() if old.get(px) != level]
    rows.extend([render(px), "0", "0", "0"] for px in old if px not in new)
    return rows


class TradesFeed(_Base):
    """
    ``trades`` (public) and ``trades-all`` (business): each trade after the subscription,
    one per message (okxsim's trades are never aggregated, so ``count`` is always 1).
    """

    def __init__(
        self,
        market: Market,
        inst: SimInstrument,
        channel: str,
        settings: SimSettings | None = None,
    ) -> None:
        super().__init__(market, inst, channel, settings)
        self.all = channel == "trades-all"
        self.last = -1

    def first(self, now_ms: int) -> list[Message]:
        self.last = now_ms // 1000
        return []

    def poll(self, now_ms: int) -> list[Message]:
        second = now_ms // 1000
        start = max(self.last + 1, second - TRADE_BURST + 1)
        self.last = max(self.last, second)
        messages = []
        for moment in range(start, second + 1):
            trade = self.market.trade(self.inst, moment)
            row: dict[str, Any] = {
                "instId": self.inst.inst_id,
                "tradeId": str(trade.trade_id),
                "px": render(trade.px),
                "sz": render(trade.sz),
                "side": trade.side,
                "ts": str(trade.ts_ms),
            }
            if self.all:
                row["source"] = "0"
            else:
                row.update({"count": "1", "source": "0", "seqId": trade.trade_id})
            messages.append(self._message([row]))
        return messages


class CandleFeed(_Base):
    """``candle<bar>``: the forming candle, pushed when it changed (at most every 500 ms)."""

    def __init__(
        self,
        market: Market,
        inst: SimInstrument,
        channel: str,
        settings: SimSettings | None = None,
    ) -> None:
        super().__init__(market, inst, channel, settings)
        bar = parse_bar(channel[len("candle"):])
        assert bar is not None
        self.params = {"bar": bar, "limit": "1"}
        self.sent: list[str] | None = None
        self.sent_ms = 0

    def _row(self, now_ms: int) -> list[str] | None:
        rows = public.candles(self.market, self.inst, now_ms, self.params, history=True)
        return rows[0] if rows else None

    def first(self, now_ms: int) -> list[Message]:
        row = self._row(now_ms)
        self.sent, self.sent_ms = row, now_ms
        return [self._message([row])] if row is not None else []

    def poll(self, now_ms: int) -> list[Message]:
        if now_ms - self.sent_ms < CANDLE_SPACING_MS:
            return []
        row = self._row(now_ms)
        if row is None or row == self.sent:
            return []
        self.sent, self.sent_ms = row, now_ms
        return [self._message([row])]


_FEEDS: dict[str, Callable[[Market, SimInstrument, str, SimSettings | None], Feed]] = {
    "tickers": TickerFeed,
    "books": BooksFeed,
    "books5": TopFeed,
    "bbo-tbt": TopFeed,
    "trades": TradesFeed,
    "trades-all": TradesFeed,
}


def make_feed(
    market: Market, inst: SimInstrument, channel: str, settings: SimSettings | None = None
) -> Feed:
    """
    A fresh feed of ``channel`` (one :func:`channel_path` knows) for ``inst``, pushing as
    ``settings`` (read at each push; OKX's defaults without) say.
    """
    factory = _FEEDS.get(channel, CandleFeed)
    return factory(market, inst, channel, settings)
