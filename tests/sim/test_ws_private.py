"""
okxsim's private WebSocket: OKX's login and its errors, the demo environment, subscribing
before login, the channels' arguments, the connection-count events and OKX's limits;
a real autobahn client in memory on a fake clock.
"""

from __future__ import annotations

from typing import Any

import pytest

from fmzokx.sim import DEFAULT_ACCOUNT, SimSettings
from fmzokx.sim.ws.limits import OP_LIMIT, PER_CHANNEL_CONNECTIONS

from .private_support import (
    DEMO,
    OTHER,
    PRIVATE,
    PrivateHarness,
    data,
    events,
    login_message,
)

ACCOUNT = {"channel": "account"}


def error(messages: list[Any]) -> tuple[str, str]:
    (event,) = events(messages)
    assert event["event"] == "error", event
    return event["code"], event["msg"]


def test_login_with_okx_signature_is_answered_with_the_connection_id() -> None:
    harness = PrivateHarness()
    client = harness.connect()
    client.send_json({"id": "L1", **_login(harness)})
    harness.flush()
    assert client.messages() == [
        {"id": "L1", "event": "login", "code": "0", "msg": "", "connId": "00000001"}
    ]


def _login(harness: PrivateHarness) -> dict[str, Any]:
    return login_message(DEFAULT_ACCOUNT, harness.now_s())


@pytest.mark.parametrize(
    ("overrides", "code", "msg"),
    [
        ({"sign": "AAAA"}, "60007", "Invalid sign"),
        ({"passphrase": "nope"}, "60024", "Wrong passphrase"),
        ({"apiKey": "no-such-key"}, "60032", "API key doesn't exist."),
        ({"timestamp": "soon"}, "60004", "Invalid timestamp"),
        ({"apiKey": ""}, "60027", "Parameter apiKey can not be empty."),
        ({"sign": None}, "60027", "Parameter sign can not be empty."),
    ],
)
def test_a_bad_login_gets_okx_code(overrides: dict[str, Any], code: str, msg: str) -> None:
    harness = PrivateHarness()
    client = harness.connect()
    assert error(harness.login(client, **overrides)) == (code, msg)
    assert harness.ws.by_key == {}


def test_the_signature_covers_the_timestamp() -> None:
    harness = PrivateHarness()
    client = harness.connect()
    signed_now = _login(harness)["args"][0]["sign"]
    later = str(int(harness.now_s()) + 1)
    assert error(harness.login(client, timestamp=later, sign=signed_now)) == (
        "60007", "Invalid sign")


def test_timestamp_more_than_30_s_off_is_refused_and_29_s_is_not() -> None:
    harness = PrivateHarness()
    now = int(harness.now_s())
    assert error(harness.login(harness.connect(), timestamp=str(now - 31))) == (
        "60006", "Timestamp request expired")
    assert error(harness.login(harness.connect(), timestamp=str(now + 31))) == (
        "60004", "Invalid timestamp")
    (answer,) = harness.login(harness.connect(), timestamp=str(now - 29))
    assert answer["event"] == "login"


def test_the_login_window_follows_the_simulator_clock_offset() -> None:
    harness = PrivateHarness()
    own_clock = harness.now_s()
    harness.sim.set_clock_offset(-60_000)
    assert error(harness.login(harness.connect(), timestamp=own_clock))[0] == "60004"
    (answer,) = harness.login(harness.connect())
    assert answer["event"] == "login"


def test_a_refused_login_closes_the_connection_with_4001() -> None:
    harness = PrivateHarness()
    client = harness.connect()
    assert error(harness.login(client, passphrase="nope"))[0] == "60024"
    assert client.closed is not None and client.closed[1:] == (4001, "Login Failed")
    assert harness.ws.sessions[PRIVATE] == []


def test_with_login_failure_stay_the_connection_may_log_in_again() -> None:
    harness = PrivateHarness(settings=SimSettings(login_failure="stay"))
    client = harness.connect()
    assert error(harness.login(client, sign="AAAA"))[0] == "60007"
    assert client.closed is None
    assert harness.login(client)[0]["event"] == "login"


def test_a_malformed_login_does_not_close_the_connection() -> None:
    harness = PrivateHarness()
    client = harness.connect()
    assert error(harness.login(client, apiKey=""))[0] == "60027"
    assert client.closed is None
    assert harness.login(client)[0]["event"] == "login"


def test_login_twice_or_for_two_accounts_is_refused() -> None:
    harness = PrivateHarness()
    client = harness.connect()
    two = _login(harness)
    two["args"].append(dict(two["args"][0]))
    client.send_json(two)
    harness.flush()
    assert error(client.messages())[0] == "60021"
    assert harness.login(client)[0]["event"] == "login"
    assert error(harness.login(client, OTHER))[0] == "60031"


def test_login_args_must_be_a_list_of_objects_and_are_never_echoed() -> None:
    harness = PrivateHarness()
    client = harness.connect()
    client.send_json({"op": "login", "args": {"apiKey": "x", "passphrase": "secret-pass"}})
    harness.flush()
    assert error(client.messages()) == ("60012", "Invalid request")


def test_subscribe_before_login_is_refused_with_60011() -> None:
    harness = PrivateHarness()
    client = harness.connect()
    client.send_json({"id": "s1", "op": "subscribe", "args": [ACCOUNT]})
    harness.flush()
    (event,) = client.messages()
    assert event == {"id": "s1", "event": "error", "code": "60011", "msg": "Please log in",
                     "connId": "00000001"}


def test_channels_and_args_the_private_path_refuses() -> None:
    harness = PrivateHarness()
    client = harness.session()
    for arg, code in [
        ({"channel": "tickers", "instId": "BTC-USDT"}, "60018"),
        ({"channel": "positions"}, "60013"),
        ({"channel": "orders", "instType": "BOND"}, "60013"),
        ({"channel": "account", "extraParams": "{not json"}, "60012"),
    ]:
        client.send_json({"op": "subscribe", "args": [arg]})
        harness.flush()
        assert error(client.messages())[0] == code, arg


def test_private_channels_and_login_are_not_served_on_the_public_path() -> None:
    harness = PrivateHarness()
    client = harness.connect(path="/ws/v5/public")
    client.send_json({"op": "subscribe", "args": [ACCOUNT]})
    harness.flush()
    assert error(client.messages())[0] == "60018"
    client.send_json(_login(harness))
    harness.flush()
    assert error(client.messages())[0] == "60028"


def test_unsubscribe_is_acknowledged_and_ends_the_pushes() -> None:
    harness = PrivateHarness()
    client = harness.session(DEFAULT_ACCOUNT, ACCOUNT)
    client.send_json({"op": "unsubscribe", "args": [ACCOUNT]})
    harness.flush()
    assert events(client.messages()) == [
        {"event": "unsubscribe", "arg": ACCOUNT, "connId": "00000001"}
    ]
    client.send_text("ping")
    harness.advance(11.0, step=1.0)
    assert data(client.messages()) == []


def test_each_subscription_is_followed_by_the_channel_connection_count() -> None:
    harness = PrivateHarness()
    first = harness.session()
    first.send_json({"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]})
    harness.flush()
    assert events(first.messages()) == [
        {"event": "subscribe", "arg": {"channel": "orders", "instType": "ANY"},
         "connId": "00000001"},
        {"event": "channel-conn-count", "channel": "orders", "connCount": "1",
         "connId": "00000001"},
    ]
    second = harness.session()
    second.send_json({"op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP"}]})
    harness.flush()
    assert events(second.messages())[1]["connCount"] == "2"
    # Another account's connections are counted apart.
    other = harness.session(OTHER)
    other.send_json({"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]})
    harness.flush()
    assert events(other.messages())[1]["connCount"] == "1"


def test_beyond_30_connections_on_a_channel_the_subscription_is_ended() -> None:
    harness = PrivateHarness()
    orders = {"channel": "orders", "instType": "ANY"}
    for _ in range(PER_CHANNEL_CONNECTIONS):
        harness.session(DEFAULT_ACCOUNT, orders)
    extra = harness.session()
    extra.send_json({"op": "subscribe", "args": [orders]})
    harness.flush()
    ack, refusal = events(extra.messages())
    assert ack["event"] == "subscribe"
    assert refusal == {"event": "channel-conn-count-error", "channel": "orders",
                       "connCount": str(PER_CHANNEL_CONNECTIONS + 1), "connId": refusal["connId"]}
    harness.place(instId="BTC-USDT", tdMode="cash", side="buy", ordType="market", sz="10",
                  tgtCcy="quote_ccy")
    assert data(extra.messages()) == []


def test_login_and_subscribe_share_480_requests_an_hour() -> None:
    harness = PrivateHarness(rate_limits=True)
    client = harness.session()
    for _ in range(OP_LIMIT - 1):
        client.send_json({"op": "subscribe", "args": [{"channel": "balance_and_position"}]})
    harness.flush()
    client.messages()
    client.send_json({"op": "subscribe", "args": [ACCOUNT]})
    harness.flush()
    assert error(client.messages()) == ("60014", "Requests too frequent.")
    harness.advance(3600.0, step=20.0)


def test_connections_are_limited_to_3_a_second_per_ip() -> None:
    harness = PrivateHarness(rate_limits=True)
    clients = [harness.connect() for _ in range(4)]
    assert [c.opened for c in clients] == [True, True, True, False]
    harness.advance(1.0, step=1.0)
    assert harness.connect().opened


def test_client_idle_rule_closes_after_30_s_without_a_client_frame() -> None:
    """Regular account pushes do not keep it open; the client's ping does."""
    harness = PrivateHarness(settings=SimSettings(private_idle="client"))
    quiet = harness.session(DEFAULT_ACCOUNT, ACCOUNT)
    pinging = harness.session(DEFAULT_ACCOUNT, ACCOUNT)
    for _ in range(6):
        harness.advance(10.0, step=1.0)
        pinging.send_text("ping")
    assert quiet.closed is not None and quiet.closed[1] == 4004
    assert pinging.closed is None
    assert len(data(pinging.messages())) >= 10


def test_by_default_pushes_count_as_traffic_as_okx_keep_alive_advice_implies() -> None:
    """OKX: ping after N < 30 s without a message; a client receiving pushes never does."""
    harness = PrivateHarness()
    pushed = harness.session(DEFAULT_ACCOUNT, ACCOUNT)
    silent = harness.session(DEFAULT_ACCOUNT, {"channel": "orders", "instType": "ANY"})
    harness.advance(40.0, step=1.0)
    assert pushed.closed is None
    assert silent.closed is not None and silent.closed[1] == 4004


def test_a_demo_key_logs_in_anywhere_by_default() -> None:
    harness = PrivateHarness()
    assert harness.login(harness.connect(), DEMO)[0]["event"] == "login"


def test_demo_and_live_keys_by_host_as_okx() -> None:
    harness = PrivateHarness(settings=SimSettings(ws_environment="host"))
    mismatch = ("50101", "APIKey does not match current environment.")
    assert error(harness.login(harness.connect(), DEMO)) == mismatch
    assert harness.login(harness.connect("wspap.okx.com"), DEMO)[0]["event"] == "login"
    assert error(harness.login(harness.connect("wspap.okx.com"))) == mismatch
    assert harness.login(harness.connect("ws.okx.com"))[0]["event"] == "login"


def test_sim_state_shows_private_sessions() -> None:
    harness = PrivateHarness()
    harness.session(DEFAULT_ACCOUNT, ACCOUNT, {"channel": "orders", "instType": "SPOT"})
    harness.connect()
    logged_in, anonymous = harness.sim.state()["websocket"][PRIVATE]
    assert (logged_in["apiKey"], anonymous["apiKey"]) == (DEFAULT_ACCOUNT.key, None)
    assert anonymous["subscriptions"] == []
    assert logged_in["subscriptions"] == [
        {"channel": "account"}, {"channel": "orders", "instType": "SPOT"}
    ]


def test_ping_and_malformed_requests_before_login() -> None:
    harness = PrivateHarness()
    client = harness.connect()
    client.send_text("ping")
    harness.flush()
    assert client.messages() == ["pong"]
    client.send_text("hello")
    harness.flush()
    assert error(client.messages())[0] == "60012"
    client.send_json({"op": "order", "args": [{}]})
    harness.flush()
    assert error(client.messages())[0] == "60019"
    assert harness.login(client)[0]["event"] == "login"
