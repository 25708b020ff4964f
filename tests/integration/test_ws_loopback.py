"""
okxsim's WebSocket and the daemon's market-data copy over real loopback TCP: REST and
WebSocket on one port, the real endpoint connector, the real reactor.
"""

from __future__ import annotations

from typing import Any

import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.web.server import Site

from fmzokx.okx.stream.client import endpoint_connector
from fmzokx.okx.stream.market import MarketStream
from fmzokx.sim import Simulator, public
from tests.helpers import real_sleep as sleep


@pytest_twisted.ensureDeferred
async def test_stream_over_loopback_matches_the_market() -> None:
    sim = Simulator(reactor, rate_limits=True)
    ws = sim.ws
    site = Site(sim.resource())
    port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[attr-defined]
    base = f"127.0.0.1:{port.getHost().port}"
    md = MarketStream(
        reactor, f"ws://{base}/ws/v5/public", f"ws://{base}/ws/v5/business",
        endpoint_connector(reactor),
    )
    md.start()
    try:
        assert md.ticker("BTC-USDT") is None and md.depth("BTC-USDT", 5) is None
        ticker: dict[str, Any] | None = None
        book: dict[str, Any] | None = None
        for _ in range(100):
            await sleep(0.05)
            ticker, book = md.ticker("BTC-USDT"), md.depth("BTC-USDT", 5)
            if ticker is not None and book is not None:
                break
        assert ticker is not None and book is not None
        inst = sim.exchange.instrument("BTC-USDT", sim.now_ms())
        assert inst is not None
        assert ticker == public.ticker(sim.market, inst, int(ticker["ts"]))
        assert book == public.books(sim.market, inst, int(book["ts"]), 5)
        # REST answers on the very same port.
        response = await treq.get(
            f"http://{base}/api/v5/market/ticker?instId=BTC-USDT", persistent=False
        )
        assert response.code == 200
        assert (await response.json())["data"][0]["instId"] == "BTC-USDT"
        assert len(ws.sessions["/ws/v5/public"]) == 1
    finally:
        md.stop()
        for _ in range(40):
            if not ws.sessions["/ws/v5/public"]:
                break
            await sleep(0.05)
        await port.stopListening()
    assert ws.sessions["/ws/v5/public"] == []
