"""
okxsim's private WebSocket faults, driven through the control API as a test of the
daemon would: drop, stall, a lost push, late pushes, pushes out of order, a refused login.
"""

from __future__ import annotations

import json
from typing import Any

from fmzokx.sim import DEFAULT_ACCOUNT

from .private_support import OTHER, PRIVATE, PrivateHarness, data, events

ORDERS = {"channel": "orders", "instType": "ANY"}


def fault(harness: PrivateHarness, **spec: Any) -> dict[str, Any]:
    status, body = harness.control("POST", "/_sim/faults", {"path": PRIVATE, **spec})
    assert status == 200, body
    applied: dict[str, Any] = body["data"][0]
    return applied


def order_states(harness: PrivateHarness, client: Any) -> list[tuple[str, str]]:
    return [(m["data"][0]["clOrdId"], m["data"][0]["state"])
            for m in data(client.messages()) if m["arg"]["channel"] == "orders"]


def rest(harness: PrivateHarness, n: int) -> None:
    """Place resting order ``n`` (clOrdId ``o<n>``): exactly one ``orders`` push."""
    harness.place(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                  px=str(50000 + n), sz="0.01", clOrdId=f"o{n}")


def test_disconnect_drops_private_sessions_only() -> None:
    harness = PrivateHarness()
    private = [harness.session(DEFAULT_ACCOUNT, ORDERS) for _ in range(2)]
    public = harness.connect(path="/ws/v5/public")
    fault(harness, mode="disconnect")
    harness.flush()
    assert all(c.closed is not None and c.closed[0] is False for c in private)
    assert public.closed is None
    assert harness.ws.sessions[PRIVATE] == [] and harness.ws.by_key == {}
    fresh = harness.session(DEFAULT_ACCOUNT, ORDERS)
    rest(harness, 1)
    assert order_states(harness, fresh) == [("o1", "live")]


def test_stall_keeps_the_socket_but_sends_nothing() -> None:
    harness = PrivateHarness()
    stalled = harness.session(DEFAULT_ACCOUNT, ORDERS)
    fault(harness, mode="stall")
    rest(harness, 1)
    stalled.send_text("ping")
    harness.advance(40.0, step=1.0)
    assert stalled.messages() == [] and stalled.closed is None
    healthy = harness.session(DEFAULT_ACCOUNT, ORDERS)
    rest(harness, 2)
    healthy.send_text("ping")
    harness.flush()
    assert healthy.messages()[-1] == "pong"
    assert harness.sim.state()["websocket"][PRIVATE][0]["stalled"] is True


def test_lose_push_loses_exactly_the_next_push() -> None:
    harness = PrivateHarness()
    client = harness.session(DEFAULT_ACCOUNT, ORDERS)
    assert fault(harness, mode="lose-push", count=1) == {
        "path": PRIVATE, "mode": "lose-push", "count": 1, "delay_ms": 0}
    for n in (1, 2, 3):
        rest(harness, n)
    assert order_states(harness, client) == [("o2", "live"), ("o3", "live")]
    client.send_text("ping")
    harness.flush()
    assert client.messages() == ["pong"]  # acknowledgements and pong are never lost


def test_delay_sends_pushes_late_and_later_pushes_overtake_them() -> None:
    harness = PrivateHarness()
    client = harness.session(DEFAULT_ACCOUNT, ORDERS)
    fault(harness, mode="delay", count=1, delay_ms=1500)
    rest(harness, 1)
    rest(harness, 2)
    assert order_states(harness, client) == [("o2", "live")]
    harness.advance(1.4)
    assert order_states(harness, client) == []
    harness.advance(0.2)
    assert order_states(harness, client) == [("o1", "live")]


def test_out_of_order_holds_a_push_until_the_next_one() -> None:
    harness = PrivateHarness()
    client = harness.session(DEFAULT_ACCOUNT, ORDERS)
    fault(harness, mode="out-of-order", count=1)
    rest(harness, 1)
    assert order_states(harness, client) == []
    rest(harness, 2)
    rest(harness, 3)
    assert order_states(harness, client) == [("o2", "live"), ("o1", "live"), ("o3", "live")]


def test_refuse_login_fails_the_next_login_only() -> None:
    harness = PrivateHarness()
    fault(harness, mode="refuse-login")
    client = harness.connect()
    (refused,) = events(harness.login(client))
    assert (refused["event"], refused["code"], refused["msg"]) == (
        "error", "60009", "Login failed.")
    assert client.closed is not None and client.closed[1] == 4001
    (accepted,) = harness.login(harness.connect())
    assert accepted["event"] == "login"


def test_queued_faults_show_in_the_control_api_and_reset_clears_them() -> None:
    harness = PrivateHarness()
    fault(harness, mode="delay", count=2, delay_ms=250)
    fault(harness, mode="refuse-login", count=3)
    shown = harness.control("GET", "/_sim/faults")[1]["data"]
    assert shown == [
        {"path": PRIVATE, "mode": "delay", "count": 2, "delay_ms": 250.0},
        {"path": PRIVATE, "mode": "refuse-login", "count": 3, "delay_ms": 0},
    ]
    harness.sim.reset()
    assert harness.sim.state()["faults"] == []


def test_bad_private_fault_requests_are_refused() -> None:
    harness = PrivateHarness()
    for spec in ({"mode": "bad-checksum"}, {"mode": "delay"}, {"mode": "lose-push", "count": 0}):
        status, body = harness.control("POST", "/_sim/faults", {"path": PRIVATE, **spec})
        assert status == 400, (spec, json.dumps(body))


def test_a_fault_for_one_api_key_spares_the_others() -> None:
    harness = PrivateHarness()
    mine = harness.session(DEFAULT_ACCOUNT, ORDERS)
    theirs = harness.session(OTHER, ORDERS)
    assert fault(harness, mode="lose-push", apiKey=OTHER.key)["apiKey"] == OTHER.key
    rest(harness, 1)
    harness.place(OTHER, instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                  px="50000", sz="0.01", clOrdId="t1")
    harness.place(OTHER, instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                  px="50000", sz="0.01", clOrdId="t2")
    assert order_states(harness, mine) == [("o1", "live")]
    assert order_states(harness, theirs) == [("t2", "live")]
    fault(harness, mode="disconnect", apiKey=OTHER.key)
    harness.flush()
    assert theirs.closed is not None and mine.closed is None


def test_a_login_refused_for_one_key_only() -> None:
    harness = PrivateHarness()
    fault(harness, mode="refuse-login", count=100, apiKey=OTHER.key)
    refused = harness.connect()
    assert events(harness.login(refused, OTHER))[0]["code"] == "60009"
    assert harness.login(harness.connect())[0]["event"] == "login"
    assert harness.control("GET", "/_sim/faults")[1]["data"] == [
        {"path": PRIVATE, "mode": "refuse-login", "count": 99, "delay_ms": 0,
         "apiKey": OTHER.key}]
    status, _ = harness.control("POST", "/_sim/faults", {
        "path": "/ws/v5/public", "mode": "stall", "apiKey": OTHER.key})
    assert status == 400


def test_a_reset_drops_private_sessions_whose_account_jumped_back() -> None:
    harness = PrivateHarness()
    private = harness.session(DEFAULT_ACCOUNT, ORDERS)
    public = harness.connect(path="/ws/v5/public")
    harness.control("POST", "/_sim/reset")
    harness.flush()
    assert private.closed is not None and public.closed is None
    assert harness.ws.by_key == {}
