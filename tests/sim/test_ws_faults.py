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
    harness = WsHarness(ws_cadence="tick", ws_checksum="crc32")
    public = [books_client(harness) for _ in range(2)]
    business, _ = harness.connect("/ws/v5/business")
    harness.ws.add_fault("/ws/v5/public", "disconnect")
    harness.flush()
    assert all(c.closed is not None and c.closed[0] is False for c in public)
    assert business.closed is None
    assert harness.ws.sessions["/ws/v5/public"] == []
    assert books_client(harness).opened  # a new connection is served


def test_stall_keeps_the_connection_but_sends_nothing() -> None:
    harness = WsHarness(ws_cadence="tick", ws_checksum="crc32")
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
    harness = WsHarness(ws_cadence="tick", ws_checksum="crc32")
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
    harness = WsHarness(ws_cadence="tick", ws_checksum="crc32")
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
    harness = WsHarness(ws_cadence="tick", ws_checksum="crc32")
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
    harness = WsHarness(ws_cadence="tick", ws_checksum="crc32")
    with pytest.raises(ValueError, match=message):
        harness.ws.add_fault(path, mode, count)


def test_reset_forgets_faults_and_drops_stalled_sessions_only() -> None:
    harness = WsHarness(ws_cadence="tick", ws_checksum="crc32")
    stalled = books_client(harness)
    harness.ws.add_fault("/ws/v5/public", "stall")
    healthy = books_client(harness)
    harness.ws.add_fault("/ws/v5/business", "out-of-order")
    harness.sim.reset()
    harness.flush()
    assert stalled.closed is not None and healthy.closed is None
    assert harness.ws.faults.to_json() == []


def test_faults_through_the_control_api() -> None:
    harness = WsHarness(ws_cadence="tick", ws_checksum="crc32")
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


def test_seq_reset_restarts_seq_id_low_chained_by_prev_seq_id() -> None:
    harness = WsHarness()
    client = books_client(harness)
    book = OrderBook()
    (snapshot,) = updates(client)
    book.apply("snapshot", snapshot)
    harness.ws.add_fault("/ws/v5/public", "seq-reset")
    seen = []
    for _ in range(3):
        harness.advance(1.0)
        for update in updates(client):
            book.apply("update", update)
            seen.append(update)
    assert seen[0]["prevSeqId"] == snapshot["seqId"] and seen[0]["seqId"] == 1
    assert [u["seqId"] for u in seen] == [1, 2, 3]
    assert all(u["checksum"] == 0 for u in seen)
    (rest,) = harness.rest("/api/v5/market/books?instId=BTC-USDT&sz=400")
    mine = book.levels(400)
    assert (mine["asks"], mine["bids"]) == (rest["asks"], rest["bids"])


def test_notice_announces_the_upgrade_then_closes_30_s_later() -> None:
    harness = WsHarness()
    client = books_client(harness)
    client.messages()
    harness.ws.add_fault("/ws/v5/public", "notice")
    harness.flush()
    (notice,) = [m for m in client.messages() if m != "pong" and "event" in m]
    assert notice["event"] == "notice" and notice["code"] == "64008"
    for _ in range(2):
        client.send_text("ping")
        harness.advance(14.0, step=1.0)
    assert client.closed is None
    harness.advance(2.5, step=0.5)
    assert client.closed is not None and client.closed[1] == 1000


def test_buffer_full_closes_with_4005() -> None:
    harness = WsHarness()
    client = books_client(harness)
    harness.ws.add_fault("/ws/v5/public", "buffer-full")
    harness.advance(0.5)
    assert client.closed is not None and client.closed[1] == 4005


@pytest.mark.parametrize(
    ("settings", "code"), [({"ws_channel_cap": 3}, 4008), ({"ws_depth_cap": 2}, 4009)]
)
def test_one_channel_over_the_cap_closes_the_connection(
    settings: dict[str, int], code: int
) -> None:
    harness = WsHarness(**settings)
    client, _ = harness.connect()
    args = [{"channel": "books", "instId": inst} for inst in ("BTC-USDT", "ETH-USDT")]
    args.append({"channel": "tickers", "instId": "BTC-USDT"})
    client.send_json({"op": "subscribe", "args": args})
    harness.advance(0.5)
    assert client.closed is None
    client.send_json({"op": "subscribe", "args": [{"channel": "books", "instId": "SOL-USDT"}]})
    harness.advance(0.5)
    assert client.closed is not None and client.closed[1] == code


@pytest.mark.parametrize(
    "change",
    [{"ws_cadence": "fast"}, {"ws_checksum": "md5"}, {"ws_channel_cap": -1},
     {"ws_depth_cap": True}, {"ws_channel_cap": 10_001}],
)
def test_websocket_settings_refuse_bad_values(change: dict[str, object]) -> None:
    harness = WsHarness()
    with pytest.raises(ValueError):
        harness.sim.configure(**change)
    assert harness.sim.settings.ws_cadence == "okx" and harness.sim.settings.ws_channel_cap == 0
