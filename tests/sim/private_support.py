"""
okxsim's private WebSocket in memory: autobahn clients on one fake clock with the
simulator's site, a signed REST side on the same simulator, and OKX's login message.
"""

from __future__ import annotations

import json
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory

from fmzokx.okx.rest.signing import encode_body, sign
from fmzokx.sim import DEFAULT_ACCOUNT, SimAccount
from fmzokx.sim.ws.private import VERIFY_PATH

from .support import Harness
from .ws_support import Recorder, WsLink

PRIVATE = "/ws/v5/private"
OTHER = SimAccount(key="other-key", secret="other-secret", passphrase="other-pass")
DEMO = SimAccount(key="demo-key", secret="demo-secret", passphrase="demo-pass", demo=True)


def login_message(
    account: SimAccount, timestamp: str, **overrides: Any
) -> dict[str, Any]:
    """OKX's login request for ``account`` signed at ``timestamp`` (seconds)."""
    arg = {
        "apiKey": account.key,
        "passphrase": account.passphrase,
        "timestamp": timestamp,
        "sign": sign(account.secret, timestamp, "GET", VERIFY_PATH, b""),
    }
    arg.update(overrides)
    return {"op": "login", "args": [arg]}


def data(messages: list[Any]) -> list[dict[str, Any]]:
    """The pushes among ``messages`` (not events, not ``pong``)."""
    return [m for m in messages if isinstance(m, dict) and "data" in m]


def events(messages: list[Any]) -> list[dict[str, Any]]:
    """The events among ``messages`` (acknowledgements, errors, login...)."""
    return [m for m in messages if isinstance(m, dict) and "event" in m]


class PrivateHarness:
    """A simulator with three accounts (live, live, demo), REST and WebSocket on one clock."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("accounts", (DEFAULT_ACCOUNT, OTHER, DEMO))
        self.rest = Harness(**kwargs)
        self.clock = self.rest.clock
        self.sim = self.rest.sim
        self.ws = self.sim.ws
        self.link = WsLink(self.sim, self.clock)

    def connect(
        self, host: str = "127.0.0.1", peer: str = "127.0.0.1", path: str = PRIVATE
    ) -> Recorder:
        """A recording client on ``path`` whose handshake names ``host``."""
        factory = WebSocketClientFactory(f"ws://{host}:8443{path}", reactor=self.clock)
        factory.protocol = Recorder
        factory.setProtocolOptions(
            openHandshakeTimeout=0, closeHandshakeTimeout=0, serverConnectionDropTimeout=0
        )
        client, _ = self.link.join(factory, peer)
        assert isinstance(client, Recorder)
        return client

    def now_s(self) -> str:
        """The simulator's time in whole seconds, as a login ``timestamp``."""
        return str(self.sim.now_ms() // 1000)

    def login(
        self, client: Recorder, account: SimAccount = DEFAULT_ACCOUNT, **overrides: Any
    ) -> list[Any]:
        """Send a login for ``account`` now; the messages it brought."""
        timestamp = overrides.pop("timestamp", self.now_s())
        client.send_json(login_message(account, timestamp, **overrides))
        self.flush()
        return client.messages()

    def session(self, account: SimAccount = DEFAULT_ACCOUNT, *args: dict[str, Any]) -> Recorder:
        """A client logged in as ``account`` and subscribed to ``args``; its inbox emptied."""
        client = self.connect()
        (answer,) = self.login(client, account)
        assert answer["event"] == "login", answer
        if args:
            client.send_json({"op": "subscribe", "args": list(args)})
            self.flush()
            client.messages()
        return client

    def flush(self) -> None:
        """Move every pending byte on every connection."""
        self.link.flush()

    def advance(self, seconds: float, step: float = 0.1) -> None:
        """Move the clock in ``step`` increments, moving data after each."""
        remaining = seconds
        while remaining > 1e-9:
            delta = min(step, remaining)
            self.clock.advance(delta)
            remaining -= delta
            self.flush()

    def post(self, path: str, payload: Any, account: SimAccount = DEFAULT_ACCOUNT) -> Any:
        """A signed POST as ``account``; the ``data`` of a ``code 0`` reply. Pushes flushed."""
        body = encode_body(payload)
        status, reply = self.rest.send(
            "POST", path, body, self.rest.headers("POST", path, body, account)
        )
        assert (status, reply["code"]) == (200, "0"), reply
        self.flush()
        return reply["data"]

    def control(self, method: str, target: str, body: Any = None) -> tuple[int, Any]:
        """An unsigned request to okxsim's control API; ``(status, parsed JSON)``."""
        encoded = None if body is None else json.dumps(body).encode()
        result: tuple[int, Any] = self.rest.send(method, target, encoded)
        return result

    def get(self, target: str, account: SimAccount = DEFAULT_ACCOUNT) -> list[Any]:
        """A signed GET as ``account``; the ``data`` of a ``code 0`` reply."""
        status, reply = self.rest.send(
            "GET", target, None, self.rest.headers("GET", target, b"", account)
        )
        assert (status, reply["code"]) == (200, "0"), reply
        result: list[Any] = reply["data"]
        return result

    def place(self, account: SimAccount = DEFAULT_ACCOUNT, **params: Any) -> str:
        """Place an order that must be accepted; its ``ordId``. Pushes flushed."""
        (item,) = self.post("/api/v5/trade/order", params, account)
        assert item["sCode"] == "0", item
        ord_id: str = item["ordId"]
        return ord_id
