"""The live status page object: it reads its sources on each render and masks secrets."""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock

from fmzokx.logs import SecretRegistry
from fmzokx.status.history import History
from fmzokx.status.view import StatusView

SECRET = "view-secret-0123456789abc"


def test_render_reads_the_sources_each_time() -> None:
    registry = SecretRegistry()
    registry.add(SECRET)
    clock = Clock()
    clock.advance(10_000.0)
    history = History(clock, scrub=registry.scrub)
    state: dict[str, Any] = {"health": None, "stream": {"status": "connecting"}}
    view = StatusView(
        history=history,
        version="1.0",
        started=9_000.0,
        health=lambda: state["health"],
        budgets=lambda: [{"scope": "trade", "path": "/api/v5/trade/order", "used": 1,
                          "limit": 60, "peak_5m": 3, "peak_60m": 3}],
        stream=lambda: state["stream"],
        scrub=registry.scrub,
    )
    page = view.render()
    assert "not checked yet" in page and "connecting" in page and "3 of 60" in page
    state["health"] = {"status": "ok", "okx": {"clock_offset_s": 0.002, "clock_synced": True,
                                               "clock_sync_error": None}}
    state["stream"] = {"status": "connected", "connections": [
        {"copy": "live", "url": f"wss://x/{SECRET}", "state": "open"}]}
    history.docker_call("OKX", "ok", 0.004)
    page = view.render()
    assert "reachable" in page and "connected" in page and 'data-label="OKX"' in page
    assert SECRET not in page and "wss://x/&lt;redacted&gt;" in page
    assert view.snapshot()["uptime_s"] == 1000.0


def test_without_a_stream_there_is_no_stream_section() -> None:
    clock = Clock()
    view = StatusView(history=History(clock), version="1", started=0.0, health=lambda: None)
    assert "Market-data stream" not in view.render()
