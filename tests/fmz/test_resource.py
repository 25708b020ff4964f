"""
The docker-facing resource through a real ``Site`` (``StubTreq``): the envelope for every
input, hostile or not, and the daemon keeps serving afterwards.
"""

from __future__ import annotations

from typing import Any

import pytest
from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from fmzokx.fmz.envelope import RpcError, RpcRequest
from fmzokx.fmz.registry import MethodRegistry, Param, RpcResult
from fmzokx.fmz.resource import RpcServer
from tests.helpers import drive, post_json

URL = "http://127.0.0.1:6666/OKX"
SECRET = "s3cr3t-value-never-shown"
PASSPHRASE = "pass-phrase-never-shown"
KEY = "key-value-never-shown"


class PublicError(Exception):
    """Stands in for an upstream error whose text is safe to show."""


def make_server(clock: Clock | None = None) -> tuple[RpcServer, StubTreq, Clock]:
    clock = clock or Clock()
    registry: MethodRegistry[Any] = MethodRegistry()

    @registry.method("echo", summary="Echo the params", params=[Param("x", "anything")])
    async def echo(context: Any, request: RpcRequest) -> RpcResult:
        return RpcResult(
            data={"method": request.method, "params": dict(request.params.values)},
            raw={"label": request.label, "nonce": request.nonce},
        )

    @registry.method("whoami", summary="Needs keys", private=True)
    async def whoami(context: Any, request: RpcRequest) -> RpcResult:
        credentials = request.require_credentials()
        return RpcResult(data={"simulated": credentials.simulated})

    @registry.method("boom", summary="Raises an unexpected error")
    async def boom(context: Any, request: RpcRequest) -> RpcResult:
        raise KeyError(SECRET)

    @registry.method("refuse", summary="Raises a public error")
    async def refuse(context: Any, request: RpcRequest) -> RpcResult:
        raise PublicError(f"OKX refused: 51008 insufficient balance ({SECRET})")

    @registry.method("amount", summary="Coerces a decimal")
    async def amount(context: Any, request: RpcRequest) -> RpcResult:
        return RpcResult(data=str(request.params.decimal("amount")))

    @registry.method("slow", summary="Answers after a second")
    async def slow(context: Any, request: RpcRequest) -> RpcResult:
        waiter: Deferred[None] = Deferred()
        clock.callLater(1, waiter.callback, None)
        await waiter
        return RpcResult(data="late")

    @registry.prefix("__api_", summary="pass-through", private=False)
    async def passthrough(context: Any, request: RpcRequest) -> RpcResult:
        return RpcResult(data={"path": request.method[6:], "verb": request.http_method})

    server = RpcServer(
        registry=registry, context=None, clock=clock, public_errors=(PublicError,)
    )
    return server, StubTreq(server.resource()), clock


def envelope(method: str = "echo", **params: Any) -> dict[str, Any]:
    return {
        "access_key": "",
        "secret_key": "",
        "method": method,
        "params": params,
        "nonce": 1730275031047002000,
    }


def test_success_envelope() -> None:
    """A valid call answers 200 JSON with data and raw."""
    _, stub, clock = make_server()
    status, headers, body = post_json(stub, URL, envelope(x="1"), clock=clock)
    assert status == 200
    assert headers["content-type"][0].startswith("application/json")
    assert body == {
        "data": {"method": "echo", "params": {"x": "1"}},
        "raw": {"label": "OKX", "nonce": 1730275031047002000},
    }


def test_reply_has_a_content_length() -> None:
    """The reply declares its length (one piece, not chunked)."""
    _, stub, clock = make_server()

    async def go() -> object:
        response = await stub.post(URL, json=envelope(x="1"))
        await stub.content(response)
        return response.length

    assert drive(go(), clock=clock, stubs=(stub,)) == len(
        b'{"data":{"method":"echo","params":{"x":"1"}},'
        b'"raw":{"label":"OKX","nonce":1730275031047002000}}'
    )


def test_method_names_are_case_insensitive() -> None:
    """``ECHO`` finds the ``echo`` handler."""
    _, stub, clock = make_server()
    _, _, body = post_json(stub, URL, envelope("ECHO"), clock=clock)
    assert body["data"]["method"] == "ECHO"


def test_unknown_method_lists_supported() -> None:
    """An unknown method names itself and every supported method."""
    _, stub, clock = make_server()
    status, _, body = post_json(stub, URL, envelope("GetTickerz"), clock=clock)
    assert status == 200
    assert body == {
        "error": "unsupported method: GetTickerz; supported: __api_<path>, amount, boom, "
        "echo, refuse, slow, whoami"
    }


def test_empty_registry_supports_nothing() -> None:
    """Before any handler is registered, every method is unsupported (no mock data)."""
    server = RpcServer(registry=MethodRegistry(), context=None, clock=Clock())
    stub = StubTreq(server.resource())
    _, _, body = post_json(stub, URL, envelope("ticker", symbol="BTC_USDT"))
    assert body == {"error": "unsupported method: ticker; supported: none yet"}


def test_passthrough_prefix_and_http_method_header() -> None:
    """``__api_`` methods reach the prefix handler with the Http-Method header."""
    _, stub, clock = make_server()
    _, _, body = post_json(
        stub,
        URL,
        envelope("__api_/api/v5/trade/orders_pending", instType="SPOT"),
        clock=clock,
        headers={b"Http-Method": [b"GET"]},
    )
    assert body["data"] == {"path": "/api/v5/trade/orders_pending", "verb": "GET"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "empty request body"),
        (b"   \n", "empty request body"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2, 3]", "must be a JSON object, got a list"),
        (b'"ticker"', "must be a JSON object, got 'ticker'"),
        (b"42", "must be a JSON object, got 42"),
        (b"null", "must be a JSON object, got null"),
        (b"[" * 200000 + b"]" * 200000, "nested too deeply"),
        (b'{"method": "echo", "params": {"a": ' + b"[" * 100000 + b"]" * 100000 + b"}}",
         "nested too deeply"),
        (b"\xff\xfe\xfa", "not valid UTF-8"),
        (b'{"method": "ec\xc3\x28ho"}', "not valid UTF-8"),
        (b'{"params": {}}', "field 'method' must be a non-empty string"),
        (b'{"method": 7}', "field 'method' must be a non-empty string"),
        (b'{"method": ""}', "field 'method' must be a non-empty string"),
        (b'{"method": "echo", "params": []}', "field 'params' must be a JSON object, got a list"),
        (b'{"method": "echo", "params": "a=1"}', "field 'params' must be a JSON object"),
        (b'{"method": "echo", "access_key": 5}', "field 'access_key' must be a string"),
        (b'{"method": "echo", "secret_key": ["a"]}', "field 'secret_key' must be a string"),
        (b'{"method": "echo", "nonce": "abc"}', "field 'nonce' must be an integer"),
        (b'{"method": "echo", "nonce": true}', "field 'nonce' must be an integer"),
        (b'{"method": "echo", "params": {"x": {"y": 1}}}',
         "param 'x' must be a string or number, got an object"),
        (b'{"method": "amount", "params": {"amount": "abc"}}',
         "param 'amount' must be a decimal number, got 'abc'"),
        (b'{"method": "amount", "params": {"amount": "NaN"}}', "must be a finite decimal"),
        (b'{"method": "amount", "params": {}}', "missing param 'amount'"),
        (b'{"method": "whoami"}', "method 'whoami' needs an OKX API key"),
    ],
)
def test_hostile_bodies_get_json_errors(body: bytes, expected: str) -> None:
    """Each malformed request gets a 200 JSON error naming the problem; serving goes on."""
    _, stub, clock = make_server()
    status, headers, reply = post_json(stub, URL, body, clock=clock)
    assert status == 200
    assert headers["content-type"][0].startswith("application/json")
    assert set(reply) == {"error"}
    assert expected in reply["error"]
    # The same server still answers a good call afterwards.
    _, _, after = post_json(stub, URL, envelope(x="2"), clock=clock)
    assert after["data"]["params"] == {"x": "2"}


@pytest.mark.parametrize("verb", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_verbs_get_405(verb: str) -> None:
    """Anything but POST on the RPC path is a 405 with a JSON error and an Allow header."""
    _, stub, clock = make_server()
    status, headers, body = post_json(stub, URL, b"", clock=clock, method=verb)
    assert status == 405
    assert headers["allow"] == ["POST"]
    assert "not allowed" in body["error"]


def test_oversized_body_gets_413() -> None:
    """A body past the cap is refused with 413 before any parsing."""
    server, stub, clock = make_server()
    server.max_body = 1000
    status, _, body = post_json(stub, URL, b"{" + b" " * 2000 + b"}", clock=clock)
    assert status == 413
    assert "1000-byte limit" in body["error"]
    status, _, _ = post_json(stub, URL, envelope(x="y" * 100), clock=clock)
    assert status == 200


def test_unknown_paths_get_json_404() -> None:
    """Paths with several segments are not RPC paths: JSON 404."""
    _, stub, clock = make_server()
    status, _, body = post_json(stub, "http://127.0.0.1:6666/a/b/c", envelope(), clock=clock)
    assert status == 404
    assert "error" in body


def test_root_path_serves_rpc() -> None:
    """A service address without a label (``http://host:6666``) works too."""
    _, stub, clock = make_server()
    _, _, body = post_json(stub, "http://127.0.0.1:6666/", envelope(x="1"), clock=clock)
    assert body["raw"]["label"] == ""


def test_a_final_slash_on_the_label_serves_rpc() -> None:
    """``http://host:6666/OKX/`` (a service address typed with a final /) is ``/OKX``."""
    _, stub, clock = make_server()
    status, _, body = post_json(
        stub, "http://127.0.0.1:6666/OKX/", envelope(x="1"), clock=clock
    )
    assert status == 200
    assert body["raw"]["label"] == "OKX"


def test_unexpected_errors_hide_details() -> None:
    """An unexpected exception answers 'internal error' without its text (which may hold data)."""
    _, stub, clock = make_server()
    _, _, body = post_json(stub, URL, envelope("boom"), clock=clock)
    assert body == {"error": "internal error in boom: KeyError"}


def test_public_errors_are_shown_and_scrubbed() -> None:
    """A public error's text reaches the docker, with any known secret masked."""
    _, stub, clock = make_server()
    request = envelope("refuse")
    request["access_key"] = KEY
    request["secret_key"] = f"{SECRET},{PASSPHRASE}"
    _, _, body = post_json(stub, URL, request, clock=clock)
    assert body["error"].startswith("OKX refused: 51008 insufficient balance")
    assert SECRET not in body["error"]
    assert "<redacted>" in body["error"]


def test_credentials_reach_handlers() -> None:
    """The secret_key's third part selects demo trading."""
    _, stub, clock = make_server()
    request = envelope("whoami")
    request["access_key"] = KEY
    request["secret_key"] = f"{SECRET},{PASSPHRASE},simulate"
    _, _, body = post_json(stub, URL, request, clock=clock)
    assert body["data"] == {"simulated": True}


def test_malformed_secret_key_does_not_echo_it() -> None:
    """A bad secret_key is refused with the expected form and none of its content."""
    _, stub, clock = make_server()
    request = envelope("whoami")
    request["access_key"] = KEY
    request["secret_key"] = f"{SECRET}"
    _, _, body = post_json(stub, URL, request, clock=clock)
    assert "SECRET,PASSPHRASE" in body["error"]
    assert SECRET not in body["error"] and KEY not in body["error"]


def test_numbers_accepted_for_params() -> None:
    """Params may be numbers as well as the docker's strings."""
    _, stub, clock = make_server()
    _, _, body = post_json(stub, URL, envelope("amount", amount=0.1), clock=clock)
    assert body["data"] == "0.1"
    _, _, body = post_json(stub, URL, envelope("amount", amount="0.10"), clock=clock)
    assert body["data"] == "0.10"


def test_healthz() -> None:
    """GET /healthz answers the health document as JSON."""
    server, stub, clock = make_server()
    server.health = lambda: {"status": "ok", "okx": {"reachable": True}}
    status, _, body = post_json(stub, "http://127.0.0.1:6666/healthz", b"", method="GET")
    assert status == 200
    assert body == {"status": "ok", "okx": {"reachable": True}, "rpc_in_flight": 0}


def test_healthz_unhealthy_is_503() -> None:
    """A degraded health document answers 503 so probes notice."""
    server, stub, clock = make_server()
    server.health = lambda: {"status": "degraded"}
    status, _, body = post_json(stub, "http://127.0.0.1:6666/healthz", b"", method="GET")
    assert status == 503
    assert body == {"status": "degraded", "rpc_in_flight": 0}


def test_drain_waits_for_inflight_and_refuses_new_calls() -> None:
    """At shutdown, in-flight calls finish; new ones get a clear error."""
    server, stub, clock = make_server()

    async def slow_call() -> Any:
        response = await stub.post(URL, json=envelope("slow"))
        return await stub.json_content(response)

    pending = drive_start(slow_call(), stub)
    assert server.inflight == 1
    drained = server.drain()
    assert not drained.called
    _, _, refused = post_json(stub, URL, envelope(), clock=None)
    assert "shutting down" in refused["error"]
    clock.advance(1)
    stub.flush()
    assert drained.called
    assert pending == [{"data": "late", "raw": None}]


def drive_start(work: Any, stub: StubTreq) -> list[Any]:
    from twisted.internet.defer import ensureDeferred

    results: list[Any] = []
    ensureDeferred(work).addBoth(results.append)
    stub.flush()
    return results


def test_rpc_error_status_default() -> None:
    """RpcError defaults to status 200 (the docker reads the error field)."""
    assert RpcError("x").status == 200


def test_drive_reports_unfinished_work() -> None:
    """The test helper fails loudly on work that never finishes."""
    with pytest.raises(AssertionError):
        drive(Deferred(), clock=Clock(), limit=1)
