"""okxsim's WebSocket faults, seen from a plain client."""

from __future__ import annotations

from typing import Any

import pytest

from fmzokx.okx.stream.book import OrderBook

from .ws_support import Recorder, WsHarness

BOOKS = {"channel": "books", "instId": "BTC-USDT"}


def books_client(harness: WsHarness) -> Recorder:
    client, _ = harness.connect()
    client.send_json({"op": "subscribe", "args": [BOOKS]})
    harness.flush()
    return client


def updates(client: Recorder) -> list[dict[str, Any]]:
    return [m["data"][0] for m in client.messages() if isinstance(m, dict) and "data" in m]


def test_disconnect_drops_every_session_on_that_path_only() -> None:
    harness = WsHarness()
    public = [books_client(harness) for _ in range(2)]
    business, _ = harness.connect("/ws/v5/business")
    harness.ws.add_fault("/ws/v5/public", "disconnect")
    harness.flush()
    assert all(c.closed is not None and c.closed[0] is False for c in public)
    assert business.closed is None
    assert harness.ws.sessions["/ws/v5/public"] == []
    assert books_client(harness).opened  # a new connection is served


def test_stall_keeps_the_connection_but_sends_nothing() -> None:
    harness = WsHarness()
    stalled = books_client(harness)
    harness.ws.add_fault("/ws/v5/public", "stall")
    stalled.messages()
    stalled.send_text("ping")
    harness.advance(40.0, step=1.0)
    assert stalled.messages() == [] and stalled.closed is None
    healthy = books_client(harness)
    healthy.send_text("ping")
    harness.advance(0.1)
    received = healthy.messages()
    assert "pong" in received and any(isinstance(m, dict) and "data" in m for m in received)


def test_bad_checksum_spoils_the_next_update_only() -> None:
    harness = WsHarness()
    client = books_client(harness)
    book = OrderBook()
    (snapshot,) = [m for m in client.messages() if isinstance(m, dict) and "data" in m]
    book.apply("snapshot", snapshot["data"][0])
    harness.ws.add_fault("/ws/v5/public", "bad-checksum", count=1)
    harness.clock.advance(0.1)
    harness.flush()
    (spoiled,) = updates(client)
    with pytest.raises(Exception, match="checksum"):
        book.apply("update", spoiled)
    # The next updates are right again (rebuilt from a fresh snapshot by the client).
    book = OrderBook()
    client.send_json({"op": "subscribe", "args": [BOOKS]})
    harness.flush()
    (snapshot,) = [m for m in client.messages() if isinstance(m, dict) and "data" in m]
    book.apply("snapshot", snapshot["data"][0])
    harness.advance(1.5)
    for update in updates(client):
        book.apply("update", update)
    assert book.synced


def test_out_of_order_leaves_a_gap_in_seq_ids() -> None:
    harness = WsHarness()
    client = books_client(harness)
    (snapshot,) = [m for m in client.messages() if isinstance(m, dict) and "data" in m]
    last = snapshot["data"][0]["seqId"]
    harness.ws.add_fault("/ws/v5/public", "out-of-order", count=1)
    harness.advance(2.0)
    breaks = []
    for update in updates(client):
        if update["prevSeqId"] != last:
            breaks.append((last, update["prevSeqId"]))
        last = update["seqId"]
    assert len(breaks) == 1
    seen, claimed = breaks[0]
    assert claimed > seen  # the message names a seqId the client never received


def test_book_faults_wait_for_a_books_subscription() -> None:
    harness = WsHarness()
    harness.ws.add_fault("/ws/v5/public", "bad-checksum", count=2)
    assert harness.ws.faults.to_json() == [
        {"path": "/ws/v5/public", "mode": "bad-checksum", "count": 2, "delay_ms": 0}
    ]
    client = books_client(harness)
    client.messages()
    harness.clock.advance(0.1)
    harness.flush()
    assert harness.ws.faults.to_json() == []


@pytest.mark.parametrize(
    ("path", "mode", "count", "message"),
    [
        ("/ws/v5/nowhere", "stall", 1, "no WebSocket"),
            ("/ws/v5/private", "bad-checksum", 1, "unknown WebSocket fault mode"),
            ("/ws/v5/public", "lose-push", 1, "unknown WebSocket fault mode"),
            ("/ws/v5/private", "delay", 1, "delay_ms"),
        ("/ws/v5/public", "hang", 1, "unknown WebSocket fault mode"),
        ("/ws/v5/public", "stall", 0, "count"),
    ],
)
def test_bad_fault_requests_are_refused(path: str, mode: str, count: int, message: str) -> None:
    harness = WsHarness()
    with pytest.raises(ValueError, match=message):
        harness.ws.add_fault(path, mode, count)


def test_reset_forgets_faults_and_drops_stalled_sessions_only() -> None:
    harness = WsHarness()
    stalled = books_client(harness)
    harness.ws.add_fault("/ws/v5/public", "stall")
    healthy = books_client(harness)
    harness.ws.add_fault("/ws/v5/business", "out-of-order")
    harness.sim.reset()
    harness.flush()
    assert stalled.closed is not None and healthy.closed is None
    assert harness.ws.faults.to_json() == []


def test_faults_through_the_control_api() -> None:
    harness = WsHarness()
    client = books_client(harness)
    status, body = harness.control(
        "POST", "/_sim/faults", {"path": "/ws/v5/public", "mode": "stall"}
    )
    assert status == 200 and body["data"] == [
        {"path": "/ws/v5/public", "mode": "stall", "count": 1, "delay_ms": 0}
    ]
    assert harness.ws.sessions["/ws/v5/public"][0].stalled
    status, _ = harness.control(
        "POST", "/_sim/faults", {"path": "/ws/v5/public", "mode": "bad-checksum", "count": 3}
    )
    assert status == 200
    queued = {"path": "/ws/v5/public", "mode": "bad-checksum", "count": 3, "delay_ms": 0}
    assert harness.control("GET", "/_sim/faults")[1]["data"] == [queued]
    state = harness.control("GET", "/_sim/state")[1]
    assert queued in state["faults"]
    assert state["websocket"]["/ws/v5/public"][0]["stalled"] is True
    status, body = harness.control(
        "POST", "/_sim/faults", {"path": "/ws/v5/public", "mode": "http-500"}
    )
    assert status == 400 and "unknown WebSocket fault mode" in body["msg"]
    status, body = harness.control(
        "POST", "/_sim/faults", {"path": "/ws/v5/user", "mode": "stall"}
    )
    assert status == 400 and "no WebSocket" in body["msg"]
    harness.control("POST", "/_sim/faults", {"path": "/ws/v5/public", "mode": "disconnect"})
    harness.flush()
    assert client.closed is not None
