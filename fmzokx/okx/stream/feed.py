# -*- test-case-name: tests.stream.test_market -*-
"""
One subscribed channel of one instrument and the copy it keeps (a ticker, a book or the
recent trades), with the times the market stream judges it by: when it was asked for,
when it went live, since when it has been out of service (kept across reconnects).
"""

from __future__ import annotations

from typing import Any

from attrs import define, field

from fmzokx.okx.stream.book import OrderBook
from fmzokx.okx.stream.client import Key, StreamConnection
from fmzokx.okx.stream.tape import TradeTape

__all__ = ["Feed"]


@define
class Feed:
    """One subscribed channel of one instrument, and the copy it keeps."""

    method: str
    channel: str
    inst_id: str
    connection: StreamConnection
    demanded: float
    since: float
    state: str = "subscribing"  # subscribing, live, resyncing, refused
    requested: float = 0.0
    acked: bool = False
    last_message: float | None = None
    generation: int = 0
    retry_at: float = 0.0
    last_resync: float | None = None
    resync_streak: int = 0
    down_since: float | None = None  # out of service since (kept across reconnects)
    live_since: float | None = None
    ticker: dict[str, Any] | None = None
    book: OrderBook = field(factory=OrderBook)
    tape: TradeTape = field(factory=TradeTape)

    @property
    def arg(self) -> dict[str, str]:
        return {"channel": self.channel, "instId": self.inst_id}

    @property
    def key(self) -> Key:
        return (self.channel, self.inst_id)

    def went_live(self, now: float) -> None:
        """The copy is in sync (again)."""
        self.state, self.since, self.live_since = "live", now, now

    def reset(self, state: str, now: float) -> None:
        """Drop the copy: the channel starts again from its next snapshot or ack."""
        if self.down_since is None:
            self.down_since = now
        self.state = state
        self.since = now
        self.live_since = None
        self.acked = False
        self.generation += 1
        self.ticker = None
        self.book.reset()
        self.tape.clear()
