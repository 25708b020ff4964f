"""The live and demo-trading copies."""

from __future__ import annotations

import random

from fmzokx.okx.stream.streams import StreamSet
from tests.sim.ws_support import WsHarness


def test_demo_keys_get_their_own_copy_opened_on_demand() -> None:
    harness = WsHarness()
    urls: list[str] = []

    def connect(url: str, factory: object) -> object:
        urls.append(url)
        return harness.link.connect(url, factory)

    streams = StreamSet(harness.clock, "wss://ws.example", "wss://wspap.example", connect,
                        rng=random.Random(1))
    streams.start()
    assert streams.streams() == [streams.live]
    assert streams.health()["status"] == "idle" and "demo" not in streams.health()
    demo = streams.for_demo(True)
    assert demo is not streams.live and streams.for_demo(True) is demo
    assert streams.for_demo(False) is streams.live
    demo.ticker("BTC-USDT")
    harness.advance(0.3)
    assert urls == ["wss://wspap.example/ws/v5/public"]
    assert demo.ticker("BTC-USDT") is not None
    health = streams.health()
    assert health["status"] == "ok" and health["live"]["status"] == "idle"
    assert health["demo"]["channels"] == {"tickers": {"live": 1}}
    streams.stop()
    harness.advance(1.0)
    assert harness.ws.sessions["/ws/v5/public"] == []


def test_a_simulator_has_one_market_so_one_copy() -> None:
    harness = WsHarness()
    base = "ws://127.0.0.1:8443"
    streams = StreamSet(harness.clock, base, base, harness.link.connect)
    assert streams.for_demo(True) is streams.live
    assert streams.streams() == [streams.live]
