"""
Graceful shutdown: calls in flight finish, late ones are told, the client and the order
journal close; the journal opens (or the daemon ends) at start.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred, fail

from fmzokx.journal import AuditFilter, ImmediateExecutor, Journal, JournalLocked
from fmzokx.journal.lock import JournalLock
from fmzokx.service import GatewayService, InOrder, health_document
from fmzokx.startup import StartupError
from tests.journal.support import result
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


def test_journal_opened_at_start_and_closed_after_the_drain(tmp_path: Path) -> None:
    """The journal is locked while the daemon runs and closed only once calls are done."""
    stack = Stack()
    path = tmp_path / "journal.sqlite3"
    service = GatewayService(okx=stack.okx, server=stack.server, journal_path=str(path),
                             journal_executor=ImmediateExecutor())
    service.startService()
    assert service.journal is not None and stack.okx.placer.journal is service.journal
    with pytest.raises(JournalLocked):
        JournalLock.acquire(str(path))
    stack.sim.add_fault("/api/v5/trade/order", "delay", count=1, delay_ms=3000)
    body = stack.envelope(
        "trade", {"symbol": "BTC_USDT", "type": "buy", "price": "-1", "amount": "20"}
    )
    pending = stack.rpc.post("http://127.0.0.1:6666/OKX", data=json.dumps(body).encode())
    stack.advance(0.5)
    stopped = service.stopService()
    stack.advance(0.5)
    assert not stopped.called and service.journal.lock is not None
    assert service.journal.lock.held, "still open while the trade is in flight"
    stack.run(pending)
    stack.run(stopped)
    assert not service.journal.lock.held
    journal = Journal.open(str(path), stack.clock, ImmediateExecutor())
    assert result(journal.unresolved()) == [], "the outcome was written before closing"
    assert len(result(journal.audit(AuditFilter()))) == 1
    result(journal.close())


def test_a_journal_that_cannot_be_opened_is_one_line_before_start(tmp_path: Path) -> None:
    """prepare() (makeService's step, before twistd forks) refuses a locked journal."""
    stack = Stack()
    path = tmp_path / "journal.sqlite3"
    other = JournalLock.acquire(str(path))
    try:
        service = GatewayService(okx=stack.okx, server=stack.server, journal_path=str(path),
                                 journal_executor=ImmediateExecutor())
        assert service.journal_service is not None
        with pytest.raises(StartupError) as caught:
            service.journal_service.prepare()
    finally:
        other.release()
    message = str(caught.value)
    assert message.startswith(f"order journal {path} is in use by another fmzokx")
    assert "\n" not in message
    assert stack.okx.placer.journal is None


def test_a_prepared_journal_stays_locked_until_the_service_stops(tmp_path: Path) -> None:
    """The lock taken by prepare() is the one the running journal holds, then released."""
    stack = Stack()
    path = tmp_path / "journal.sqlite3"
    service = GatewayService(okx=stack.okx, server=stack.server, journal_path=str(path),
                             journal_executor=ImmediateExecutor())
    assert service.journal_service is not None
    service.journal_service.prepare()
    with pytest.raises(JournalLocked):
        JournalLock.acquire(str(path))
    service.startService()
    assert service.journal is not None and service.journal.lock is not None
    assert (tmp_path / "journal.sqlite3.lock").read_text() == f"{os.getpid()}\n"
    stack.run(service.stopService())
    JournalLock.acquire(str(path)).release()


def test_an_abandoned_prepare_releases_the_lock(tmp_path: Path) -> None:
    """When a later start-up step fails, the journal's lock is given back."""
    stack = Stack()
    path = tmp_path / "journal.sqlite3"
    service = GatewayService(okx=stack.okx, server=stack.server, journal_path=str(path))
    assert service.journal_service is not None
    service.journal_service.prepare()
    service.journal_service.abandon()
    JournalLock.acquire(str(path)).release()


def test_the_tree_stops_in_reverse_one_at_a_time() -> None:
    """Each child's stop has finished before the previous child's stop begins."""
    from twisted.application.service import Service

    events: list[str] = []
    pending: dict[str, Deferred[None]] = {}

    class Step(Service):
        def __init__(self, name: str) -> None:
            self.name = name

        def startService(self) -> None:
            super().startService()
            events.append(f"start {self.name}")

        def stopService(self) -> Deferred[None]:
            super().stopService()
            events.append(f"stop {self.name}")
            done = pending[self.name] = Deferred()
            done.addCallback(lambda _: events.append(f"stopped {self.name}"))
            return done

    tree = InOrder()
    for name in ("journal", "client", "drain"):
        Step(name).setServiceParent(tree)
    tree.startService()
    stopped = tree.stopService()
    assert events == ["start journal", "start client", "start drain", "stop drain"]
    pending["drain"].callback(None)
    assert events[-2:] == ["stopped drain", "stop client"]
    pending["client"].callback(None)
    assert events[-2:] == ["stopped client", "stop journal"]
    assert not stopped.called
    pending["journal"].callback(None)
    assert stopped.called and events[-1] == "stopped journal"


def test_the_gateway_tree_order() -> None:
    """Journal first (closed last), then the client, streams, the drain and the timers."""
    from fmzokx.okx.rest.client import OkxClientService
    from fmzokx.service import (
        ClockTimer,
        DrainService,
        JournalService,
        ReconcilerService,
        StreamService,
    )

    stack = Stack(market_data="ws")
    service = GatewayService(okx=stack.okx, server=stack.server, journal_path="/tmp/x",
                             gc_freeze_after=30.0)
    assert [type(child) for child in service] == [
        JournalService, OkxClientService, ReconcilerService, StreamService, DrainService,
        ClockTimer, ClockTimer, ClockTimer,
    ]


def test_health_document_reports_the_journal(tmp_path: Path) -> None:
    stack = Stack()
    stack.run(stack.client.sync_clock())
    journal = Journal.open(str(tmp_path / "j.sqlite3"), stack.clock, ImmediateExecutor())
    document = health_document(stack.client, journal=journal)
    assert document["status"] == "ok"
    assert document["journal"] == {
        "path": journal.path, "writable": True, "stalled": False, "stalled_for_s": 0.0,
    }
    journal.writable = False
    assert health_document(stack.client, journal=journal)["status"] == "degraded"
    result(journal.close())


def test_start_up_objects_are_frozen_out_of_the_collector_once() -> None:
    """
    ``gc_freeze`` runs once, ``gc_freeze_after`` seconds after start (the daemon passes
    30 s), and never if the service stops first.
    """
    stack = Stack()
    frozen: list[float] = []
    service = GatewayService(
        okx=stack.okx, server=stack.server, gc_freeze_after=30.0,
        gc_freeze=lambda: frozen.append(stack.clock.seconds()),
    )
    started = stack.clock.seconds()
    service.startService()
    stack.advance(29.5, step=0.5)
    assert frozen == []
    stack.advance(61, step=0.5)
    assert frozen == [pytest.approx(started + 30.0)]
    stack.run(service.stopService())
    early = GatewayService(
        okx=Stack().okx, server=stack.server, gc_freeze_after=30.0,
        gc_freeze=lambda: frozen.append(-1.0),
    )
    early.startService()
    stack.run(early.stopService())
    early.okx.clock.advance(60)  # type: ignore[attr-defined]
    assert len(frozen) == 1


def test_the_daemon_freezes_after_thirty_seconds() -> None:
    """makeService wires the freeze; without it a full collection walks every module."""
    from fmzokx.options import Options
    from fmzokx.service import GC_FREEZE_AFTER, freeze_gc
    from fmzokx.tap import build

    options = Options()
    options.parseOptions(["--okx-url", "http://127.0.0.1:9"])
    top = build(options)
    (gateway,) = [s for s in top if isinstance(s, GatewayService)]
    assert gateway.gc_freeze_after == GC_FREEZE_AFTER == 30.0
    assert gateway.gc_freeze is freeze_gc
