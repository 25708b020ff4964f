# -*- test-case-name: tests.sim.test_ws_protocol -*-
"""
OKX's WebSocket message protocol, as one okxsim session speaks it.

A client sends the text ``ping`` (answered ``pong``) or a JSON request
``{"id": ..., "op": "subscribe"|"unsubscribe", "args": [{"channel": ..., "instId": ...}]}``.
Each argument is acknowledged on its own (``{"event": "subscribe", "arg": ..., "connId":
...}``) or refused with an error event carrying OKX's code:

- 60012 ``Invalid request``: not JSON, not an object, no ``op``, or ``args`` missing, empty
  or not a list of objects;
- 60019 ``Invalid op``: an ``op`` OKX does not have;
- 60028: ``login`` on a public path (the private path's :class:`Session` is
  :class:`~fmzokx.sim.ws.private.PrivateSession`, which overrides :meth:`Session.operate`);
- 60018 ``Wrong URL or channel``: a channel this path does not serve, or an unknown
  instrument;
- 60014 ``Requests too frequent``: over 480 subscribe/unsubscribe/login requests in an
  hour on this connection.

A subscription that takes the connection past the ``ws_channel_cap`` (or, for a depth
channel, ``ws_depth_cap``) setting closes the connection with 4008 (4009): OKX closes a
connection that holds too many channels and does not publish the number.

:class:`Session` holds that logic and the subscriptions' feeds; it talks to the network
only through the callables it is given, so it can be tested without autobahn.
:class:`OkxServerProtocol` is the autobahn glue.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from autobahn.twisted.websocket import WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from fmzokx.sim.ws.channels import BooksFeed, Feed, channel_path, make_feed
from fmzokx.sim.ws.limits import OP_LIMIT, OP_WINDOW

if TYPE_CHECKING:
    from fmzokx.sim.ws.server import WsServer

__all__ = ["DEPTH_CHANNELS", "OP_LIMIT", "OP_WINDOW", "OkxServerProtocol", "Session"]

_OPS = ("subscribe", "unsubscribe", "login")
DEPTH_CHANNELS = ("books", "books5", "bbo-tbt")
"""The depth channels ``ws_depth_cap`` counts."""
BOOK_KEEPALIVE = 60.0
"""Seconds after which OKX sends an unchanged book's empty update."""
CHANNEL_CAP_CLOSE = 4008
DEPTH_CAP_CLOSE = 4009

log = Logger()


def _dumps(message: object) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


class Session:
    """
    One client connection: its subscriptions, traffic times and request budget.

    :param send: writes one text message.
    :param close: closes with an OKX close code and reason.
    :param abort: drops the TCP connection at once.
    """

    def __init__(
        self,
        server: WsServer,
        path: str,
        conn_id: str,
        send: Callable[[str], None],
        close: Callable[[int, str], None],
        abort: Callable[[], None],
    ) -> None:
        self.server = server
        self.path = path
        self.conn_id = conn_id
        self._send = send
        self._close = close
        self._abort = abort
        self.feeds: dict[tuple[str, str], Feed] = {}
        #: the handshake's ``Host`` header (OKX tells demo trading by its host)
        self.host = ""
        self.stalled = False
        self.closing = False
        self.drop_call: IDelayedCall | None = None
        self.last_traffic = server.sim.clock.seconds()
        #: when the client last sent a frame (the private path's idle rule)
        self.last_received = self.last_traffic
        self._ops: deque[float] = deque()

    # -- outbound --------------------------------------------------------------------------

    def send(self, message: object) -> None:
        """Send one JSON message (nothing while stalled)."""
        if self.stalled or self.closing:
            return
        self.last_traffic = self.server.sim.clock.seconds()
        self._send(message if isinstance(message, str) else _dumps(message))

    def _error(self, code: str, msg: str, request_id: Any) -> None:
        event: dict[str, Any] = {}
        if request_id is not None:
            event["id"] = request_id
        event.update({"event": "error", "code": code, "msg": msg, "connId": self.conn_id})
        self.send(event)

    def close(self, code: int, reason: str) -> None:
        """Close politely (a close frame with OKX's code)."""
        if not self.closing:
            self.closing = True
            self._close(code, reason)

    def abort(self) -> None:
        """Drop the connection without a close frame."""
        self.closing = True
        self._abort()

    # -- inbound ---------------------------------------------------------------------------

    def accepting(self) -> bool:
        """Whether requests are still handled (not stalled, not closing)."""
        return not (self.stalled or self.closing)

    def received(self, text: str) -> None:
        """Handle one text message from the client."""
        if self.stalled or self.closing:
            return
        self.last_traffic = self.last_received = self.server.sim.clock.seconds()
        if text == "ping":
            self.send("pong")
            return
        try:
            request = json.loads(text)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            self._error("60012", f"Invalid request: {text[:512]}", None)
            return
        request_id = request.get("id")
        op = request.get("op")
        if not isinstance(op, str) or not op:
            self._error("60012", f"Invalid request: {text[:512]}", request_id)
            return
        if op not in _OPS:
            self._error("60019", f"Invalid op: {op[:64]}", request_id)
            return
        if not self._within_budget():
            self._error("60014", "Requests too frequent.", request_id)
            return
        self.operate(op, request, text, request_id)

    def operate(self, op: str, request: dict[str, Any], text: str, request_id: Any) -> None:
        """Carry out one well-formed request within the budget (the public paths' ops)."""
        if op == "login":
            self._error(
                "60028",
                "The current operation is not supported by this URL. Please use the correct "
                "WebSocket URL for the operation.",
                request_id,
            )
            return
        args = request.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
            self._error("60012", f"Invalid request: {text[:512]}", request_id)
            return
        for arg in args:
            if not self.accepting():
                return  # a subscription over the cap closed the connection
            if op == "subscribe":
                self._subscribe(arg, request_id)
            else:
                self._unsubscribe(arg, request_id)

    def _within_budget(self) -> bool:
        if not self.server.rate_limits:
            return True
        now = self.server.sim.clock.seconds()
        while self._ops and self._ops[0] <= now - OP_WINDOW:
            self._ops.popleft()
        if len(self._ops) >= OP_LIMIT:
            return False
        self._ops.append(now)
        return True

    def _ack(self, event: str, arg: dict[str, str], request_id: Any) -> None:
        ack: dict[str, Any] = {}
        if request_id is not None:
            ack["id"] = request_id
        ack.update({"event": event, "arg": arg, "connId": self.conn_id})
        self.send(ack)

    def _subscribe(self, arg: dict[str, Any], request_id: Any) -> None:
        channel, inst_id = arg.get("channel"), arg.get("instId")
        now_ms = self.server.sim.now_ms()
        inst = None
        if isinstance(channel, str) and isinstance(inst_id, str):
            if channel_path(channel) == self.path:
                inst = self.server.sim.exchange.instrument(inst_id, now_ms)
        if inst is None or not isinstance(channel, str):
            shown = f"{str(channel)[:40]},instId:{str(inst_id)[:40]}"
            self._error(
                "60018",
                f"Wrong URL or channel:{shown} doesn't exist. Please use the correct URL, "
                "channel and parameters referring to API document.",
                request_id,
            )
            return
        feed = make_feed(self.server.sim.market, inst, channel, self.server.sim.settings)
        if isinstance(feed, BooksFeed):
            feed.keepalive_polls = max(1, round(BOOK_KEEPALIVE / self.server.interval))
        self.feeds[(channel, inst.inst_id)] = feed
        if self._over_cap():
            return
        self._ack("subscribe", {"channel": channel, "instId": inst.inst_id}, request_id)
        for message in feed.first(now_ms):
            self.send(message)

    def _over_cap(self) -> bool:
        """Close the connection if it now holds more channels than the settings allow."""
        settings = self.server.sim.settings
        channel_cap, depth_cap = settings.ws_channel_cap, settings.ws_depth_cap
        depth = sum(1 for channel, _ in self.feeds if channel in DEPTH_CHANNELS)
        if channel_cap and len(self.feeds) > channel_cap:
            self.close(CHANNEL_CAP_CLOSE, f"Channels exceed the limit of {channel_cap}")
            return True
        if depth_cap and depth > depth_cap:
            self.close(DEPTH_CAP_CLOSE, f"Depth channels exceed the limit of {depth_cap}")
            return True
        return False

    def _unsubscribe(self, arg: dict[str, Any], request_id: Any) -> None:
        channel, inst_id = arg.get("channel"), arg.get("instId")
        if not isinstance(channel, str) or not isinstance(inst_id, str):
            self._error("60012", f"Invalid request: {_dumps(arg)[:512]}", request_id)
            return
        self.feeds.pop((channel, inst_id), None)
        self._ack("unsubscribe", {"channel": channel, "instId": inst_id}, request_id)

    def subscriptions(self) -> list[dict[str, str]]:
        """The subscriptions, for GET /_sim/state."""
        return [
            {"channel": channel, "instId": inst_id} for channel, inst_id in sorted(self.feeds)
        ]

    # -- the server's tick -----------------------------------------------------------------

    def push(self, now_ms: int) -> None:
        """Send whatever the subscriptions have new at this tick."""
        if self.stalled or self.closing:
            return
        for feed in list(self.feeds.values()):
            if isinstance(feed, BooksFeed):
                feed.corrupt += self.server.faults.take(self.path, "bad-checksum")
                feed.drop += self.server.faults.take(self.path, "out-of-order")
                if self.server.faults.take(self.path, "seq-reset"):
                    feed.reset_seq = True
            for message in feed.poll(now_ms):
                self.send(message)


class OkxServerProtocol(WebSocketServerProtocol):  # type: ignore[misc]
    """autobahn's server side, handing everything to a :class:`Session`."""

    server: WsServer
    path: str
    session: Session | None = None

    host = ""

    def onConnect(self, request: ConnectionRequest) -> None:
        self.host = str(request.host or "")
        peer = self.transport.getPeer()
        if not self.server.admit(str(getattr(peer, "host", "unknown"))):
            raise ConnectionDeny(429, "Too Many Requests")

    def onOpen(self) -> None:
        def send(text: str) -> None:
            self.sendMessage(text.encode("utf-8"), isBinary=False)

        self.session = self.server.opened(
            self.path, send, self.sendClose, lambda: self.dropConnection(abort=True)
        )
        self.session.host = self.host

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if self.session is None:
            return
        if isBinary:
            self.session.received("\ufffd")
            return
        self.session.received(payload.decode("utf-8", "replace"))

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if self.session is not None:
            self.server.closed(self.session)
            self.session = None
