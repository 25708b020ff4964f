# -*- test-case-name: tests.stream.test_market -*-
"""
The daemon's live copy of OKX market data, answering ticker, depth and trades queries.

The first query for an instrument subscribes the channel behind it (``tickers`` and
``books`` on the public URL, ``trades-all`` on the business URL). A query is answered
from the copy only when the channel is **in sync** (the ticker arrived; the book has a
snapshot and an unbroken ``seqId`` chain with matching checksums; the trades
subscription is acknowledged) and **fresh**: a message arrived within ``freshness``
seconds (default 1) on the channel's connection, any message, a ``pong`` included. OKX
pushes a channel only when its data changes (an unchanged book about once a minute) and
one connection's messages arrive in order, so a live connection that has said nothing
about a channel since its last push means that channel has not changed: a quiet pair is
exact, not stale. While a connection's data is being asked for, it is pinged after half
the freshness budget of silence, so that it stays confirmed. Otherwise the query returns
``None`` and the caller asks REST, so a strategy sees the same data either way, only
sooner.

Channels are spread over several connections per URL (:mod:`.pool`); a connection OKX
closes for holding too many channels (4008, 4009) is split, and one OKX announces it
will close for an upgrade (``notice`` 64008) hands its channels to a replacement, each
copy answering from the old connection until the new one has it in sync.

A book that breaks its ``seqId`` chain or checksum is resubscribed for a new snapshot;
a channel OKX refuses (60018 for an unknown instrument...) is left to REST and retried
later; an instrument REST called unknown (51001) is dropped and not subscribed again
for :data:`UNKNOWN_FOR` seconds; a channel nobody asked about for ``linger`` seconds
(default 5 minutes) is unsubscribed.

Health: a channel out of service longer than :data:`HEALTH_GRACE` makes the stream
degraded, and it stays so until the channel has been back :data:`RECOVERED_AFTER`
seconds, so a channel that keeps coming back for a moment does not make ``/healthz``
flap; a reconnect does not restart the count. :meth:`MarketStream.health` names each
channel that is out.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

from fmzokx.backoff import ceiling
from fmzokx.logs import logger
from fmzokx.okx.endpoints import BOOKS_CHANNEL, TICKERS_CHANNEL, TRADES_ALL_CHANNEL, Channel
from fmzokx.okx.stream.book import BOOK_DEPTH, BookError
from fmzokx.okx.stream.client import Connector, Key, StreamConnection, key_of
from fmzokx.okx.stream.feed import Feed as _Feed
from fmzokx.okx.stream.limits import ConnectLimiter
from fmzokx.okx.stream.pool import PER_CONNECTION, SPLIT_CODES, ConnectionPool
from fmzokx.okx.stream.stats import StreamStats
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
RECOVERED_AFTER = 10.0
"""Seconds a channel must be back in service before an outage stops counting."""
STALE_GRACE = 35.0
"""Seconds without any message before a live channel counts as degraded."""
UNKNOWN_FOR = 600.0
"""Seconds an instrument REST called unknown (51001) is not subscribed again."""
CONFIRM_FOR = 30.0
"""Seconds after a query during which its connection is kept confirmed by pings."""
UPGRADE_NOTICE = "64008"
"""OKX's ``notice`` code: the connection will soon be closed for a service upgrade."""
NAMED = 10
"""The most out-of-service channels :meth:`MarketStream.health` names."""


class MarketStream:
    """
    Live OKX market data for the instruments being asked about.

    :param public_url: e.g. ``wss://ws.okx.com:8443/ws/v5/public``.
    :param business_url: e.g. ``wss://ws.okx.com:8443/ws/v5/business``.
    :param connector: opens WebSocket transports (see :func:`~.client.endpoint_connector`).
    :param freshness: seconds within which a message must have arrived.
    :param linger: seconds without a query before a channel is unsubscribed.
    :param per_connection: the most channels on one connection (see :mod:`.pool`).
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
        per_connection: int = PER_CONNECTION,
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
        connection_options.setdefault("confirm_after", freshness / 2)

        def maker(url: str) -> Callable[[], StreamConnection]:
            def make() -> StreamConnection:
                return StreamConnection(
                    url,
                    clock=clock,
                    connector=connector,
                    limiter=self.limiter,
                    listener=self,
                    rng=rng,
                    **connection_options,
                )

            return make

        self.pools = {
            path: ConnectionPool(maker(url), per_connection)
            for path, url in ((PUBLIC, public_url), (BUSINESS, business_url))
        }
        self.feeds: dict[Key, _Feed] = {}
        self.successors: dict[Key, _Feed] = {}
        self.unknown: dict[str, float] = {}
        self._sweeper: LoopingCall | None = None

    @property
    def connections(self) -> dict[str, StreamConnection]:
        """The first connection of each path (where the first channels go)."""
        return {path: pool.primary for path, pool in self.pools.items()}

    def _all_connections(self) -> list[StreamConnection]:
        return [c for pool in self.pools.values() for c in list(pool.connections)]

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
        self.successors.clear()
        for connection in self._all_connections():
            connection.stop()
        for pool in self.pools.values():
            pool.clear()

    # -- queries ---------------------------------------------------------------------------

    def ticker(self, inst_id: str) -> dict[str, Any] | None:
        """The latest ``tickers`` push for ``inst_id`` (REST's ticker object), or ``None``."""
        feed = self._demand("ticker", inst_id)
        if feed is None or not self._usable(feed) or feed.ticker is None:
            return None
        self.stats.answer("ticker")
        return dict(feed.ticker)

    def depth(self, inst_id: str, limit: int) -> dict[str, Any] | None:
        """The best ``limit`` (1-400) levels a side as REST's book object, or ``None``."""
        if not 1 <= limit <= BOOK_DEPTH:
            return None
        feed = self._demand("depth", inst_id)
        if feed is None or not self._usable(feed) or not feed.book.synced:
            return None
        self.stats.answer("depth")
        return feed.book.levels(limit)

    def trades(self, inst_id: str, limit: int) -> list[dict[str, Any]] | None:
        """The ``limit`` newest trades, newest first (as REST), or ``None``."""
        feed = self._demand("trades", inst_id)
        if feed is None or not self._usable(feed):
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

    def unknown_instrument(self, inst_id: str) -> None:
        """
        REST called ``inst_id`` unknown (OKX 51001): drop its channels and do not subscribe
        it again for :data:`UNKNOWN_FOR` seconds; it is no matter for ``/healthz``.
        """
        now = self.clock.seconds()
        self.unknown[inst_id] = now + UNKNOWN_FOR
        for key in [key for key in self.feeds if key[1] == inst_id]:
            self._drop(self.feeds.pop(key))
        for key in [key for key in self.successors if key[1] == inst_id]:
            self._drop(self.successors.pop(key))

    def _drop(self, feed: _Feed) -> None:
        """Stop carrying ``feed``'s channel on its connection."""
        if feed.state == "refused":
            feed.connection.forget(feed.arg)
        else:
            feed.connection.unsubscribe(feed.arg)
        self.pools[CHANNELS[feed.method].path].release(feed.connection, feed.key)

    def _demand(self, method: str, inst_id: str) -> _Feed | None:
        channel, path = CHANNELS[method].name, CHANNELS[method].path
        now = self.clock.seconds()
        feed = self.feeds.get((channel, inst_id))
        if feed is None:
            until = self.unknown.get(inst_id)
            if until is not None:
                if now < until:
                    self.stats.fallback(method, "unknown")
                    return None
                del self.unknown[inst_id]
            connection = self.pools[path].place((channel, inst_id))
            feed = self.feeds[(channel, inst_id)] = _Feed(
                method, channel, inst_id, connection, demanded=now, since=now, requested=now,
                down_since=now,
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
        connection.keep_confirmed(now + CONFIRM_FOR)
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

    def _target(self, connection: StreamConnection, key: Key) -> _Feed | None:
        """The copy ``connection`` feeds for ``key``: the feed's, or its successor's."""
        feed = self.feeds.get(key)
        if feed is not None and feed.connection is connection:
            return feed
        successor = self.successors.get(key)
        if successor is not None and successor.connection is connection:
            return successor
        return None

    def stream_opened(self, connection: StreamConnection) -> None:
        now = self.clock.seconds()
        for feed in [*self._feeds_on(connection), *self.successors.values()]:
            if feed.connection is connection and feed.state != "refused":
                feed.requested = now

    def stream_closed(self, connection: StreamConnection, reason: str) -> None:
        now = self.clock.seconds()
        pool = self.pools[connection.path]
        for key, successor in list(self.successors.items()):
            if successor.connection is connection:  # the replacement died first
                del self.successors[key]
                pool.release(connection, key)
                connection.forget(successor.arg)
        for feed in self._feeds_on(connection):
            heir = self.successors.pop(feed.key, None)
            if heir is not None:
                # Cut before the replacement had the copy: it takes over from here.
                self._promote(feed, heir)
            elif feed.state != "refused":
                feed.reset("subscribing", now)
        if connection.close_code in SPLIT_CODES:
            self._split(connection, pool, reason)
        if connection.desired:
            self.stats.reconnect(connection.path)

    def _split(self, connection: StreamConnection, pool: ConnectionPool, reason: str) -> None:
        moving = pool.split(connection)
        log.warn(
            "OKX WebSocket {url} {reason}: too many channels on one connection; moving "
            "{count} of them to other connections (at most {cap} a connection from now on)",
            url=connection.url, reason=reason, count=len(moving), cap=pool.cap,
        )
        for key in moving:
            feed = self.feeds.get(key)
            pool.release(connection, key)
            connection.forget({"channel": key[0], "instId": key[1]})
            if feed is None:
                continue
            feed.connection = pool.place(key)
            if feed.state != "refused":
                feed.connection.subscribe(feed.arg)

    def _promote(self, feed: _Feed, successor: _Feed) -> None:
        """``successor`` (on the replacement connection) now answers for ``feed``."""
        successor.demanded = max(successor.demanded, feed.demanded)
        successor.down_since = feed.down_since  # an outage in progress goes on counting
        self.feeds[feed.key] = successor
        pool = self.pools[CHANNELS[feed.method].path]
        pool.release(feed.connection, feed.key)
        feed.connection.forget(feed.arg)  # the old connection closes with its last one

    def _hand_over(self, connection: StreamConnection) -> None:
        """OKX will close ``connection`` for an upgrade: subscribe its channels elsewhere."""
        pool = self.pools[connection.path]
        now = self.clock.seconds()
        moved = 0
        for key in pool.retire(connection):
            feed = self.feeds.get(key)
            if feed is None or feed.connection is not connection or key in self.successors:
                continue
            successor = _Feed(
                feed.method, feed.channel, feed.inst_id, pool.place(key),
                demanded=feed.demanded, since=now, requested=now, down_since=feed.down_since,
            )
            if feed.state == "refused":  # nothing to keep: it moves as it is
                successor.state, successor.retry_at = "refused", feed.retry_at
                self._promote(feed, successor)
                continue
            self.successors[key] = successor
            successor.connection.subscribe(successor.arg)
            moved += 1
        log.info(
            "OKX WebSocket {url}: upgrade notice; moving {count} channel(s) to a new "
            "connection before the cut",
            url=connection.url, count=moved,
        )

    def _became_live(self, feed: _Feed, now: float) -> None:
        feed.went_live(now)
        if self.successors.get(feed.key) is feed:
            del self.successors[feed.key]
            old = self.feeds.get(feed.key)
            if old is not None:
                self._promote(old, feed)
            else:
                self.feeds[feed.key] = feed

    def stream_event(
        self, connection: StreamConnection, event: dict[str, Any], args: list[dict[str, str]]
    ) -> None:
        kind = event.get("event")
        now = self.clock.seconds()
        if kind == "subscribe":
            arg = event.get("arg")
            feed = self._target(connection, key_of(arg)) if isinstance(arg, dict) else None
            if feed is None or feed.state == "refused":
                return
            feed.acked = True
            if feed.channel == TRADES_ALL_CHANNEL.name and feed.state != "live":
                # Trades have no snapshot: the stream starts at the acknowledgement.
                self._became_live(feed, now)
        elif kind == "error":
            self._refused(connection, event, args, now)
        elif kind == "notice":
            code = str(event.get("code", ""))[:8]
            log.info(
                "OKX WebSocket {url} notice {code}: {msg}",
                url=connection.url, code=code, msg=str(event.get("msg", ""))[:200],
            )
            if code == UPGRADE_NOTICE:
                self._hand_over(connection)

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
            if (feed := self._target(connection, key_of(arg))) is not None and not feed.acked
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
        if self.successors.get(feed.key) is feed:
            del self.successors[feed.key]  # the old connection answers until its cut
            self.pools[CHANNELS[feed.method].path].release(feed.connection, feed.key)
            feed.connection.forget(feed.arg)
            return
        feed.reset("refused", now)
        feed.retry_at = now + RETRY_REFUSED
        if subscribed:
            feed.connection.unsubscribe(feed.arg)
        else:
            feed.connection.forget(feed.arg)

    def stream_push(self, connection: StreamConnection, message: dict[str, Any]) -> None:
        feed = self._target(connection, key_of(message["arg"]))
        if feed is None or feed.state == "refused":
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
                    self._became_live(feed, now)
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
            self._became_live(feed, now)

    def _resync(self, feed: _Feed, error: BookError, now: float) -> None:
        self.stats.resync(feed.channel, error.reason)
        if feed.last_resync is None or now - feed.last_resync >= RESYNC_CALM:
            feed.resync_streak = 0
        streak = feed.resync_streak
        delay = 0.0 if streak == 0 else ceiling(streak, 1.0, RESYNC_CALM)
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
            if self._target(feed.connection, feed.key) is feed and (
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
                self._drop(feed)
                successor = self.successors.pop(key, None)
                if successor is not None:
                    self._drop(successor)
                log.info(
                    "OKX {channel} for {inst}: not asked for {idle:.0f} s; unsubscribed",
                    channel=feed.channel, inst=feed.inst_id, idle=now - feed.demanded,
                )
                continue
            for copy in (feed, self.successors.get(key)):
                if (
                    copy is not None
                    and copy.state in ("subscribing", "resyncing")
                    and copy.connection.state == "open"
                    and now - max(copy.requested, copy.since) > ACK_TIMEOUT
                ):
                    self._refuse(copy, now, f"no data {ACK_TIMEOUT:g} s after subscribing")
        for inst_id, until in list(self.unknown.items()):
            if now >= until:
                del self.unknown[inst_id]

    def _out_for(self, feed: _Feed, now: float) -> float:
        """How long ``feed`` has been out of service (0 when in service)."""
        if feed.state == "live":
            heard = max(feed.last_message or 0.0, feed.connection.last_inbound or 0.0)
            if now - heard > STALE_GRACE:
                return now - heard
            if feed.down_since is None or feed.live_since is None:
                return 0.0
            if now - feed.live_since >= RECOVERED_AFTER:
                feed.down_since = None  # back long enough: the outage is over
                return 0.0
            # Back only a moment after an outage: it counts until it has lasted.
            outage = feed.live_since - feed.down_since
            return outage if outage > HEALTH_GRACE else 0.0
        return now - (feed.down_since if feed.down_since is not None else feed.since)

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
            for connection in self._all_connections()
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

    def health(self) -> dict[str, Any]:
        """
        ``{"status": "ok"|"degraded"|"idle", "connections": {...}, "channels": {...},
        "pool": {...}, "unhealthy": [...]}``: degraded while a wanted channel has been out
        of service for a while (``unhealthy`` names them, at most :data:`NAMED`).
        """
        now = self.clock.seconds()
        channels: dict[str, dict[str, int]] = {}
        unhealthy: list[str] = []
        degraded = 0
        for feed in self.feeds.values():
            state = self._shown_state(feed, now)
            counts = channels.setdefault(feed.channel, {})
            counts[state] = counts.get(state, 0) + 1
            out = self._out_for(feed, now)
            if out > HEALTH_GRACE:
                degraded += 1
                if len(unhealthy) < NAMED:
                    unhealthy.append(
                        f"{feed.channel} {feed.inst_id}: {_why(feed, state)} for {out:.0f} s"
                    )
        if degraded > len(unhealthy):
            unhealthy.append(f"and {degraded - len(unhealthy)} more")
        status = "degraded" if degraded else ("ok" if self.feeds else "idle")
        result: dict[str, Any] = {
            "status": status,
            "connections": {path: pool.summary() for path, pool in self.pools.items()},
            "channels": channels,
        }
        pools = {
            path: {"connections": pool.states(), "per_connection": pool.cap}
            for path, pool in self.pools.items()
            if len(pool.connections) > 1 or pool.splits
        }
        if pools:
            result["pool"] = pools
        if unhealthy:
            result["unhealthy"] = unhealthy
        return result


def _why(feed: _Feed, state: str) -> str:
    """A few words on why ``feed`` is out of service."""
    if state == "live":
        return "back only a moment after an outage"
    if state == "refused":
        return "refused by OKX"
    if feed.connection.state != "open":
        return f"connection {feed.connection.state}"
    return state



def _lag(now: float, data: list[Any]) -> float | None:
    stamps = []
    for item in data:
        ts = item.get("ts") if isinstance(item, dict) else (item[0] if item else None)
        if isinstance(ts, str) and ts.isdigit():
            stamps.append(int(ts))
    return now - max(stamps) / 1000 if stamps else None
