"""Graceful shutdown: calls in flight finish, late ones are told, the client closes."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.defer import Deferred, fail

from fmzokx.service import GatewayService, health_document
from tests.stack import Stack


def test_stop_waits_for_inflight_calls_then_closes_the_client() -> None:
    """SIGTERM (stopService): the slow trade completes, a late call gets a clear error."""
    stack = Stack()
    service = GatewayService(okx=stack.okx, server=stack.server)
    service.startService()
    stack.advance(1)
    stack.sim.add_fault("/api/v5/trade/order", "delay", count=1, delay_ms=3000)
    body = stack.envelope(
        "trade", {"symbol": "BTC_USDT", "type": "buy", "price": "-1", "amount": "20"}
    )

    async def send(payload: dict[str, Any]) -> Any:
        response = await stack.rpc.post(
            "http://127.0.0.1:6666/OKX", data=json.dumps(payload).encode()
        )
        return json.loads(await response.content())

    pending = Deferred.fromCoroutine(send(body))
    stack.advance(0.5)
    assert stack.server.inflight == 1
    stopped = service.stopService()
    assert not stopped.called
    late = stack.run(send(stack.envelope("ticker", {"symbol": "BTC_USDT"})))
    assert "shutting down" in late["error"]
    result = stack.run(pending)
    assert result["data"]["id"].startswith("BTC-USDT,")
    stack.run(stopped)
    assert stack.client.health()["stopped"] is True
    assert len(stack.sim.state()["orders"]) == 1


def test_health_document_reflects_clock_sync() -> None:
    """/healthz is degraded until OKX's clock has been reached, then ok with the offset."""
    stack = Stack()
    assert health_document(stack.client)["status"] == "degraded"
    stack.run(stack.client.sync_clock())
    document = health_document(stack.client)
    assert document["status"] == "ok"
    assert abs(document["okx"]["clock_offset_s"]) < 0.5


def test_health_document_reports_a_degraded_stream() -> None:
    """With --market-data ws, /healthz shows the copies and is degraded with them."""
    stack = Stack(market_data="ws")
    stack.run(stack.client.sync_clock())
    assert stack.streams is not None
    document = health_document(stack.client, stack.streams)
    assert document["status"] == "ok" and document["stream"]["status"] == "idle"
    stack.ok("ticker", symbol="BTC_USDT")
    stack.advance(0.5)
    document = health_document(stack.client, stack.streams)
    assert document["status"] == "ok"
    assert document["stream"]["live"]["channels"] == {"tickers": {"live": 1}}
    connections = stack.streams.live.connections.values()
    connect = next(iter(connections)).connector
    for connection in connections:  # OKX's WebSocket becomes unreachable
        connection.connector = lambda url, factory: fail(ConnectionRefusedError())
    stack.sim.ws.add_fault("/ws/v5/public", "disconnect")
    for _ in range(30):  # the docker keeps asking, answered over REST
        stack.advance(0.5)
        stack.ok("ticker", symbol="BTC_USDT")
    document = health_document(stack.client, stack.streams)
    assert document["status"] == "degraded" and document["stream"]["status"] == "degraded"
    assert document["stream"]["live"]["channels"] == {"tickers": {"subscribing": 1}}
    for connection in connections:
        connection.connector = connect
    stack.advance(31.0, step=0.5)
    stack.ok("ticker", symbol="BTC_USDT")
    assert health_document(stack.client, stack.streams)["status"] == "ok"
