"""
Fault injection and the control API: each fault mode, fault counts and paths, latency,
and /_sim/faults, /_sim/reset, /_sim/state over HTTP.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived

from fmzokx.okx.signing import encode_body

from .support import Harness

ORDER = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "market", "sz": "100"}


def post_order(harness: Harness) -> list[Any]:
    """Start a signed order POST; return its outcome list (empty while unanswered)."""
    body = encode_body(ORDER)
    headers = harness.headers("POST", "/api/v5/trade/order", body)
    return harness.settle(harness.raw("POST", "/api/v5/trade/order", body, headers))


@pytest.mark.parametrize(
    "mode, status, code",
    [("http-500", 500, "50026"), ("http-503", 503, "50001"), ("rate-limit", 429, "50011")],
)
def test_error_modes_answer_without_doing_the_work(mode: str, status: int, code: str) -> None:
    """Gateway-error faults answer OKX-shaped errors and place no order."""
    harness = Harness()
    harness.sim.add_fault("/api/v5/trade/order", mode)
    got, body = harness.post("/api/v5/trade/order", ORDER)
    assert (got, body["code"], body["data"]) == (status, code, [])
    assert harness.sim.state()["orders"] == []
    got, body = harness.post("/api/v5/trade/order", ORDER)
    assert (got, body["code"]) == (200, "0")


def test_expired_timestamp_mode() -> None:
    """expired-timestamp answers a 401 50102 with only msg and code."""
    harness = Harness()
    harness.sim.add_fault("/api/v5/account/balance", "expired-timestamp")
    status, body = harness.get("/api/v5/account/balance")
    assert (status, body) == (401, {"msg": "Timestamp request expired", "code": "50102"})


def test_malformed_mode() -> None:
    """malformed answers 200 with a body that is not JSON."""
    harness = Harness()
    harness.sim.add_fault("/api/v5/public/time", "malformed")
    (result,) = harness.settle(harness.raw("GET", "/api/v5/public/time"))
    status, data = result
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(data)


def test_drop_after_commit_does_the_work_then_drops() -> None:
    """drop-after-commit places the order, then closes the connection without a reply."""
    harness = Harness()
    harness.sim.add_fault("/api/v5/trade/order", "drop-after-commit")
    outcome = post_order(harness)
    harness.stub.flush()
    assert len(outcome) == 1 and isinstance(outcome[0], Failure)
    assert outcome[0].check(ResponseFailed, ResponseNeverReceived)
    (order,) = harness.sim.state()["orders"]
    assert order["state"] == "filled"
    assert harness.sim.state()["requests"]["/api/v5/trade/order"] == 1


def test_hang_never_answers_and_does_nothing() -> None:
    """hang keeps the request open forever, even as time passes, and changes nothing."""
    harness = Harness()
    harness.sim.add_fault("/api/v5/trade/order", "hang")
    outcome = post_order(harness)
    harness.clock.advance(3600)
    harness.stub.flush()
    assert outcome == []
    assert harness.sim.state()["orders"] == []
    assert harness.sim.state()["requests"]["/api/v5/trade/order"] == 1


def test_delay_answers_later() -> None:
    """delay does the work at once but answers only after delay_ms of (fake) time."""
    harness = Harness()
    harness.sim.add_fault("/api/v5/trade/order", "delay", delay_ms=1500)
    outcome = post_order(harness)
    harness.clock.advance(1.4)
    harness.stub.flush()
    assert outcome == []
    assert len(harness.sim.state()["orders"]) == 1
    harness.clock.advance(0.2)
    harness.stub.flush()
    status, data = outcome[0]
    assert (status, json.loads(data)["code"]) == (200, "0")


def test_latency_delays_every_reply() -> None:
    """--latency holds every /api/v5 reply (errors included) for that long on the clock."""
    harness = Harness(latency_ms=250)
    arrival = str(int(harness.clock.seconds() * 1000))
    outcome = harness.settle(harness.raw("GET", "/api/v5/public/time"))
    failed = harness.settle(harness.raw("GET", "/api/v5/account/balance"))
    harness.clock.advance(0.249)
    harness.stub.flush()
    assert outcome == [] and failed == []
    harness.clock.advance(0.001)
    harness.stub.flush()
    status, data = outcome[0]
    assert status == 200
    assert json.loads(data)["data"][0]["ts"] == arrival
    assert failed[0][0] == 401


def test_count_and_path_matching() -> None:
    """A fault hits exactly count requests to its path; a trailing * matches a prefix;
    count -1 lasts until reset."""
    harness = Harness()
    harness.sim.add_fault("/api/v5/market/*", "http-503", count=2)
    assert harness.get("/api/v5/public/time", private=False)[0] == 200
    assert harness.get("/api/v5/market/ticker?instId=BTC-USDT", private=False)[0] == 503
    assert harness.get("/api/v5/market/books?instId=BTC-USDT", private=False)[0] == 503
    assert harness.get("/api/v5/market/books?instId=BTC-USDT", private=False)[0] == 200
    harness.sim.add_fault("/api/v5/public/time", "http-500", count=-1)
    for _ in range(5):
        assert harness.get("/api/v5/public/time", private=False)[0] == 500
    harness.sim.reset()
    assert harness.get("/api/v5/public/time", private=False)[0] == 200


def test_bad_faults_are_refused() -> None:
    """Unknown modes, relative paths and zero counts raise ValueError."""
    harness = Harness()
    for args in (("/x", "explode"), ("api/v5/x", "hang"), ("/x", "hang", 0)):
        with pytest.raises(ValueError):
            harness.sim.add_fault(*args)  # type: ignore[arg-type]


def control(harness: Harness, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
    body = None if payload is None else json.dumps(payload).encode()
    return harness.send(method, path, body, {"Content-Type": "application/json"})


def test_control_api_over_http() -> None:
    """POST /_sim/faults queues, GET /_sim/state reports, POST /_sim/reset restores."""
    harness = Harness()
    status, body = control(harness, "POST", "/_sim/faults",
                           {"path": "/api/v5/trade/order", "mode": "http-500", "count": 1})
    assert (status, body["code"]) == (200, "0")
    assert body["data"] == [{"path": "/api/v5/trade/order", "mode": "http-500", "count": 1,
                             "delay_ms": 0.0}]
    status, body = control(harness, "POST", "/_sim/faults", {"path": "/x", "mode": "boom"})
    assert (status, body["code"]) == (400, "51000")
    assert "unknown fault mode" in body["msg"]
    status, body = control(harness, "POST", "/_sim/faults", ["not", "an", "object"])
    assert status == 400
    status, state = control(harness, "GET", "/_sim/state")
    assert status == 200
    assert [f["mode"] for f in state["faults"]] == ["http-500"]
    assert harness.post("/api/v5/trade/order", ORDER)[0] == 500
    harness.placed(**ORDER)
    harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit", px="30000",
                   sz="0.01")
    _, state = control(harness, "GET", "/_sim/state")
    assert state["requests"]["/api/v5/trade/order"] == 3
    assert len(state["orders"]) == 2
    assert state["faults"] == []
    usdt = state["balances"]["okxsim-demo-key"]["USDT"]
    assert usdt["ordFrozen"] == "300"
    assert state["accounts"] == ["okxsim-demo-key"]
    status, body = control(harness, "POST", "/_sim/reset")
    assert (status, body["code"]) == (200, "0")
    _, state = control(harness, "GET", "/_sim/state")
    assert state["orders"] == [] and state["requests"] == {}
    assert state["balances"]["okxsim-demo-key"]["USDT"]["cashBal"] == "100000"
    assert state["positions"] == {"okxsim-demo-key": []}
