"""
The private connection against okxsim's ``/ws/v5/private``, in memory: the login is
OKX's signature, subscriptions wait for it, a refusal reaches the listener, and every
(re)connection logs in afresh; with ``keepalive`` a connection that only hears pushes
still pings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory
from twisted.internet.defer import Deferred, succeed

from fmzokx.okx.credentials import Credentials
from fmzokx.okx.stream.client import StreamConnection
from fmzokx.okx.stream.limits import ConnectLimiter
from fmzokx.okx.stream.private import CHANNEL_ARGS, login_request, refusal_text
from fmzokx.sim import DEFAULT_ACCOUNT
from tests.sim.ws_support import WsHarness, record_requests
from tests.stream.test_client import Listener

URL = "ws://127.0.0.1:8443/ws/v5/private"
CREDENTIALS = Credentials(DEFAULT_ACCOUNT.key, DEFAULT_ACCOUNT.secret, DEFAULT_ACCOUNT.passphrase)


def test_login_is_okx_signature_in_seconds() -> None:
    """sign = base64(HMAC-SHA256(secret, timestamp + 'GET' + '/users/self/verify'))."""
    args = login_request(CREDENTIALS, lambda: 1_700_000_000.9)()
    assert args["timestamp"] == "1700000000"
    expected = base64.b64encode(hmac.new(
        DEFAULT_ACCOUNT.secret.encode(), b"1700000000GET/users/self/verify", hashlib.sha256
    ).digest()).decode()
    assert args == {"apiKey": CREDENTIALS.key, "passphrase": CREDENTIALS.passphrase,
                    "timestamp": "1700000000", "sign": expected}


def test_refusal_text_names_the_code_and_not_the_message() -> None:
    assert refusal_text({"event": "error", "code": "60024", "msg": "secret stuff"}) == (
        "OKX 60024: wrong passphrase"
    )
    assert refusal_text({"event": "error", "code": "6<b>"}) == "OKX 6b: refused"


class Private:
    def __init__(self, credentials: Credentials = CREDENTIALS, **options: Any) -> None:
        self.harness = WsHarness()
        self.clock = self.harness.clock
        self.listener = Listener()
        self.heard: list[str] = []
        sim = self.harness.sim
        self.connection = StreamConnection(
            URL, clock=self.clock, connector=self.connect, limiter=ConnectLimiter(self.clock),
            listener=self.listener, rng=random.Random(3),
            login=login_request(credentials, lambda: sim.now_ms() / 1000), **options,
        )
        record_requests(self.harness.ws, self.heard)

    def connect(self, url: str, factory: WebSocketClientFactory) -> Deferred[Any]:
        client, _ = self.harness.join(factory)
        return succeed(client)

    def ops(self) -> list[str]:
        return [json.loads(text)["op"] for text in self.heard if text != "ping"]


def test_subscriptions_wait_for_the_login() -> None:
    private = Private()
    for arg in CHANNEL_ARGS:
        private.connection.subscribe(arg)
    private.harness.advance(0.5)
    assert private.ops() == ["login", "subscribe"]
    assert private.connection.logged_in
    kinds = private.listener.kinds()
    assert kinds.index("login") < kinds.index("subscribe")
    assert {m["arg"]["channel"] for m in private.listener.pushes} == {"account", "positions"}


def test_a_refused_login_reaches_the_listener_and_nothing_is_subscribed() -> None:
    wrong = Credentials(CREDENTIALS.key, "not-the-secret", CREDENTIALS.passphrase)
    private = Private(wrong)
    private.connection.subscribe(CHANNEL_ARGS[0])
    private.harness.advance(0.5)
    # okxsim closes the connection after a refused login; the connection (without a
    # session to stop it) may reconnect and try again: never a subscribe.
    assert set(private.ops()) == {"login"}
    assert not private.connection.logged_in
    errors = [payload[0] for kind, payload in private.listener.log if kind == "error"]
    assert {event["code"] for event in errors} == {"60007"}


def test_every_reconnect_logs_in_again() -> None:
    private = Private()
    private.connection.subscribe(CHANNEL_ARGS[0])
    private.harness.advance(0.5)
    private.harness.ws.add_fault("/ws/v5/private", "disconnect")
    private.harness.advance(2.0)
    assert private.ops() == ["login", "subscribe", "login", "subscribe"]
    assert private.connection.logged_in


def test_keepalive_pings_a_connection_that_only_listens() -> None:
    """
    OKX may close a connection whose client says nothing for 30 s although it hears
    pushes (okxsim's ``private_idle`` ``client``): with ``keepalive`` the client pings.
    """
    quiet = Private()
    quiet.harness.sim.configure(private_idle="client")
    quiet.connection.subscribe(CHANNEL_ARGS[0])
    quiet.harness.advance(40.0, 0.5)
    assert ("closed", "closed (4004: No data received in 30s)") in quiet.listener.log
    kept = Private(keepalive=True)
    kept.harness.sim.configure(private_idle="client")
    kept.connection.subscribe(CHANNEL_ARGS[0])
    kept.harness.advance(40.0, 0.5)
    assert "ping" in kept.heard
    assert not [kind for kind in kept.listener.kinds() if kind == "closed"]
