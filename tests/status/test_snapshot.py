"""The status page's snapshot: the history plus version, uptime, OKX health, budgets, stream."""

from __future__ import annotations

from twisted.internet.task import Clock

from fmzokx.logs import SecretRegistry
from fmzokx.status.history import History
from fmzokx.status.snapshot import build_snapshot, okx_health

SECRET = "snapshot-secret-0123456789"


def identity(text: str) -> str:
    return text


def test_okx_health_from_the_healthz_document() -> None:
    assert okx_health(None, identity) == {"reachable": None}
    healthy = okx_health(
        {
            "status": "ok",
            "okx": {"clock_offset_s": -0.0123, "clock_synced": True, "clock_synced_at": 5.0,
                    "clock_sync_rtt_s": 0.0811, "clock_sync_error": None,
                    "okx_base_url": "https://www.okx.com", "in_flight": 3, "rate_limits": True},
            "rpc_in_flight": 1,
        },
        identity,
    )
    assert healthy == {
        "reachable": True, "base_url": "https://www.okx.com", "clock_offset_ms": -12.3,
        "clock_synced": True, "clock_synced_at": 5.0, "clock_sync_rtt_ms": 81.1,
        "clock_sync_error": None, "in_flight": 3, "rate_limits": True, "rpc_in_flight": 1,
    }
    registry = SecretRegistry()
    registry.add(SECRET)
    degraded = okx_health(
        {"status": "degraded", "okx": {"clock_sync_error": f"refused for {SECRET}"}},
        registry.scrub,
    )
    assert degraded["reachable"] is False
    assert degraded["clock_sync_error"] == "refused for <redacted>"
    assert degraded["clock_offset_ms"] is None


def test_build_snapshot_adds_version_uptime_budgets_and_stream() -> None:
    registry = SecretRegistry()
    registry.add(SECRET)
    clock = Clock()
    clock.advance(1000.0)
    history = History(clock, scrub=registry.scrub)
    history.docker_call("OKX", "ok", 0.01)
    snapshot = build_snapshot(
        history,
        version="1.2.3",
        started=400.0,
        budgets=[{"scope": "trade", "path": "/api/v5/trade/order", "used": 3, "limit": 60}],
        stream={"state": "connected", "login": {"key": SECRET}, "channels": [SECRET, "tickers"]},
        scrub=registry.scrub,
    )
    assert snapshot["version"] == "1.2.3"
    assert snapshot["uptime_s"] == 600.0 and snapshot["now"] == 1000.0
    assert snapshot["okx"] == {"reachable": None}
    assert snapshot["budgets"] == [
        {"scope": "trade", "path": "/api/v5/trade/order", "used": 3, "limit": 60}
    ]
    assert snapshot["stream"] == {
        "state": "connected", "login": {"key": "<redacted>"}, "channels": ["<redacted>", "tickers"],
    }
    assert [s["label"] for s in snapshot["services"]] == ["OKX"]
    assert build_snapshot(history, version="1", started=0.0)["stream"] is None
