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

from fmzokx.okx.rest.signing import encode_body

from .support import START, Harness

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


def test_hold_does_the_work_only_when_the_request_arrives() -> None:
    """hold plays a request slow in transit: nothing happens (or is seen) until delay_ms."""
    harness = Harness()
    harness.sim.add_fault("/api/v5/trade/order", "hold", delay_ms=1500)
    outcome = post_order(harness)
    harness.clock.advance(1.4)
    harness.stub.flush()
    assert outcome == [] and harness.sim.state()["orders"] == []
    assert harness.sim.request_counts["/api/v5/trade/order"] == 0
    harness.clock.advance(0.2)
    harness.stub.flush()
    status, data = outcome[0]
    assert (status, json.loads(data)["code"]) == (200, "0")
    assert len(harness.sim.state()["orders"]) == 1
    assert harness.sim.request_counts["/api/v5/trade/order"] == 1


def test_held_request_is_handled_after_the_client_gives_up() -> None:
    """A request on the wire arrives whether or not its sender still waits for it."""
    harness = Harness()
    harness.sim.add_fault("/api/v5/trade/order", "hold", delay_ms=3000)
    body = encode_body(ORDER)
    sending = harness.raw("POST", "/api/v5/trade/order", body,
                          harness.headers("POST", "/api/v5/trade/order", body))
    outcome = harness.settle(sending)
    harness.clock.advance(1)
    sending.cancel()
    harness.stub.flush()
    assert len(outcome) == 1 and isinstance(outcome[0], Failure)
    harness.clock.advance(2.5)
    harness.stub.flush()
    assert len(harness.sim.state()["orders"]) == 1


def test_held_order_is_judged_on_arrival_against_its_exptime() -> None:
    """An order held past its expTime is refused (here configured as 50037) on arrival."""
    harness = Harness()
    harness.sim.configure(expired_code="50037")
    harness.sim.add_fault("/api/v5/trade/order", "hold", delay_ms=6000)
    body = encode_body(ORDER)
    headers = harness.headers("POST", "/api/v5/trade/order", body)
    headers["expTime"] = str(int((harness.clock.seconds() + 5) * 1000))
    outcome = harness.settle(harness.raw("POST", "/api/v5/trade/order", body, headers))
    harness.clock.advance(6)
    harness.stub.flush()
    status, data = outcome[0]
    assert json.loads(data)["code"] == "50037"
    assert harness.sim.state()["orders"] == []


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
                             "delay_ms": 0.0, "skip": 0}]
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


def test_reply_mode_answers_scripted_bytes_without_doing_the_work() -> None:
    """reply answers the scripted status, content type and bytes; nothing is placed."""
    harness = Harness()
    harness.sim.add_fault("/api/v5/trade/order", "reply", status=404,
                          body=b"<html>nope</html>", content_type="text/html")
    body = encode_body(ORDER)
    headers = harness.headers("POST", "/api/v5/trade/order", body)
    (response,) = harness.settle(harness.stub.request(
        "POST", "http://okxsim.test/api/v5/trade/order", headers=headers, data=body))
    (content,) = harness.settle(response.content())
    assert response.code == 404
    assert response.headers.getRawHeaders("content-type") == ["text/html"]
    assert content == b"<html>nope</html>"
    assert harness.sim.state()["orders"] == []
    assert harness.post("/api/v5/trade/order", ORDER)[1]["code"] == "0"


def test_reply_body_may_be_text_or_json() -> None:
    """A text body is sent as UTF-8; any other JSON value as compact JSON; status 200."""
    harness = Harness()
    harness.sim.add_fault("/api/v5/public/time", "reply",
                          body={"code": "50013", "msg": "Systems are busy", "data": []})
    harness.sim.add_fault("/api/v5/public/time", "reply", status=502, body="bad gateway €",
                          content_type="text/plain; charset=utf-8")
    (first,) = harness.settle(harness.raw("GET", "/api/v5/public/time"))
    (second,) = harness.settle(harness.raw("GET", "/api/v5/public/time"))
    assert first == (200, b'{"code":"50013","msg":"Systems are busy","data":[]}')
    assert second == (502, "bad gateway €".encode())
    assert harness.get("/api/v5/public/time", private=False)[0] == 200


def test_skip_lets_requests_through_before_the_fault_acts() -> None:
    """A fault with skip=2 leaves two requests alone and fails the third; faults for one
    path act in the order they were queued."""
    harness = Harness()
    harness.sim.add_fault("/api/v5/public/time", "http-503", skip=2)
    harness.sim.add_fault("/api/v5/public/time", "reply", status=429, body="later")
    statuses = [harness.raw_status("/api/v5/public/time") for _ in range(5)]
    assert statuses == [200, 200, 503, 429, 200]
    assert harness.sim.faults.to_json() == []


def start_get(harness: Harness, target: str) -> list[Any]:
    """Start an unsigned GET; the outcome list gets the response once headers arrive."""
    return harness.settle(harness.stub.request("GET", "http://okxsim.test" + target))


def test_stall_sends_half_the_body_then_nothing() -> None:
    """stall does the work and sends the status, the whole length and half the body, then
    keeps the rest back forever."""
    harness = Harness()
    harness.sim.add_fault("/api/v5/public/time", "stall")
    (response,) = start_get(harness, "/api/v5/public/time")
    assert response.code == 200
    full = json.dumps(
        {"code": "0", "msg": "", "data": [{"ts": str(int(START * 1000))}]},
        separators=(",", ":"),
    ).encode()
    assert response.length == len(full)
    received: list[bytes] = []
    done = harness.settle(response.collect(received.append))
    harness.clock.advance(3600)
    harness.stub.flush()
    assert done == []
    assert b"".join(received) == full[: len(full) // 2]


def test_stall_with_delay_sends_the_rest_later() -> None:
    """With delay_ms, a stall sends the rest of the body after that long: a slow body."""
    harness = Harness()
    harness.sim.add_fault("/api/v5/public/time", "stall", delay_ms=2000)
    (response,) = start_get(harness, "/api/v5/public/time")
    content = harness.settle(response.content())
    harness.clock.advance(1.999)
    harness.stub.flush()
    assert content == []
    harness.clock.advance(0.001)
    harness.stub.flush()
    assert json.loads(content[0])["data"] == [{"ts": str(int(START * 1000))}]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "http-500", "status": 502},
        {"mode": "hang", "body": "x"},
        {"mode": "reply", "status": 99},
        {"mode": "reply", "status": 600},
        {"mode": "reply", "content_type": "text/plain\r\nx-evil: 1"},
        {"mode": "reply", "content_type": ""},
        {"mode": "reply", "body": {1, 2}},
        {"mode": "delay", "skip": -1},
    ],
)
def test_bad_reply_and_skip_fields_are_refused(kwargs: dict[str, Any]) -> None:
    """Reply fields on other modes, bad statuses, content types or bodies, negative skip."""
    harness = Harness()
    with pytest.raises(ValueError):
        harness.sim.add_fault("/api/v5/public/time", **kwargs)
    assert harness.sim.faults.to_json() == []


def test_reply_fault_over_the_control_api() -> None:
    """POST /_sim/faults takes skip, status, content_type and body, and shows them back."""
    harness = Harness()
    status, body = control(harness, "POST", "/_sim/faults", {
        "path": "/api/v5/market/ticker", "mode": "reply", "status": 503, "skip": 1,
        "content_type": "text/plain", "body": "busy",
    })
    assert (status, body["code"]) == (200, "0")
    assert body["data"] == [{
        "path": "/api/v5/market/ticker", "mode": "reply", "count": 1, "delay_ms": 0.0,
        "skip": 1, "status": 503, "content_type": "text/plain", "body": "busy",
    }]
    target = "/api/v5/market/ticker?instId=BTC-USDT"
    assert harness.raw_status(target) == 200
    (answer,) = harness.settle(harness.raw("GET", target))
    assert answer == (503, b"busy")
    for bad in ({"path": "/x", "mode": "reply", "status": "503"},
                {"path": "/x", "mode": "reply", "content_type": 1},
                {"path": "/x", "mode": "hang", "skip": 1.5},
                {"path": "/x", "mode": "hang", "count": True}):
        status, body = control(harness, "POST", "/_sim/faults", bad)
        assert (status, body["code"]) == (400, "51000"), bad


def raw_answer(harness: Harness, payload: Any = ORDER) -> tuple[int, str, bytes]:
    """A signed order POST: its status, content type and body bytes."""
    body = encode_body(payload)
    headers = harness.headers("POST", "/api/v5/trade/order", body)
    (response,) = harness.settle(harness.stub.request(
        "POST", "http://okxsim.test/api/v5/trade/order", headers=headers, data=body))
    (content,) = harness.settle(response.content())
    (ctype,) = response.headers.getRawHeaders("content-type")
    return response.code, ctype, content


@pytest.mark.parametrize("commit", [False, True])
def test_html_mode_sends_an_edge_page(commit: bool) -> None:
    """html answers a CDN's error page (403 unless told) -- with commit, after placing."""
    harness = Harness()
    harness.sim.add_fault("/api/v5/trade/order", "html", commit=commit)
    status, ctype, content = raw_answer(harness)
    assert (status, ctype) == (403, "text/html")
    assert content.startswith(b"<!DOCTYPE html>") and b"403" in content
    assert len(harness.sim.state()["orders"]) == (1 if commit else 0)
    harness.sim.add_fault("/api/v5/trade/order", "html", status=502)
    assert raw_answer(harness)[0] == 502


def test_empty_mode_sends_no_body() -> None:
    """empty answers a bodiless 429 by default (an edge's rate limit), any status if told."""
    harness = Harness()
    harness.sim.add_fault("/api/v5/trade/order", "empty")
    harness.sim.add_fault("/api/v5/trade/order", "empty", status=200)
    assert raw_answer(harness) == (429, "application/json", b"")
    assert raw_answer(harness) == (200, "application/json", b"")
    assert harness.sim.state()["orders"] == []


@pytest.mark.parametrize(
    ("mode", "status", "code"),
    [("busy-50004", 400, "50004"), ("busy-50013", 429, "50013"),
     ("timeout-51054", 500, "51054")],
)
@pytest.mark.parametrize("commit", [False, True])
def test_busy_modes_answer_okx_codes(mode: str, status: int, code: str, commit: bool) -> None:
    """The codes OKX answers when busy or timed out, with OKX's HTTP status for each."""
    harness = Harness()
    harness.sim.add_fault("/api/v5/trade/order", mode, commit=commit)
    got, body = harness.post("/api/v5/trade/order", ORDER)
    assert (got, body["code"], body["data"]) == (status, code, [])
    assert body["msg"]
    assert len(harness.sim.state()["orders"]) == (1 if commit else 0)


@pytest.mark.parametrize("commit", [False, True])
def test_order_timeout_mode_answers_per_item(commit: bool) -> None:
    """order-timeout-51149 answers each order with sCode 51149 (HTTP 500, code 1)."""
    harness = Harness()
    harness.sim.add_fault("/api/v5/trade/order", "order-timeout-51149", commit=commit)
    got, body = harness.post("/api/v5/trade/order", dict(ORDER, clOrdId="t1"))
    assert (got, body["code"]) == (500, "1")
    (item,) = body["data"]
    assert (item["clOrdId"], item["ordId"], item["sCode"]) == ("t1", "", "51149")
    orders = harness.sim.state()["orders"]
    assert [o["clOrdId"] for o in orders] == (["t1"] if commit else [])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "rate-limit", "commit": True},
        {"mode": "expired-timestamp", "commit": True},
        {"mode": "hang", "commit": True},
        {"mode": "html", "body": "x"},
        {"mode": "empty", "content_type": "text/plain"},
        {"mode": "http-503", "status": 500},
        {"mode": "html", "commit": "yes"},
    ],
)
def test_commit_and_status_only_where_they_mean_something(kwargs: dict[str, Any]) -> None:
    """commit on modes that promise nothing was done, or reply fields elsewhere: refused."""
    harness = Harness()
    with pytest.raises(ValueError):
        harness.sim.add_fault("/api/v5/trade/order", **kwargs)


def test_named_modes_over_the_control_api() -> None:
    """POST /_sim/faults takes commit and status for the named modes and shows them."""
    harness = Harness()
    status, body = control(harness, "POST", "/_sim/faults", {
        "path": "/api/v5/trade/order", "mode": "html", "status": 503, "commit": True})
    assert (status, body["data"]) == (200, [{
        "path": "/api/v5/trade/order", "mode": "html", "count": 1, "delay_ms": 0.0,
        "skip": 0, "status": 503, "commit": True}])
    assert raw_answer(harness)[0] == 503
    assert len(harness.sim.state()["orders"]) == 1
