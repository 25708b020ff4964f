# -*- test-case-name: tests.stream.test_client -*-
"""
One WebSocket connection to one OKX URL, kept open while it has subscriptions.

:class:`StreamConnection` remembers which channels are wanted and makes the connection
match: it connects on the first subscription (no faster than OKX's connection limit
allows), subscribes everything in as few requests as fit OKX's request budget,
resubscribes everything after a reconnect, and closes when nothing is wanted any more.

Keeping it alive follows OKX's advice (WebSocket › Connect): after ``ping_after`` seconds
(default 20, under OKX's 30 s idle limit) without a message it sends the text ``ping``;
without an answer within ``pong_timeout`` it drops the connection and reconnects with
exponential backoff and jitter. Every inbound message is a heartbeat. While its data is
being asked for (:meth:`StreamConnection.keep_confirmed`) it pings sooner, after
``confirm_after`` seconds of silence, so that a quiet connection (OKX pushes a channel
only when it changes) is still known to be alive, hence its copies exact. The backoff
starts again from its base only once a connection has stayed open for
:data:`STABLE_AFTER` seconds, so a connection OKX keeps closing soon after it opens is
not retried at full speed.

With ``keepalive`` it also pings after ``ping_after`` seconds without *sending* anything:
OKX may judge idleness by what the client sends, and a private connection that hears
regular pushes would otherwise never speak.

A private connection (``login`` given) logs in first: on every open it sends the
``login`` op that ``login()`` builds (fresh, as OKX's signature expires) and holds its
subscriptions until OKX answers ``{"event": "login", "code": "0"}``; the listener sees
that answer, or the error refusing it, as a ``stream_event``.

Time comes from the injected clock and connections from the injected ``connector``, so
all of it runs in tests on a fake clock and in-memory transports.
"""

from __future__ import annotations

import json
import random
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from fmzokx.backoff import Backoff
from fmzokx.logs import logger
from fmzokx.okx.stream.limits import ConnectLimiter, OpBudget

__all__ = [
    "Connector",
    "StreamConnection",
    "StreamListener",
    "endpoint_connector",
]

log = logger(__name__)

PING_AFTER = 20.0
"""Seconds of silence before we ping (OKX drops a connection after 30 s without traffic)."""
PONG_TIMEOUT = 5.0
"""Seconds to wait for any message after a ping before the connection is given up."""
CONNECT_TIMEOUT = 10.0
"""Seconds from starting a connection to a completed WebSocket handshake."""
STABLE_AFTER = 10.0
"""Seconds a connection must stay open before its reconnect backoff starts again."""
OP_LIMIT = 480
"""OKX's subscribe/unsubscribe/login requests per connection per hour."""
MAX_ARGS = 100
"""Channels per subscribe/unsubscribe request (OKX caps a request at 64 KB)."""
MAX_MESSAGE = 8 << 20
"""Largest message accepted from OKX (a 400-level book snapshot is about 40 KB)."""
_REMEMBERED_REQUESTS = 256

Key = tuple[str, str]
Connector = Callable[[str, WebSocketClientFactory], "Deferred[Any]"]
"""Opens a transport to a ``ws://``/``wss://`` URL for the factory's protocol."""


class StreamListener(Protocol):
    """What a :class:`StreamConnection` tells its owner."""

    def stream_opened(self, connection: StreamConnection) -> None:
        """The handshake completed; subscriptions are on their way."""

    def stream_closed(self, connection: StreamConnection, reason: str) -> None:
        """The connection is gone (a reconnect follows while anything is wanted)."""

    def stream_event(
        self, connection: StreamConnection, event: dict[str, Any], args: list[dict[str, str]]
    ) -> None:
        """An ``event`` message; ``args`` are those of the request it answers, if known."""

    def stream_push(self, connection: StreamConnection, message: dict[str, Any]) -> None:
        """A data push: ``{"arg": ..., "data": [...], ...}``."""


def key_of(arg: dict[str, str]) -> Key:
    """A subscription's identity: ``(channel, instId)``."""
    return (arg.get("channel", ""), arg.get("instId", ""))


class _Protocol(WebSocketClientProtocol):  # type: ignore[misc]
    """autobahn's client side, handing everything to its factory's :class:`StreamConnection`."""

    @property
    def connection(self) -> StreamConnection:
        connection: StreamConnection = self.factory.connection
        return connection

    def onOpen(self) -> None:
        self.connection._opened(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if isBinary:
            return
        try:
            # autobahn's own UTF-8 check is off (without wsaccel it runs in pure Python,
            # ~0.5 ms for a 1.5 KB account push, 20 times the JSON parse); the C decoder
            # makes the same check.
            text = payload.decode("utf-8")
        except UnicodeDecodeError as error:
            self.connection._not_text(self, error)
            return
        self.connection._received(self, text)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        detail = f"closed ({code}: {(reason or '')[:100]})" if wasClean and code else "dropped"
        self.connection._lost(self, detail, code if wasClean else None)

    def send_text(self, text: str) -> None:
        self.sendMessage(text.encode("utf-8"), isBinary=False)

    def abort(self) -> None:
        self.dropConnection(abort=True)

    def close(self) -> None:
        """
        Close with WebSocket's closing handshake (code 1000): a deliberate stop. Aborting
        instead made autobahn warn "dropping connection ... with abort=True" for every
        open connection at each clean shutdown.
        """
        self.sendClose(code=1000)


class StreamConnection:
    """
    One OKX WebSocket URL, e.g. ``wss://ws.okx.com:8443/ws/v5/public``.

    :ivar state: ``idle`` (nothing wanted), ``waiting`` (to reconnect), ``connecting``,
        ``open``.
    :ivar last_inbound: clock time of the last message on the current connection.
    :ivar opened_at: clock time the current connection opened (``None`` while not open).
    :ivar connects: connection attempts so far (for metrics and tests).
    :ivar close_code: the close code of the last connection OKX closed (``None`` for a
        dropped one).
    :ivar logged_in: a private connection's login was accepted on the current connection.
    """

    def __init__(
        self,
        url: str,
        *,
        clock: IReactorTime,
        connector: Connector,
        limiter: ConnectLimiter,
        listener: StreamListener,
        rng: random.Random | None = None,
        ping_after: float = PING_AFTER,
        pong_timeout: float = PONG_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        op_limit: int = OP_LIMIT,
        confirm_after: float | None = None,
        login: Callable[[], dict[str, str]] | None = None,
        keepalive: bool = False,
    ) -> None:
        self.url = url
        self.login = login
        self.keepalive = keepalive
        self._last_sent = 0.0
        self.logged_in = False
        self.path = urlsplit(url).path
        self.clock = clock
        self.connector = connector
        self.limiter = limiter
        self.listener = listener
        self.ping_after = ping_after
        self.pong_timeout = pong_timeout
        self.connect_timeout = connect_timeout
        self.op_limit = op_limit
        self.confirm_after = confirm_after
        self.confirm_until = 0.0
        self.close_code: int | None = None
        self.opened_at: float | None = None
        self.backoff = Backoff(rng=rng or random.Random())
        self.state = "idle"
        self.desired: dict[Key, dict[str, str]] = {}
        self.last_inbound: float | None = None
        self.connects = 0
        self._queue: list[tuple[str, dict[str, str]]] = []
        self._proto: _Protocol | None = None
        self._attempt: _Protocol | None = None
        self._factory: WebSocketClientFactory | None = None  # the current attempt's
        self._budget = OpBudget(clock, op_limit)
        self._ping_sent: float | None = None
        self._timer: IDelayedCall | None = None
        self._flush_call: IDelayedCall | None = None
        self._watchdog: LoopingCall | None = None
        self._requests: OrderedDict[str, list[dict[str, str]]] = OrderedDict()
        self._next_id = 0
        self._healthy = False

    # -- what is wanted --------------------------------------------------------------------

    def subscribe(self, arg: dict[str, str]) -> None:
        """Want ``arg`` (``{"channel": ..., "instId": ...}``) subscribed from now on."""
        key = key_of(arg)
        if key in self.desired:
            return
        self.desired[key] = dict(arg)
        if self.state == "open":
            self._send_later("subscribe", arg)
        else:
            self._ensure()

    def unsubscribe(self, arg: dict[str, str]) -> None:
        """No longer want ``arg``; the connection closes once nothing is wanted."""
        if self.desired.pop(key_of(arg), None) is None:
            return
        self._queue = [(op, queued) for op, queued in self._queue if key_of(queued) != key_of(arg)]
        if not self.desired:
            self._shut("no subscriptions left", polite=True)
        elif self.state == "open":
            self._send_later("unsubscribe", arg)

    def forget(self, arg: dict[str, str]) -> None:
        """No longer want ``arg``, which OKX refused: nothing to unsubscribe."""
        if self.desired.pop(key_of(arg), None) is None:
            return
        self._queue = [(op, queued) for op, queued in self._queue if key_of(queued) != key_of(arg)]
        if not self.desired:
            self._shut("no subscriptions left", polite=True)

    def resubscribe(self, arg: dict[str, str]) -> None:
        """Unsubscribe and subscribe again (a fresh snapshot), if ``arg`` is wanted."""
        if key_of(arg) in self.desired and self.state == "open":
            self._send_later("unsubscribe", arg)
            self._send_later("subscribe", arg)

    def stop(self) -> None:
        """Want nothing and close (politely: the closing handshake, not an abort)."""
        self.desired.clear()
        self._shut("stopping", polite=True)

    def keep_confirmed(self, until: float) -> None:
        """Ping after ``confirm_after`` seconds of silence (not ``ping_after``) until ``until``."""
        self.confirm_until = max(self.confirm_until, until)

    def drop(self) -> None:
        """Abort the current connection (it reconnects with backoff while anything is wanted)."""
        for proto in (self._proto, self._attempt):
            if proto is not None:
                proto.abort()

    def ping_now(self) -> None:
        """Ping now (unless a ping is already out), to learn soon whether the link lives."""
        if self.state == "open" and self._ping_sent is None and self._proto is not None:
            self._ping_sent = self._last_sent = self.clock.seconds()
            self._proto.send_text("ping")

    # -- connecting ------------------------------------------------------------------------

    def _ensure(self) -> None:
        if self.state == "idle" and self.desired:
            self.state = "waiting"
            self._schedule(0.0)

    def _schedule(self, delay: float) -> None:
        self._cancel_timer()
        self._timer = self.clock.callLater(max(delay, self.limiter.wait()), self._connect)

    def _connect(self) -> None:
        self._timer = None
        if not self.desired:
            self.state = "idle"
            return
        wait = self.limiter.wait()
        if wait > 0:
            self._timer = self.clock.callLater(wait, self._connect)
            return
        self.close_code = None
        self.limiter.record()
        self.connects += 1
        self.state = "connecting"
        factory = WebSocketClientFactory(self.url, reactor=self.clock)
        factory.protocol = _Protocol
        factory.setProtocolOptions(
            openHandshakeTimeout=0,
            closeHandshakeTimeout=0,
            serverConnectionDropTimeout=0,
            autoPingInterval=0,
            maxMessagePayloadSize=MAX_MESSAGE,
            utf8validateIncoming=False,  # checked by _Protocol.onMessage's decode
        )
        factory.connection = self
        self._factory = factory
        # A timer of this state machine's, not fmzokx.deferreds.with_deadline: it bounds
        # the TCP connect *and* the WebSocket handshake (which ends in a protocol callback,
        # not the connector's Deferred), and what it ends is the attempt, then a retry.
        self._timer = self.clock.callLater(self.connect_timeout, self._connect_timed_out)
        attempt: Deferred[Any] = self.connector(self.url, factory)
        attempt.addCallbacks(self._transport_ready, self._connect_failed)

    def _transport_ready(self, proto: Any) -> None:
        if isinstance(proto, _Protocol) and self.state == "connecting":
            self._attempt = proto

    def _connect_failed(self, failure: Failure) -> None:
        if self.state != "connecting":
            return
        self._cancel_timer()
        self._retry(f"could not connect: {failure.getErrorMessage()[:200]}")

    def _connect_timed_out(self) -> None:
        self._timer = None
        if self.state != "connecting":
            return
        attempt, self._attempt = self._attempt, None
        if attempt is not None:
            attempt.abort()
        self._retry(f"no WebSocket handshake within {self.connect_timeout:g} s")

    def _retry(self, reason: str) -> None:
        self.state = "waiting"
        self._proto = None
        self._attempt = self._factory = None
        if not self.desired:
            self.state = "idle"
            return
        delay = self.backoff.next()
        log.warn(
            "OKX WebSocket {url}: {reason}; reconnecting in {delay:.1f} s",
            url=self.url, reason=reason, delay=delay,
        )
        self._schedule(delay)

    def _opened(self, proto: _Protocol) -> None:
        if self.state != "connecting" or not self.desired:
            proto.abort()
            return
        self._cancel_timer()
        self.state = "open"
        self._proto, self._attempt, self._factory = proto, None, None
        self._healthy = False
        self.limiter.opened()
        self.opened_at = self.last_inbound = self._last_sent = self.clock.seconds()
        self._ping_sent = None
        self._budget = OpBudget(self.clock, self.op_limit)
        self._queue = [("subscribe", arg) for arg in self.desired.values()]
        self._requests.clear()
        watchdog = self._watchdog = LoopingCall(self._watch)
        watchdog.clock = self.clock
        period = min(1.0, self.ping_after / 4, self.pong_timeout / 4)
        if self.confirm_after is not None:
            period = min(period, self.confirm_after / 4)
        watchdog.start(period, now=False)
        log.info("OKX WebSocket {url} open", url=self.url)
        self.logged_in = False
        self.listener.stream_opened(self)
        if self.login is None:
            self._flush()
        elif self._proto is proto:
            # The signed request is never logged or kept: only sent.
            self._budget.spend()
            self._last_sent = self.clock.seconds()
            proto.send_text(json.dumps(
                {"op": "login", "args": [self.login()]}, separators=(",", ":")
            ))

    def _not_text(self, proto: _Protocol, error: UnicodeDecodeError) -> None:
        """
        A text message that is not UTF-8: what autobahn's check did (a protocol error,
        the connection dropped), so a corrupted push is never read as data.
        """
        log.warn(
            "OKX WebSocket {url}: a text message is not valid UTF-8 (byte {position}); "
            "dropping the connection",
            url=self.url, position=error.start,
        )
        proto.abort()

    def _lost(self, proto: _Protocol, detail: str, code: int | None = None) -> None:
        # The current attempt's handshake failed (perhaps before the transport was even
        # handed over: a refusal can be that quick).
        mine = proto is self._attempt or getattr(proto, "factory", None) is self._factory
        if mine and self.state == "connecting":
            self._cancel_timer()
            # OKX refused the handshake (3 new connections a second per IP, shared by
            # every process behind it): every connection of this process waits.
            self.limiter.refused()
            self._retry(f"handshake failed, {detail}")
            return
        if proto is not self._proto:
            return
        self.close_code = code
        self._stop_watchdog()
        self._cancel_flush()
        self._proto = None
        self.last_inbound = self.opened_at = None
        self.logged_in = False
        self.listener.stream_closed(self, detail)
        if self.desired:
            self._retry(f"connection {detail}")
        else:
            self.state = "idle"

    def _shut(self, reason: str, polite: bool = False) -> None:
        self._cancel_timer()
        self._cancel_flush()
        self._stop_watchdog()
        self._queue.clear()
        proto, self._proto = self._proto, None
        attempt, self._attempt = self._attempt, None
        self._factory = None
        was_open = self.state == "open"
        self.state = "idle"
        self.last_inbound = self.opened_at = None
        self.logged_in = False
        if proto is not None:
            if polite:
                proto.close()
            else:
                proto.abort()
        if attempt is not None:
            attempt.abort()
        if was_open:
            log.info("OKX WebSocket {url} closed: {reason}", url=self.url, reason=reason)
            self.listener.stream_closed(self, reason)

    # -- traffic ---------------------------------------------------------------------------

    def _received(self, proto: _Protocol, text: str) -> None:
        if proto is not self._proto:
            return
        self.last_inbound = self.clock.seconds()
        self._ping_sent = None
        if text == "pong":
            return
        try:
            message = json.loads(text)
        except ValueError:
            log.warn("OKX WebSocket {url} sent a message that is not JSON", url=self.url)
            return
        if not isinstance(message, dict):
            return
        if "event" in message:
            if message.get("event") == "login" and str(message.get("code", "0")) == "0":
                self.logged_in = True
                self._send_later_flush()
            args = self._requests.get(str(message.get("id", "")), [])
            self.listener.stream_event(self, message, args)
        elif isinstance(message.get("arg"), dict) and isinstance(message.get("data"), list):
            self.listener.stream_push(self, message)

    def _send_later(self, op: str, arg: dict[str, str]) -> None:
        self._queue.append((op, dict(arg)))
        self._send_later_flush()

    def _send_later_flush(self) -> None:
        if self._flush_call is None:
            self._flush_call = self.clock.callLater(0, self._flush)

    def _flush(self) -> None:
        self._flush_call = None
        if self.login is not None and not self.logged_in:
            return  # a private connection subscribes once logged in
        while self._queue and self._proto is not None:
            wait = self._budget.wait()
            if wait > 0:
                log.warn(
                    "OKX WebSocket {url}: request budget spent (480 an hour); {count} "
                    "request(s) wait {wait:.0f} s",
                    url=self.url, count=len(self._queue), wait=wait,
                )
                self._flush_call = self.clock.callLater(wait, self._flush)
                return
            op = self._queue[0][0]
            args: list[dict[str, str]] = []
            while self._queue and self._queue[0][0] == op and len(args) < MAX_ARGS:
                args.append(self._queue.pop(0)[1])
            self._next_id += 1
            request_id = str(self._next_id)
            self._requests[request_id] = args
            while len(self._requests) > _REMEMBERED_REQUESTS:
                self._requests.popitem(last=False)
            self._budget.spend()
            self._last_sent = self.clock.seconds()
            self._proto.send_text(
                json.dumps({"id": request_id, "op": op, "args": args}, separators=(",", ":"))
            )

    def _watch(self) -> None:
        if self._proto is None or self.last_inbound is None:
            return
        now = self.clock.seconds()
        if not self._healthy and self.opened_at is not None:
            if now - self.opened_at >= STABLE_AFTER:
                self._healthy = True
                self.backoff.reset()
        if self._ping_sent is not None:
            if now - self._ping_sent >= self.pong_timeout:
                log.warn(
                    "OKX WebSocket {url}: no answer to ping in {timeout:g} s; dropping it",
                    url=self.url, timeout=self.pong_timeout,
                )
                self._proto.abort()
        elif now - self.last_inbound >= self.ping_after or (
            self.keepalive and now - self._last_sent >= self.ping_after
        ):
            self.ping_now()
        elif (
            self.confirm_after is not None
            and now < self.confirm_until
            and now - self.last_inbound >= self.confirm_after
        ):
            self.ping_now()

    # -- timers ----------------------------------------------------------------------------

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _cancel_flush(self) -> None:
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None

    def _stop_watchdog(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None and watchdog.running:
            watchdog.stop()


def endpoint_connector(reactor: Any, tls_policy: Any = None) -> Connector:
    """
    The real connector: TCP to the URL's host and port, TLS for ``wss://`` with
    ``tls_policy`` (an :class:`~twisted.web.iweb.IPolicyForHTTPS`, e.g. the one the REST
    client verifies OKX with).
    """
    from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
    from twisted.web.client import BrowserLikePolicyForHTTPS

    policy = tls_policy or BrowserLikePolicyForHTTPS()

    def connect(url: str, factory: WebSocketClientFactory) -> Deferred[Any]:
        parts = urlsplit(url)
        secure = parts.scheme == "wss"
        host = parts.hostname or ""
        port = parts.port or (443 if secure else 80)
        endpoint: Any = HostnameEndpoint(reactor, host, port, timeout=CONNECT_TIMEOUT)
        if secure:
            creator = policy.creatorForNetloc(host.encode("idna"), port)
            endpoint = wrapClientTLS(creator, endpoint)
        result: Deferred[Any] = endpoint.connect(factory)
        return result

    return connect
