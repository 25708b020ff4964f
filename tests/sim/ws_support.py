"""
okxsim's WebSocket in memory: the simulator's site (REST and WebSocket on one resource)
and autobahn clients joined by :mod:`twisted.test.iosim` pumps, all on one fake clock.
"""

from __future__ import annotations

import json
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from treq.testing import StubTreq
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.test import iosim
from twisted.web.server import Site

from fmzokx.sim import SimSettings, Simulator

from .support import START


class Recorder(WebSocketClientProtocol):  # type: ignore[misc]
    """A client that keeps what it receives and how the connection ended."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.opened = False
        self.closed: tuple[bool, int | None, str | None] | None = None
        self.http_status: int | None = None

    def onOpen(self) -> None:
        self.opened = True

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.texts.append(payload.decode("utf-8"))

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self.closed = (wasClean, code, reason)

    def send_text(self, text: str) -> None:
        self.sendMessage(text.encode("utf-8"), isBinary=False)

    def send_json(self, message: object) -> None:
        self.send_text(json.dumps(message))

    def messages(self) -> list[Any]:
        """Everything received so far, JSON decoded ("pong" stays a string); then forgotten."""
        texts, self.texts = self.texts, []
        return [text if text == "pong" else json.loads(text) for text in texts]


def record_requests(server: Any, heard: list[str]) -> None:
    """Append every text a client sends to okxsim's WebSocket ``server`` to ``heard``."""
    opened = server.opened

    def spied(*args: Any) -> Any:
        session = opened(*args)
        received = session.received

        def spy(text: str) -> None:
            heard.append(text)
            received(text)

        session.received = spy
        return session

    server.opened = spied


class WsLink:
    """
    A simulator's site (REST and WebSocket) and the in-memory connections made to it.

    :param paced: bytes cross each connection once per fake-clock instant (a flush at an
        instant already flushed moves nothing), so every hop takes fake time as on a real
        network; otherwise a flush moves bytes until nothing moves.
    """

    def __init__(self, sim: Simulator, clock: Clock, paced: bool = False) -> None:
        self.clock = clock
        self.paced = paced
        self._flushed_at: float | None = None
        self.site = Site(sim.resource(), reactor=clock)
        self.pumps: list[iosim.IOPump] = []
        self.joined = 0

    def join(self, factory: Any, host: str = "127.0.0.1") -> tuple[Any, iosim.IOPump]:
        """Connect a protocol of ``factory`` (a client factory) to the site, in memory."""
        self.joined += 1
        peer = IPv4Address("TCP", host, 40000 + self.joined)
        server_address = IPv4Address("TCP", "127.0.0.1", 8443)
        client, _server, pump = iosim.connectedServerAndClient(
            lambda: self.site.buildProtocol(peer),
            lambda: factory.buildProtocol(server_address),
            clientTransportFactory=lambda proto: iosim.FakeTransport(
                proto, isServer=False, hostAddress=peer, peerAddress=server_address
            ),
            serverTransportFactory=lambda proto: iosim.FakeTransport(
                proto, isServer=True, hostAddress=server_address, peerAddress=peer
            ),
            clock=self.clock,
        )
        self.pumps.append(pump)
        pump.flush()
        return client, pump

    def connect(self, url: str, factory: Any) -> Deferred[Any]:
        """A stream connector (see ``fmzokx.okx.stream.client.Connector``) into the site."""
        return succeed(self.join(factory)[0])

    def flush(self) -> None:
        """Move pending bytes on every connection (see ``paced``)."""
        if self.paced:
            if self._flushed_at == self.clock.seconds():
                return
            self._flushed_at = self.clock.seconds()
        for _ in range(1 if self.paced else 100):
            if not any([pump.pump() for pump in self.pumps]):
                self.pumps = [
                    pump for pump in self.pumps
                    if not (pump.clientIO.disconnected and pump.serverIO.disconnected)
                ]
                return
        if not self.paced:
            raise AssertionError("connections still busy after 100 rounds")


class WsHarness:
    """A simulator (REST and WebSocket on one site) on a fake clock."""

    def __init__(self, rate_limits: bool = False, start: float = START, **settings: Any) -> None:
        self.clock = Clock()
        self.clock.advance(start)
        self.sim = Simulator(self.clock, rate_limits=rate_limits, settings=SimSettings(**settings))
        self.ws = self.sim.ws
        self.link = WsLink(self.sim, self.clock)

    def connect(
        self, path: str = "/ws/v5/public", host: str = "127.0.0.1"
    ) -> tuple[Recorder, iosim.IOPump]:
        """A recording client connected to ``path`` (the handshake is pumped through)."""
        factory = WebSocketClientFactory(f"ws://127.0.0.1:8443{path}", reactor=self.clock)
        factory.protocol = Recorder
        factory.setProtocolOptions(
            openHandshakeTimeout=0, closeHandshakeTimeout=0, serverConnectionDropTimeout=0
        )
        client, pump = self.join(factory, host)
        assert isinstance(client, Recorder)
        return client, pump

    def join(self, factory: Any, host: str = "127.0.0.1") -> tuple[Any, iosim.IOPump]:
        """Connect a protocol of ``factory`` (a client factory) to the site, in memory."""
        return self.link.join(factory, host)

    def advance(self, seconds: float, step: float = 0.1) -> None:
        """Move the clock in ``step`` increments, moving data after each."""
        remaining = seconds
        while remaining > 1e-9:
            delta = min(step, remaining)
            self.clock.advance(delta)
            remaining -= delta
            self.flush()

    def flush(self) -> None:
        """Move every pending byte on every connection."""
        self.link.flush()

    def rest(self, target: str) -> Any:
        """GET an okxsim REST path now; the parsed ``data`` list."""
        return self.control("GET", target)[1]["data"]

    def control(self, method: str, target: str, body: Any = None) -> tuple[int, Any]:
        """Send a request to okxsim's HTTP side now; ``(status, parsed JSON body)``."""
        stub = StubTreq(self.sim.resource())
        outcome: list[Any] = []
        data = None if body is None else json.dumps(body).encode()
        stub.request(method, "http://okxsim.test" + target, data=data).addCallback(
            lambda response: response.json().addCallback(lambda parsed: (response.code, parsed))
        ).addBoth(outcome.append)
        stub.flush()
        assert outcome and isinstance(outcome[0], tuple), outcome
        result: tuple[int, Any] = outcome[0]
        return result
