"""
okxsim's WebSocket message protocol: acknowledgements, OKX's error codes, ping/pong, the
30 s idle rule and OKX's connection and request limits; in memory on a fake clock.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fmzokx.sim.ws.protocol import OP_LIMIT

from .ws_support import WsHarness

BTC = {"channel": "tickers", "instId": "BTC-USDT"}


def events(messages: list[Any]) -> list[dict[str, Any]]:
    return [m for m in messages if isinstance(m, dict) and "event" in m]


def test_ping_pong() -> None:
    harness = WsHarness()
    client, _ = harness.connect()
    client.send_text("ping")
    harness.flush()
    assert client.messages() == ["pong"]


def test_subscribe_is_acknowledged_per_arg_with_the_request_id_then_pushed() -> None:
    harness = WsHarness(ws_cadence="tick")
    client, _ = harness.connect()
    books = {"channel": "books", "instId": "ETH-USDT"}
    client.send_json({"id": "req7", "op": "subscribe", "args": [BTC, books]})
    harness.flush()
    messages = client.messages()
    assert messages[0] == {"id": "req7", "event": "subscribe", "arg": BTC, "connId": "00000001"}
    assert messages[1]["arg"] == BTC and messages[1]["data"][0]["instId"] == "BTC-USDT"
    assert messages[2] == {"id": "req7", "event": "subscribe", "arg": books,
                           "connId": "00000001"}
    assert messages[3]["action"] == "snapshot" and messages[3]["arg"] == books
    harness.advance(0.1)
    pushed = client.messages()
    assert {json.dumps(m["arg"]) for m in pushed} == {json.dumps(BTC), json.dumps(books)}


def test_unsubscribe_is_acknowledged_and_stops_the_pushes() -> None:
    harness = WsHarness()
    client, _ = harness.connect()
    client.send_json({"op": "subscribe", "args": [BTC]})
    harness.flush()
    client.send_json({"op": "unsubscribe", "args": [BTC]})
    harness.flush()
    assert events(client.messages())[-1] == {"event": "unsubscribe", "arg": BTC,
                                             "connId": "00000001"}
    harness.advance(1.0)
    assert client.messages() == []


@pytest.mark.parametrize(
    ("request_text", "code"),
    [
        ("not json", "60012"),
        ('["op"]', "60012"),
        ('{"args": [{"channel": "tickers", "instId": "BTC-USDT"}]}', "60012"),
        ('{"op": "subscribe"}', "60012"),
        ('{"op": "subscribe", "argss": [{"channel": "tickers", "instId": "BTC-USDT"}]}',
         "60012"),
        ('{"op": "subscribe", "args": []}', "60012"),
        ('{"op": "subscribe", "args": ["tickers"]}', "60012"),
        ('{"op": "unsubscribe", "args": [{"channel": 5}]}', "60012"),
        ('{"op": "subscrib", "args": [{"channel": "tickers", "instId": "BTC-USDT"}]}',
         "60019"),
        ('{"op": "login", "args": [{}]}', "60028"),
        ('{"op": "subscribe", "args": [{"channel": "tickerz", "instId": "BTC-USDT"}]}',
         "60018"),
        ('{"op": "subscribe", "args": [{"channel": "tickers", "instId": "NOPE-USDT"}]}',
         "60018"),
        ('{"op": "subscribe", "args": [{"channel": "tickers"}]}', "60018"),
        ('{"op": "subscribe", "args": [{"channel": "candle1m", "instId": "BTC-USDT"}]}',
         "60018"),
    ],
)
def test_bad_requests_get_okx_error_events(request_text: str, code: str) -> None:
    harness = WsHarness()
    client, _ = harness.connect()
    client.send_text(request_text)
    harness.flush()
    (error,) = client.messages()
    assert error["event"] == "error" and error["code"] == code
    assert error["connId"] == "00000001" and error["msg"]
    harness.advance(0.5)
    assert client.messages() == []  # nothing was subscribed


def test_wrong_channel_error_names_channel_and_instrument_as_okx_does() -> None:
    harness = WsHarness()
    client, _ = harness.connect("/ws/v5/business")
    client.send_json({"id": "9", "op": "subscribe", "args": [BTC]})
    harness.flush()
    (error,) = client.messages()
    assert error["id"] == "9"
    assert error["msg"].startswith("Wrong URL or channel:tickers,instId:BTC-USDT doesn't exist")


def test_one_bad_arg_does_not_spoil_the_others() -> None:
    harness = WsHarness()
    client, _ = harness.connect()
    bad = {"channel": "tickers", "instId": "NOPE-USDT"}
    client.send_json({"op": "subscribe", "args": [bad, BTC]})
    harness.flush()
    kinds = [m.get("event", "push") for m in client.messages()]
    assert kinds == ["error", "subscribe", "push"]


def test_idle_connections_are_closed_after_30_seconds() -> None:
    harness = WsHarness()
    client, _ = harness.connect()
    harness.advance(29.5, step=0.5)
    assert client.closed is None
    client.send_text("ping")  # traffic restarts the 30 s
    harness.flush()
    harness.advance(29.5, step=0.5)
    assert client.closed is None
    harness.advance(1.0, step=0.5)
    assert client.closed is not None and client.closed[1] == 4004
    assert client.closed[2] == "No data received in 30s"
    assert harness.ws.sessions["/ws/v5/public"] == []


def test_pushed_data_keeps_a_connection_alive() -> None:
    harness = WsHarness()
    client, _ = harness.connect()
    client.send_json({"op": "subscribe", "args": [BTC]})
    harness.advance(60.0, step=1.0)
    assert client.closed is None


def test_connection_limit_is_three_a_second_per_ip() -> None:
    harness = WsHarness(rate_limits=True)
    clients = [harness.connect()[0] for _ in range(3)]
    assert all(c.opened for c in clients)
    refused, _ = harness.connect()
    assert not refused.opened and refused.closed is not None
    assert "[429]" in str(refused.closed[2])
    other_ip, _ = harness.connect(host="10.0.0.2")
    assert other_ip.opened
    harness.advance(1.05)
    again, _ = harness.connect()
    assert again.opened


def test_no_connection_limit_when_rate_limits_are_off() -> None:
    harness = WsHarness(rate_limits=False)
    assert all(harness.connect()[0].opened for _ in range(6))


def test_request_limit_is_480_an_hour_per_connection() -> None:
    harness = WsHarness(rate_limits=True)
    client, _ = harness.connect()
    for _ in range(OP_LIMIT):
        client.send_json({"op": "unsubscribe", "args": [BTC]})
    harness.flush()
    assert len(events(client.messages())) == OP_LIMIT
    client.send_json({"op": "subscribe", "args": [BTC]})
    harness.flush()
    (error,) = client.messages()
    assert error["code"] == "60014"
    client.send_text("ping")  # ping is not a request
    harness.flush()
    assert client.messages() == ["pong"]
    fresh, _ = harness.connect(host="10.0.0.3")
    fresh.send_json({"op": "subscribe", "args": [BTC]})
    harness.flush()
    assert events(fresh.messages())[0]["event"] == "subscribe"


def test_rest_still_works_on_the_same_resource() -> None:
    harness = WsHarness()
    (ticker,) = harness.rest("/api/v5/market/ticker?instId=BTC-USDT")
    assert ticker["instId"] == "BTC-USDT"


def test_state_lists_sessions_and_subscriptions() -> None:
    harness = WsHarness()
    client, _ = harness.connect()
    client.send_json({"op": "subscribe", "args": [BTC]})
    harness.flush()
    assert harness.ws.state()["/ws/v5/public"] == [
        {"connId": "00000001", "stalled": False, "subscriptions": [BTC]}
    ]
