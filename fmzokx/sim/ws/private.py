# -*- test-case-name: tests.sim.test_ws_private,tests.sim.test_ws_private_faults -*-
"""
OKX's private WebSocket (``/ws/v5/private``), as one okxsim session speaks it.

A client logs in ("Overview > WebSocket > Login", ``#overview-websocket-login``)::

    {"op": "login", "args": [{"apiKey", "passphrase", "timestamp", "sign"}]}

where ``timestamp`` is Unix time in seconds and ``sign`` is
``base64(HMAC-SHA256(secret, timestamp + "GET" + "/users/self/verify"))``. The answer is
``{"event": "login", "code": "0", "msg": "", "connId"}`` or an error event with OKX's code
("Error Code > WebSocket > Public", ``#error-code-websocket-public``):

- 60012 ``Invalid request``: ``args`` missing or not a list of objects;
- 60021 more than one account in one login; 60031 a second login on a logged-in
  connection;
- 60027 ``Parameter {name} can not be empty.``;
- 60004 ``Invalid timestamp`` (not a number, or more than 30 s ahead of the server);
  60006 ``Timestamp request expired`` (more than 30 s behind);
- 60032 ``API key doesn't exist.``; 60024 ``Wrong passphrase``; 60007 ``Invalid sign``;
- 50101 ``APIKey does not match current environment.``: with the setting
  ``ws_environment`` ``host``, a demo-trading key logging in on a host that is not
  ``wspap.*`` (OKX's demo WebSocket host, "Overview > Demo trading services"), or a live
  key on ``wspap.*``. With ``any`` (the default: okxsim serves both environments at one
  address, so the daemon's demo base is its live base) either kind logs in anywhere;
- 60009 ``Login failed.``: only as the ``refuse-login`` fault.

After one of these (not after a malformed request, 60012/60021/60027/60031) the
connection is closed with 4001 ``Login Failed`` ("Error Code > WebSocket > Close Frame"),
unless the setting ``login_failure`` is ``stay``.

Before a successful login, ``subscribe`` and ``unsubscribe`` are refused with 60011
``Please log in``. The channels and their pushes are in :mod:`fmzokx.sim.ws.pushes`; each
new subscription of a channel is followed, as at OKX ("Overview > WebSocket >
Connection count limit"), by ``{"event": "channel-conn-count", "channel", "connCount",
"connId"}``, and by ``channel-conn-count-error`` (the subscription then ends) beyond 30
connections of that account on that channel.

Pushes pass through :meth:`PrivateSession.push_data`, where the private faults
(:mod:`fmzokx.sim.ws.faults`) lose, delay or reorder them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from fmzokx.okx.rest.signing import verify
from fmzokx.sim.changes import Change
from fmzokx.sim.ws.limits import LOGIN_FAILED_CLOSE, LOGIN_WINDOW, PER_CHANNEL_CONNECTIONS
from fmzokx.sim.ws.protocol import Session
from fmzokx.sim.ws.pushes import ArgError, PrivateFeed, make_private_feed, subscription_arg

if TYPE_CHECKING:
    from fmzokx.sim.ws.server import WsServer

__all__ = ["DEMO_HOST_PREFIX", "VERIFY_PATH", "PrivateSession"]

VERIFY_PATH = "/users/self/verify"
DEMO_HOST_PREFIX = "wspap."
_LOGIN_FIELDS = ("apiKey", "passphrase", "timestamp", "sign")

Message = dict[str, Any]
SubKey = tuple[tuple[str, str], ...]


def _compact(message: Message) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


class PrivateSession(Session):
    """
    One connection to ``/ws/v5/private``: its login, private subscriptions and the pushes
    held back by faults.

    :ivar key: the API key logged in, or ``None``.
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
        super().__init__(server, path, conn_id, send, close, abort)
        self.key: str | None = None
        self.private: dict[SubKey, PrivateFeed] = {}
        self.held: list[Message | str] = []

    # -- requests --------------------------------------------------------------------------

    def operate(self, op: str, request: dict[str, Any], text: str, request_id: Any) -> None:
        """Log in, subscribe or unsubscribe."""
        args = request.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
            # A login is not echoed: it may carry the passphrase and signature.
            shown = "" if op == "login" else f": {text[:512]}"
            self._error("60012", f"Invalid request{shown}", request_id)
            return
        if op == "login":
            self._login(args, request_id)
            return
        if self.key is None:
            self._error("60011", "Please log in", request_id)
            return
        for arg in args:
            if op == "subscribe":
                self._subscribe(arg, request_id)
            else:
                self._unsubscribe(arg, request_id)

    def _login(self, args: list[dict[str, Any]], request_id: Any) -> None:
        if len(args) > 1:
            self._error(
                "60021", "This operation does not support multiple accounts login.", request_id
            )
            return
        if self.key is not None:
            self._error(
                "60031", "The WebSocket endpoint does not allow multiple or repeated logins.",
                request_id,
            )
            return
        arg = args[0]
        for name in _LOGIN_FIELDS:
            if not isinstance(arg.get(name), str) or not arg[name]:
                self._error("60027", f"Parameter {name} can not be empty.", request_id)
                return
        code, msg = self._check_login(arg)
        if code != "0":
            self._error(code, msg, request_id)
            if self.server.sim.settings.login_failure == "close":
                self.close(*LOGIN_FAILED_CLOSE)
            return
        self.key = arg["apiKey"]
        self.server.logged_in(self)
        answer: Message = {}
        if request_id is not None:
            answer["id"] = request_id
        answer.update({"event": "login", "code": "0", "msg": "", "connId": self.conn_id})
        self.send(answer)

    def _check_login(self, arg: dict[str, str]) -> tuple[str, str]:
        sim = self.server.sim
        if self.server.faults.take_one(self.path, "refuse-login", arg["apiKey"]) is not None:
            return "60009", "Login failed."
        timestamp = arg["timestamp"]
        try:
            moment = Decimal(timestamp)
        except InvalidOperation:
            return "60004", "Invalid timestamp"
        if not moment.is_finite():
            return "60004", "Invalid timestamp"
        behind = Decimal(sim.now_ms()) / 1000 - moment
        if behind > Decimal(str(LOGIN_WINDOW)):
            return "60006", "Timestamp request expired"
        if behind < -Decimal(str(LOGIN_WINDOW)):
            return "60004", "Invalid timestamp"
        spec = sim.exchange.spec(arg["apiKey"])
        if spec is None:
            return "60032", "API key doesn't exist."
        if arg["passphrase"] != spec.passphrase:
            return "60024", "Wrong passphrase"
        if not verify(spec.secret, arg["sign"], timestamp, "GET", VERIFY_PATH, b""):
            return "60007", "Invalid sign"
        if sim.settings.ws_environment == "host":
            demo_host = self.host.lower().startswith(DEMO_HOST_PREFIX)
            if demo_host != spec.demo:
                return "50101", "APIKey does not match current environment."
        return "0", ""

    def _subscribe(self, arg: dict[str, Any], request_id: Any) -> None:
        assert self.key is not None
        try:
            acked, interval = subscription_arg(arg)
        except ArgError as error:
            self._error(error.code, error.msg, request_id)
            return
        sub = tuple(sorted(acked.items()))
        channel = acked["channel"]
        feed = make_private_feed(self.server.sim.exchange, self.key, acked, interval)
        self.private[sub] = feed
        self._ack("subscribe", dict(acked), request_id)
        count = self.server.channel_connections(self.key, channel)
        event = {"channel": channel, "connCount": str(count), "connId": self.conn_id}
        if count > PER_CHANNEL_CONNECTIONS:
            del self.private[sub]
            self.send({"event": "channel-conn-count-error", **event})
            return
        self.send({"event": "channel-conn-count", **event})
        for message in feed.first(self.server.sim.now_ms()):
            self.push_data(message)

    def _unsubscribe(self, arg: dict[str, Any], request_id: Any) -> None:
        try:
            acked, _ = subscription_arg(arg)
        except ArgError as error:
            self._error(error.code, error.msg, request_id)
            return
        self.private.pop(tuple(sorted(acked.items())), None)
        self._ack("unsubscribe", dict(acked), request_id)

    def channels(self) -> set[str]:
        """The private channels this session is subscribed to."""
        return {feed.arg["channel"] for feed in self.private.values()}

    def subscriptions(self) -> list[dict[str, str]]:
        """The subscriptions, for GET /_sim/state."""
        return [dict(feed.arg) for _, feed in sorted(self.private.items())]

    # -- pushes ----------------------------------------------------------------------------

    def changed(self, change: Change, rendered: dict[SubKey, list[str]]) -> None:
        """
        Push what ``change`` means to each subscription; ``rendered`` keeps the messages
        (as sent) of each subscription already rendered for this change by another session.
        """
        if self.stalled or self.closing:
            return
        now_ms = self.server.sim.now_ms()
        for sub, feed in list(self.private.items()):
            messages = rendered.get(sub)
            if messages is None:
                messages = rendered[sub] = [_compact(m) for m in feed.changed(change, now_ms)]
            for message in messages:
                self.push_data(message)

    def push(self, now_ms: int) -> None:
        """The regular pushes due at this tick."""
        if self.stalled or self.closing:
            return
        for feed in list(self.private.values()):
            for message in feed.poll(now_ms):
                self.push_data(message)

    def push_data(self, message: Message | str) -> None:
        """Send one push, unless a fault loses, delays or holds it back."""
        faults = self.server.faults
        if faults.take_one(self.path, "lose-push", self.key) is not None:
            return
        delay_ms = faults.take_one(self.path, "delay", self.key)
        if delay_ms is not None:
            self.server.sim.clock.callLater(delay_ms / 1000, self.send, message)
            return
        if faults.take_one(self.path, "out-of-order", self.key) is not None:
            self.held.append(message)
            return
        self.send(message)
        held, self.held = self.held, []
        for late in held:
            self.send(late)
