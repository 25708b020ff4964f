"""
okxsim's private WebSocket over real loopback TCP: login, subscribe, and an order placed
over signed REST on the same port pushed to the logged-in client, on the real reactor.
"""

from __future__ import annotations

import json
from typing import Any

import pytest_twisted
import treq
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import reactor
from twisted.web.server import Site

from fmzokx.okx.rest.signing import encode_body, format_timestamp, sign
from fmzokx.sim import DEFAULT_ACCOUNT, Simulator
from fmzokx.sim.ws.private import VERIFY_PATH
from tests.helpers import real_sleep as sleep


class Client(WebSocketClientProtocol):  # type: ignore[misc]
    received: list[Any]

    def onOpen(self) -> None:
        self.received = []
        self.factory.client = self
        stamp = str(int(reactor.seconds()))  # type: ignore[attr-defined]
        login = {
            "apiKey": DEFAULT_ACCOUNT.key,
            "passphrase": DEFAULT_ACCOUNT.passphrase,
            "timestamp": stamp,
            "sign": sign(DEFAULT_ACCOUNT.secret, stamp, "GET", VERIFY_PATH, b""),
        }
        self.sendMessage(json.dumps({"op": "login", "args": [login]}).encode())

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        message = json.loads(payload)
        self.received.append(message)
        if message.get("event") == "login":
            subscribe = {"op": "subscribe", "args": [
                {"channel": "orders", "instType": "ANY"}, {"channel": "balance_and_position"}]}
            self.sendMessage(json.dumps(subscribe).encode())


def push(message: dict[str, Any], channel: str) -> bool:
    return "data" in message and message["arg"]["channel"] == channel


async def wait_for(client: Client, check: Any) -> list[Any]:
    for _ in range(100):
        found = [m for m in getattr(client, "received", []) if check(m)]
        if found:
            return found
        await sleep(0.05)
    raise AssertionError(f"not received; got {getattr(client, 'received', [])}")


@pytest_twisted.ensureDeferred
async def test_an_order_placed_over_rest_is_pushed_over_loopback() -> None:
    sim = Simulator(reactor, rate_limits=True)
    site = Site(sim.resource())
    port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[attr-defined]
    base = f"127.0.0.1:{port.getHost().port}"
    factory = WebSocketClientFactory(f"ws://{base}/ws/v5/private", reactor=reactor)
    factory.protocol = Client
    connector = reactor.connectTCP(  # type: ignore[attr-defined]
        "127.0.0.1", port.getHost().port, factory
    )
    try:
        client = await wait_for_protocol(factory)
        await wait_for(client, lambda m: m.get("event") == "channel-conn-count"
                       and m["channel"] == "balance_and_position")
        path = "/api/v5/trade/order"
        body = encode_body({"instId": "BTC-USDT", "tdMode": "cash", "side": "buy",
                            "ordType": "market", "sz": "100", "tgtCcy": "quote_ccy"})
        stamp = format_timestamp(reactor.seconds())  # type: ignore[attr-defined]
        headers = {
            "OK-ACCESS-KEY": DEFAULT_ACCOUNT.key,
            "OK-ACCESS-PASSPHRASE": DEFAULT_ACCOUNT.passphrase,
            "OK-ACCESS-TIMESTAMP": stamp,
            "OK-ACCESS-SIGN": sign(DEFAULT_ACCOUNT.secret, stamp, "POST", path, body),
            "Content-Type": "application/json",
        }
        response = await treq.post(f"http://{base}{path}", data=body, headers=headers,
                                   persistent=False)
        ord_id = (await response.json())["data"][0]["ordId"]
        (filled,) = await wait_for(client, lambda m: push(m, "orders")
                                   and m["data"][0]["state"] == "filled")
        assert filled["data"][0]["ordId"] == ord_id
        events = await wait_for(client, lambda m: push(m, "balance_and_position")
                                and m["data"][0]["eventType"] == "filled")
        assert {b["ccy"] for b in events[-1]["data"][0]["balData"]} == {"BTC", "USDT"}
    finally:
        connector.disconnect()
        for _ in range(40):
            if not sim.ws.sessions["/ws/v5/private"]:
                break
            await sleep(0.05)
        await port.stopListening()
    assert sim.ws.sessions["/ws/v5/private"] == [] and sim.ws.by_key == {}


async def wait_for_protocol(factory: WebSocketClientFactory) -> Client:
    for _ in range(100):
        protocol = getattr(factory, "client", None)
        if protocol is not None:
            return protocol  # type: ignore[no-any-return]
        await sleep(0.05)
    raise AssertionError("no connection")
