"""
The daemon's market-data stream wired to okxsim's WebSocket in memory, on one fake clock.
"""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import urlsplit

from autobahn.twisted.websocket import WebSocketClientFactory
from twisted.internet.defer import Deferred, fail, succeed

from fmzokx.okx.stream.market import MarketStream
from tests.sim.ws_support import WsHarness

PUBLIC_URL = "ws://127.0.0.1:8443/ws/v5/public"
BUSINESS_URL = "ws://127.0.0.1:8443/ws/v5/business"


class SimStream:
    """
    okxsim (REST and WebSocket) and a :class:`MarketStream` connected to it.

    :ivar attempts: every connection attempt's clock time.
    :ivar down: while true, connection attempts are refused (the network is down).
    """

    def __init__(
        self,
        rate_limits: bool = True,
        seed: int = 7,
        settings: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        # Without settings: okxsim's former pushes (every channel every 100 ms, CRC32
        # checksums), which these tests of the mechanics were written for; ``{}`` is OKX's.
        if settings is None:
            settings = {"ws_cadence": "tick", "ws_checksum": "crc32"}
        self.harness = WsHarness(rate_limits=rate_limits, **settings)
        self.clock = self.harness.clock
        self.sim = self.harness.sim
        self.ws = self.harness.ws
        self.attempts: list[float] = []
        self.down = False
        self.md = MarketStream(
            self.clock, PUBLIC_URL, BUSINESS_URL, self.connect, rng=random.Random(seed),
            **options,
        )
        self.md.start()

    def connect(self, url: str, factory: WebSocketClientFactory) -> Deferred[Any]:
        assert urlsplit(url).path in ("/ws/v5/public", "/ws/v5/business")
        self.attempts.append(self.clock.seconds())
        if self.down:
            return fail(ConnectionRefusedError("network down"))
        client, _pump = self.harness.join(factory)
        return succeed(client)

    def advance(self, seconds: float, step: float = 0.05) -> None:
        """Move time in small steps, moving data after each."""
        self.harness.advance(seconds, step)

    def flush(self) -> None:
        self.harness.flush()

    def rest(self, target: str) -> Any:
        return self.harness.rest(target)

    def settle(self) -> None:
        """Let a first query's subscription complete (handshake, ack, first pushes)."""
        self.flush()
        self.advance(0.3)
