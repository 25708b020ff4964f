# -*- test-case-name: tests.stream.test_market -*-
"""
The daemon's live copy of OKX market data, answering ticker, depth and trades queries.

The first query for an instrument subscribes the channel behind it (``tickers`` and
``books`` on the public URL, ``trades-all`` on the business URL). A query is answered
from the copy only when the channel is **in sync** (the ticker arrived; the book has a
snapshot and an unbroken ``seqId`` chain with matching checksums; the trades
subscription is acknowledged) and **fresh**: a message arrived within ``freshness``
seconds (default 1), either on the channel or on its connection. OKX pushes a channel
whenever its data changes and one connection's messages arrive in order, so a live
connection that has said nothing about a channel since its last push means that channel
has not changed. Otherwise the query returns ``None`` and the caller asks REST, so a
strategy sees the same data either way, only sooner.

A book that breaks its ``seqId`` chain or checksum is resubscribed for a new snapshot;
a channel OKX refuses (60018 for an unknown instrument...) is left to REST and retried
later; a channel nobody asked about for ``linger`` seconds (default 5 minutes) is
unsubscribed. Each query that finds the connection quiet for half the freshness budget
sends a ``ping``, so the next one finds it confirmed.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import define, field
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

from fmzokx.logs import logger
from fmzokx.okx.endpoints import BOOKS_CHANNEL, TICKERS_CHANNEL, TRADES_ALL_CHANNEL, Channel
from fmzokx.okx.stream.book import BOOK_DEPTH, BookError, OrderBook
from fmzokx.okx.stream.client import Connector, StreamConnection, key_of
from fmzokx.okx.stream.limits import ConnectLimiter
from fmzokx.okx.stream.stats import StreamStats
from fmzokx.okx.stream.tape import TradeTape
from fmzokx.okx.stream.urls import BUSINESS, PUBLIC

__all__ = ["CHANNELS", "MarketStream"]

log = logger(__name__)

CHANNELS: dict[str, Channel] = {
    "ticker": TICKERS_CHANNEL,
    "depth": BOOKS_CHANNEL,
    "trades": TRADES_ALL_CHANNEL,
}
"""Query -> the OKX channel it is answered from."""

FRESHNESS = 1.0
LINGER = 300.0
ACK_TIMEOUT = 10.0
"""Seconds a subscription may wait for its acknowledgement and first data."""
RETRY_REFUSED = 60.0
"""Seconds before a channel OKX refused (or that kept breaking) is tried again."""
RESYNC_CALM = 60.0
"""A book that breaks again within this many seconds of its last resync waits before
the next one (1 s, then 2, 4... up to this), so a broken feed cannot spend OKX's
request budget in a loop."""
HEALTH_GRACE = 10.0
"""Seconds a wanted channel may be out of service before ``/healthz`` says degraded."""
STALE_GRACE = 35.0
"""Seconds without any message before a live channel counts as degraded."""


@define
class _Feed:
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
    ticker: dict[str, Any] | None = None
    book: OrderBook = field(factory=OrderBook)
    tape: TradeTape = field(factory=TradeTape)

    @property
    def arg(self) -> dict[str, str]:
        return {"channel": self.channel, "instId": self.inst_id}

    def reset(self, state: str, now: float) -> None:
        """Drop the copy: the channel starts again from its next snapshot or ack."""
        self.state = state
        self.since = now
        self.acked = False
        self.generation += 1
        self.ticker = None
        self.book.reset()
        self.tape.clear()


class MarketStream:
    """
    Live OKX market data for the instruments being asked about.

    :param public_url: e.g. ``wss://ws.okx.com:8443/ws/v5/public``.
    :param business_url: e.g. ``wss://ws.okx.com:8443/ws/v5/business``.
    :param connector: opens WebSocket transports (see :func:`~.client.endpoint_connector`).
    :param freshness: seconds within which a message must have arrived.
    :param linger: seconds without a query before a channel is unsubscribed.
    """

    def __init__(
        self,
        clock: IReactorTime,
        public_url: str,
        business_url: str,
        connector: Connector,
        *,
        freshness: float = FRESHNESS,
        linger: float = LINGER,
        stats: StreamStats | None = None,
        limiter: ConnectLimiter | None = None,
        rng: random.Random | None = None,
        **connection_options: Any,
    ) -> None:
        self.clock = clock
        self.freshness = freshness
        self.linger = linger
        self.stats = stats or StreamStats()
        self.limiter = limiter or ConnectLimiter(clock)
        self.connections = {
            path: StreamConnection(
                url,
                clock=clock,
                connector=connector,
                limiter=self.limiter,
                listener=self,
                rng=rng,
                **connection_options,
            )
            for path, url in ((PUBLIC, public_url), (BUSINESS, business_url))
        }
        self.feeds: dict[tuple[str, str], _Feed] = {}
        self._sweeper: LoopingCall | None = None

    # -- life ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the once-a-second housekeeping (timeouts, unsubscribing idle channels)."""
        if self._sweeper is None:
            sweeper = self._sweeper = LoopingCall(self._sweep)
            sweeper.clock = self.clock
            sweeper.start(1.0, now=False)

    def stop(self) -> None:
        """Unsubscribe everything and close the connections."""
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None and sweeper.running:
            sweeper.stop()
        self.feeds.clear()
        for connection in self.connections.values():
            connection.stop()

    # -- queries ---------------------------------------------------------------------------

    def ticker(self, inst_id: str) -> dict[str, Any] | None:
        """The latest ``tickers`` push for ``inst_id`` (REST's ticker object), or ``None``."""
        feed = self._demand("ticker", inst_id)
        if not self._usable(feed) or feed.ticker is None:
            return None
        self.stats.answer("ticker")
        return dict(feed.ticker)

    def depth(self, inst_id: str, limit: int) -> dict[str, Any] | None:
        """The best ``limit`` (1-400) levels a side as REST's book object, or ``None``."""
        if not 1 <= limit <= BOOK_DEPTH:
            return None
        feed = self._demand("depth", inst_id)
        if not self._usable(feed) or not feed.book.synced:
            return None
        self.stats.answer("depth")
        return feed.book.levels(limit)

    def trades(self, inst_id: str, limit: int) -> list[dict[str, Any]] | None:
        """The ``limit`` newest trades, newest first (as REST), or ``None``."""
        feed = self._demand("trades", inst_id)
        if not self._usable(feed):
            return None
        rows = feed.tape.newest(limit)
        if rows is None:
            self.stats.fallback("trades", "short")
            return None
        self.stats.answer("trades")
        return rows

    def trades_mark(self, inst_id: str) -> int | None:
        """
        Take this before asking REST for trades, and hand it to :meth:`seed_trades` with
        the answer: it records that the trades subscription was already live, so every
        later trade reaches the copy and the REST rows can be joined to it without a gap.
        """
        feed = self.feeds.get((TRADES_ALL_CHANNEL.name, inst_id))
        if feed is None or feed.state != "live":
            return None
        return feed.generation

    def seed_trades(
        self, inst_id: str, rows: Sequence[Mapping[str, Any]], mark: int | None
    ) -> bool:
        """Join REST's trades to the copy if ``mark`` shows no gap is possible."""
        feed = self.feeds.get((TRADES_ALL_CHANNEL.name, inst_id))
        if mark is None or feed is None or feed.state != "live" or feed.generation != mark:
            return False
        feed.tape.add(row for row in rows if row.get("instId", inst_id) == inst_id)
        return True

    def _demand(self, method: str, inst_id: str) -> _Feed:
        channel, path = CHANNELS[method].name, CHANNELS[method].path
        now = self.clock.seconds()
        feed = self.feeds.get((channel, inst_id))
        if feed is None:
            connection = self.connections[path]
            feed = self.feeds[(channel, inst_id)] = _Feed(
                method, channel, inst_id, connection, demanded=now, since=now, requested=now
            )
            connection.subscribe(feed.arg)
        feed.demanded = now
        if feed.state == "refused" and now >= feed.retry_at:
            feed.reset("subscribing", now)
            feed.requested = now
            feed.connection.subscribe(feed.arg)
        return feed

    def _usable(self, feed: _Feed) -> bool:
        now = self.clock.seconds()
        connection = feed.connection
        if feed.state != "live":
            reason = {"refused": "failed", "resyncing": "unsynced"}.get(feed.state, "cold")
            self.stats.fallback(feed.method, reason)
            return False
        heard = max(feed.last_message or 0.0, connection.last_inbound or 0.0)
        if now - heard > self.freshness / 2:
            connection.ping_now()
        if now - heard > self.freshness:
            self.stats.fallback(feed.method, "stale")
            return False
        return True

    # -- what the connections report -------------------------------------------------------

    def _feeds_on(self, connection: StreamConnection) -> list[_Feed]:
        return [feed for feed in self.feeds.values() if feed.connection is connection]

    def stream_opened(self, connection: StreamConnection) -> None:
        now = self.clock.seconds()
        for feed in self._feeds_on(connection):
            if feed.state != "refused":
                feed.requested = now

    def stream_closed(self, connection: StreamConnection, reason: str) -> None:
        now = self.clock.seconds()
        for feed in self._feeds_on(connection):
            if feed.state != "refused":
                feed.reset("subscribing", now)
        if connection.desired:
            self.stats.reconnect(connection.path)

    def stream_event(
        self, connection: StreamConnection, event: dict[str, Any], args: list[dict[str, str]]
    ) -> None:
        kind = event.get("event")
        now = self.clock.seconds()
        if kind == "subscribe":
            arg = event.get("arg")
            feed = self.feeds.get(key_of(arg)) if isinstance(arg, dict) else None
            if feed is None or feed.connection is not connection or feed.state == "refused":
                return
            feed.acked = True
            if feed.channel == TRADES_ALL_CHANNEL.name and feed.state != "live":
                # Trades have no snapshot: the stream starts at the acknowledgement.
                feed.state, feed.since = "live", now
        elif kind == "error":
            self._refused(connection, event, args, now)
        elif kind == "notice":
            log.info(
                "OKX WebSocket {url} notice {code}: {msg}",
                url=connection.url, code=str(event.get("code", ""))[:8],
                msg=str(event.get("msg", ""))[:200],
            )

    def _refused(
        self,
        connection: StreamConnection,
        event: dict[str, Any],
        args: list[dict[str, str]],
        now: float,
    ) -> None:
        code = str(event.get("code", ""))[:8]
        text = str(event.get("msg", ""))
        waiting = [
            feed
            for arg in args
            if (feed := self.feeds.get(key_of(arg))) is not None
            and feed.connection is connection
            and not feed.acked
        ]
        named = [f for f in waiting if f"{f.channel},instId:{f.inst_id}" in text]
        for feed in named or waiting:
            self._refuse(feed, now, f"OKX error {code}", subscribed=False)
        if not waiting:
            log.warn(
                "OKX WebSocket {url} error {code}: {msg}",
                url=connection.url, code=code, msg=text[:200],
            )

    def _refuse(self, feed: _Feed, now: float, why: str, subscribed: bool = True) -> None:
        log.warn(
            "OKX {channel} for {inst}: {why}; answering over REST, retrying in {retry:g} s",
            channel=feed.channel, inst=feed.inst_id, why=why, retry=RETRY_REFUSED,
        )
        feed.reset("refused", now)
        feed.retry_at = now + RETRY_REFUSED
        if subscribed:
            feed.connection.unsubscribe(feed.arg)
        else:
            feed.connection.forget(feed.arg)

    def stream_push(self, connection: StreamConnection, message: dict[str, Any]) -> None:
        feed = self.feeds.get(key_of(message["arg"]))
        if feed is None or feed.connection is not connection or feed.state == "refused":
            return
        now = self.clock.seconds()
        data = [item for item in message["data"] if isinstance(item, (dict, list))]
        self.stats.message(feed.channel, _lag(now, data))
        feed.last_message = now
        mine = [
            item for item in data
            if isinstance(item, dict) and item.get("instId", feed.inst_id) == feed.inst_id
        ]
        if feed.channel == TICKERS_CHANNEL.name:
            if mine:
                feed.ticker = dict(mine[-1])
                if feed.state != "live":
                    feed.state, feed.since = "live", now
        elif feed.channel == BOOKS_CHANNEL.name:
            self._book_push(feed, str(message.get("action", "")), data, now)
        elif feed.state == "live":
            feed.tape.add(mine)

    def _book_push(self, feed: _Feed, action: str, data: list[Any], now: float) -> None:
        if feed.state == "resyncing" and action != "snapshot":
            return  # the old subscription's updates, still in flight
        for item in data:
            if not isinstance(item, dict):
                continue
            try:
                feed.book.apply(action, item)
            except BookError as error:
                self._resync(feed, error, now)
                return
        if feed.book.synced and feed.state != "live":
            feed.state, feed.since = "live", now

    def _resync(self, feed: _Feed, error: BookError, now: float) -> None:
        self.stats.resync(feed.channel, error.reason)
        if feed.last_resync is None or now - feed.last_resync >= RESYNC_CALM:
            feed.resync_streak = 0
        streak = feed.resync_streak
        delay = 0.0 if streak == 0 else min(RESYNC_CALM, float(1 << min(streak - 1, 10)))
        feed.resync_streak += 1
        feed.last_resync = now + delay
        log.info(
            "OKX books for {inst} out of sync ({error}); resubscribing in {delay:g} s",
            inst=feed.inst_id, error=str(error), delay=delay,
        )
        feed.reset("resyncing", now)
        if delay == 0:
            feed.connection.resubscribe(feed.arg)
            return
        generation = feed.generation

        def resubscribe() -> None:
            if self.feeds.get((feed.channel, feed.inst_id)) is feed and (
                feed.generation == generation and feed.state == "resyncing"
            ):
                feed.since = self.clock.seconds()
                feed.connection.resubscribe(feed.arg)

        self.clock.callLater(delay, resubscribe)

    # -- housekeeping ----------------------------------------------------------------------

    def _sweep(self) -> None:
        now = self.clock.seconds()
        for key, feed in list(self.feeds.items()):
            if now - feed.demanded > self.linger:
                del self.feeds[key]
                if feed.state != "refused":
                    feed.connection.unsubscribe(feed.arg)
                log.info(
                    "OKX {channel} for {inst}: not asked for {idle:.0f} s; unsubscribed",
                    channel=feed.channel, inst=feed.inst_id, idle=now - feed.demanded,
                )
            elif (
                feed.state in ("subscribing", "resyncing")
                and feed.connection.state == "open"
                and now - max(feed.requested, feed.since) > ACK_TIMEOUT
            ):
                self._refuse(feed, now, f"no data {ACK_TIMEOUT:g} s after subscribing")

    def health(self) -> dict[str, Any]:
        """
        ``{"status": "ok"|"degraded"|"idle", "connections": {...}, "channels": {...}}``:
        degraded while a wanted channel has been out of service for a while.
        """
        now = self.clock.seconds()
        channels: dict[str, dict[str, int]] = {}
        degraded = False
        for feed in self.feeds.values():
            heard = max(feed.last_message or 0.0, feed.connection.last_inbound or 0.0)
            state = self._shown_state(feed, now)
            counts = channels.setdefault(feed.channel, {})
            counts[state] = counts.get(state, 0) + 1
            if feed.state != "live" and now - feed.since > HEALTH_GRACE:
                degraded = True
            if feed.state == "live" and now - heard > STALE_GRACE:
                degraded = True
        status = "degraded" if degraded else ("ok" if self.feeds else "idle")
        return {
            "status": status,
            "connections": {path: conn.state for path, conn in self.connections.items()},
            "channels": channels,
        }


    def _shown_state(self, feed: _Feed, now: float) -> str:
        """The feed's state, ``stale`` for a live one nothing was heard on lately."""
        heard = max(feed.last_message or 0.0, feed.connection.last_inbound or 0.0)
        if feed.state == "live" and now - heard > self.freshness:
            return "stale"
        return feed.state

    def status(self, copy: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """
        For the status page: one row per connection (state, how long it has been open,
        how long since its last message, connects, reconnects, channels on it) and one
        per subscribed channel (state, how long in it, how long since its last push,
        resyncs in a row), each tagged with ``copy`` (``live``/``demo``).
        """
        now = self.clock.seconds()

        def ago(moment: float | None) -> float | None:
            return None if moment is None else round(max(0.0, now - moment), 3)

        connections = [
            {
                "copy": copy, "url": connection.url, "state": connection.state,
                "up_s": ago(connection.opened_at), "quiet_s": ago(connection.last_inbound),
                "connects": connection.connects,
                "reconnects": self.stats.reconnects[connection.path],
                "channels": len(self._feeds_on(connection)),
            }
            for connection in self.connections.values()
        ]
        channels = [
            {
                "copy": copy, "url": feed.connection.url, "channel": feed.channel,
                "inst_id": feed.inst_id, "state": self._shown_state(feed, now),
                "for_s": ago(feed.since), "quiet_s": ago(feed.last_message),
                "resyncs": feed.resync_streak,
            }
            for feed in sorted(self.feeds.values(), key=lambda f: (f.channel, f.inst_id))
        ]
        return connections, channels


def _lag(now: float, data: list[Any]) -> float | None:
    stamps = []
    for item in data:
        ts = item.get("ts") if isinstance(item, dict) else (item[0] if item else None)
        if isinstance(ts, str) and ts.isdigit():
            stamps.append(int(ts))
    return now - max(stamps) / 1000 if stamps else None
