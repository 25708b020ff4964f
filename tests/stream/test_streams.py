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


def test_status_lists_each_connection_and_its_channels() -> None:
    """
    What the status page shows of the stream: each connection's state, how long it has
    been up and quiet, its connects and reconnects, and each channel's state and age.
    """
    harness = WsHarness()
    base = "ws://127.0.0.1:8443"
    streams = StreamSet(harness.clock, base, base, harness.link.connect, rng=random.Random(1))
    streams.start()
    assert streams.status() == {
        "status": "idle", "channels": [], "channels_total": 0,
        "connections": [
            {"copy": "live", "url": f"{base}/ws/v5/public", "state": "idle", "up_s": None,
             "quiet_s": None, "connects": 0, "reconnects": 0, "channels": 0},
            {"copy": "live", "url": f"{base}/ws/v5/business", "state": "idle", "up_s": None,
             "quiet_s": None, "connects": 0, "reconnects": 0, "channels": 0},
        ],
    }
    streams.live.ticker("BTC-USDT")
    streams.live.ticker("ETH-USDT")
    harness.advance(0.3)
    assert streams.live.ticker("BTC-USDT") is not None
    harness.ws.add_fault("/ws/v5/public", "disconnect")
    harness.advance(5.0, 0.05)
    status = streams.status()
    public, business = status["connections"]
    assert public["state"] == "open" and public["reconnects"] == 1
    assert public["connects"] == 2 and public["channels"] == 2
    assert 0 < public["up_s"] < 5.0 and 0 <= public["quiet_s"] < 1.0
    assert business["state"] == "idle" and business["channels"] == 0
    assert [(row["channel"], row["inst_id"], row["state"]) for row in status["channels"]] == [
        ("tickers", "BTC-USDT", "live"), ("tickers", "ETH-USDT", "live")]
    assert all(row["url"] == public["url"] and row["for_s"] < 5.0 for row in status["channels"])
    assert status["status"] == "ok" and status["channels_total"] == 2
    streams.stop()
