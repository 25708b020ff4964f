"""
No secret anywhere it should not be: the whole RPC surface at debug level, every log
event and every reply grepped for the key, secret, passphrase and every signature sent;
plus access control (403 before anything reaches OKX) and /metrics.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from twisted.logger import formatEvent

import fmzokx.okx.rest.request as request_module
from fmzokx.fmz.access import AccessPolicy, parse_allow
from fmzokx.fmz.methods import default_registry
from fmzokx.metrics import Metrics, known_methods
from fmzokx.sim import SimAccount
from tests.stack import Stack

KEY = "sec-test-key-8f2b6c1e"
SECRET = "SEC-TEST-SECRET-0A1B2C3D4E5F"
PASSPHRASE = "sec-test-passphrase-77"
TOKEN = "tok_9f8e7d6c5b4a3210zz"
OWN_KEY = "5c0ffee1-9d2a-4b7e-8f31-2a6c9e0d7b14"
OWN_SECRET = "7F3A9C2E5B1D8046E2C4A6F8B0D1E3F5"
OWN_PASSPHRASE = "Qz7-Hk2m-Wp9x"


def secret_stack() -> Stack:
    account = SimAccount(key=KEY, secret=SECRET, passphrase=PASSPHRASE)
    return Stack(accounts=(account,))


def test_whole_surface_leaks_nothing(
    captured: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every method, ok and failing, at debug level: no credential or signature escapes."""
    signatures: list[str] = []
    real_sign = request_module.sign

    def recording_sign(*args: Any, **kwargs: Any) -> str:
        signature = real_sign(*args, **kwargs)
        signatures.append(signature)
        return signature

    monkeypatch.setattr(request_module, "sign", recording_sign)
    stack = secret_stack()
    good = f"{SECRET},{PASSPHRASE}"
    calls: list[tuple[str, dict[str, str], str]] = [
        ("ticker", {"symbol": "BTC_USDT"}, good),
        ("depth", {"symbol": "BTC_USDT", "limit": "5"}, good),
        ("trades", {"symbol": "BTC_USDT"}, good),
        ("records", {"symbol": "BTC_USDT", "period": "60", "limit": "5"}, good),
        ("markets", {"symbol": "BTC_USDT"}, good),
        ("tickers", {"symbol": "USDT.swap"}, good),
        ("accounts", {}, good),
        ("assets", {}, good),
        ("trade", {"symbol": "BTC_USDT", "type": "buy", "price": "-1", "amount": "20"}, good),
        ("trade", {"symbol": "BTC_USDT", "type": "buy", "price": "1", "amount": "1e9"}, good),
        ("orders", {"symbol": "BTC_USDT"}, good),
        ("historyorders", {"symbol": "BTC_USDT"}, good),
        ("order", {"id": "BTC-USDT,1"}, good),
        ("cancel", {"id": "BTC-USDT,1"}, good),
        ("positions", {}, good),
        ("setmarginlevel", {"symbol": "BTC_USDT.swap", "margin_level": "3"}, good),
        ("setmarginlevel", {"symbol": "BTC_USDT.swap", "margin_level": "9999"}, good),
        ("fundings", {"symbol": "BTC_USDT.swap"}, good),
        ("io", {"code": "3", "symbol": "BTC_USDT.swap"}, good),
        ("__api_/api/v5/account/config", {}, good),
        ("nosuch", {}, good),
        ("accounts", {}, f"{SECRET}-wrong,{PASSPHRASE}"),
        ("accounts", {}, f"{SECRET},{PASSPHRASE}-wrong"),
        ("accounts", {}, f"{SECRET},{PASSPHRASE},simulate"),
        ("accounts", {}, f"{SECRET}"),
        ("accounts", {}, f"{SECRET},{PASSPHRASE},{SECRET}"),
    ]
    replies = []
    for method, params, secret_key in calls:
        body = stack.envelope(method, params)
        body.update(access_key=KEY, secret_key=secret_key)
        replies.append(json.dumps(stack.post(body), default=str))
    stack.sim.add_fault("/api/v5/account/balance", "http-500", count=50)
    body = stack.envelope("accounts")
    body.update(access_key=KEY, secret_key=good)
    replies.append(json.dumps(stack.post(body)))

    assert signatures, "no signed call was made"
    text = "\n".join(replies + [formatEvent(e) + " " + repr(e) for e in captured])
    for needle in (KEY, SECRET, PASSPHRASE, *signatures):
        assert needle not in text
    assert any("rpc" in formatEvent(e) for e in captured)
    assert any(e.get("log_level").name == "debug" for e in captured)


def test_access_token_required_and_masked(captured: list[dict[str, Any]]) -> None:
    """Without the token: 403 JSON, nothing reaches OKX; the token is never logged."""
    stack = Stack()
    stack.server.access = AccessPolicy.from_options((), TOKEN)
    from fmzokx.logs import secrets

    secrets.add(TOKEN)

    async def post(path: str) -> tuple[int, Any]:
        response = await stack.rpc.post(
            f"http://127.0.0.1:6666/{path}",
            data=json.dumps(stack.envelope("ticker", {"symbol": "BTC_USDT"})).encode(),
        )
        return response.code, json.loads(await response.content())

    code, body = stack.run(post("OKX"))
    assert code == 403 and "token" in body["error"] and TOKEN not in body["error"]
    code, body = stack.run(post(f"OKX-{TOKEN[:-1]}x"))
    assert code == 403
    assert stack.sim.state()["requests"].get("/api/v5/market/ticker", 0) == 0
    code, body = stack.run(post(f"OKX-{TOKEN}"))
    assert code == 200 and body["data"]["symbol"] == "BTC_USDT"
    logged = "\n".join(formatEvent(e) + repr(e) for e in captured)
    assert TOKEN not in logged
    assert "rpc OKX ticker" in logged


def test_ip_allowlist_refuses_other_peers() -> None:
    """A peer outside --allow-ip gets 403 on the RPC path, /healthz and /metrics."""
    stack = Stack()
    stack.server.access = AccessPolicy.from_options(parse_allow("10.0.0.0/8"), None)

    async def request(method: str, path: str) -> int:
        response = await stack.rpc.request(method, f"http://127.0.0.1:6666{path}", data=b"{}")
        await response.content()
        code: int = response.code
        return code

    assert stack.run(request("POST", "/OKX")) == 403
    assert stack.run(request("GET", "/healthz")) == 403
    assert stack.run(request("GET", "/metrics")) == 403


def test_private_stream_leaks_nothing(
    captured: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    The private WebSocket's logins (good, wrong secret, wrong passphrase, refused): no
    key, secret, passphrase or login signature in a log event, a reply, /metrics or the
    status page.
    """
    import fmzokx.okx.stream.private as private_module
    from fmzokx.status.history import History
    from fmzokx.status.view import StatusView

    signatures: list[str] = []
    real_sign = private_module.sign

    def recording_sign(*args: Any, **kwargs: Any) -> str:
        signature = real_sign(*args, **kwargs)
        signatures.append(signature)
        return signature

    monkeypatch.setattr(private_module, "sign", recording_sign)
    account = SimAccount(key=KEY, secret=SECRET, passphrase=PASSPHRASE)
    stack = Stack(accounts=(account,), private_stream=True)
    assert stack.private is not None
    metrics = Metrics.create(known_methods(stack.server.registry.specs()))
    stack.private.stats.observer = metrics
    metrics.watch_private(stack.private.health)
    stack.sim.ws.add_fault("/ws/v5/private", "refuse-login", 1, 0)
    replies = []
    for secret_key in (f"{SECRET},{PASSPHRASE}", f"{SECRET}-wrong,{PASSPHRASE}",
                       f"{SECRET},{PASSPHRASE}-wrong"):
        for method in ("accounts", "positions", "orders"):
            body = stack.envelope(method)
            body.update(access_key=KEY, secret_key=secret_key)
            replies.append(json.dumps(stack.post(body), default=str))
        stack.advance(2.0)
    stack.advance(70.0)  # the refused login is retried
    page = StatusView(
        history=History(stack.clock), version="test", started=0.0, health=lambda: None,
        private=stack.private.health,
    ).render()
    assert signatures, "no login was signed"
    assert "private-stream" in page and "key-" in page
    text = "\n".join(
        replies + [page, metrics.render()[0].decode()]
        + [formatEvent(e) + " " + repr(e) for e in captured]
    )
    for needle in (KEY, SECRET, PASSPHRASE, *signatures):
        assert needle not in text
    assert "60009" in text and "60007" in text and "60024" in text  # each said why


def test_metrics_endpoint_counts_rpcs_and_upstream() -> None:
    """/metrics serves Prometheus text with RPC, upstream and reconciliation series."""
    metrics = Metrics.create(known_methods(default_registry().specs()))
    stack = Stack(metrics=metrics)
    stack.ok("ticker", symbol="BTC_USDT")
    stack.error("ticker", symbol="USDT")
    stack.sim.add_fault("/api/v5/trade/order", "drop-after-commit", count=1)
    stack.ok("trade", symbol="BTC_USDT", type="buy", price="-1", amount="20")

    async def scrape() -> tuple[str, str]:
        response = await stack.rpc.get("http://127.0.0.1:6666/metrics")
        content_type = response.headers.getRawHeaders(b"content-type")[0].decode()
        return content_type, (await response.content()).decode()

    content_type, text = stack.run(scrape())
    assert content_type.startswith("text/plain")
    assert 'fmzokx_rpc_requests_total{method="ticker",outcome="ok"} 1.0' in text
    assert 'fmzokx_rpc_requests_total{method="ticker",outcome="error"} 1.0' in text
    assert 'path="/api/v5/market/ticker"' in text
    assert 'fmzokx_reconciliations_total{outcome="found"} 1.0' in text
    assert KEY not in text and "okxsim-demo-secret" not in text


def _pieces(value: str, width: int = 8) -> list[str]:
    """Every ``width``-character piece of ``value``: a cut-short echo still shows one."""
    return [value[i:i + width] for i in range(len(value) - width + 1)]


def test_parameters_carrying_the_callers_own_credentials(
    captured: list[dict[str, Any]],
) -> None:
    """
    A parameter that carries the request's own key, secret or passphrase -- equal to it,
    beginning with it, in another letter case, as a name, as the method -- is refused
    naming the field; no piece of it reaches the reply, a log line or OKX (a ``type``
    equal to the secret, an ``id`` beginning with it, were once echoed cut short, where
    no mask could find them).
    """
    from fmzokx.jsonlog import event_as_line

    # Credentials with no English in them: a piece of "passphrase" is in every error.
    key, secret, passphrase = OWN_KEY, OWN_SECRET, OWN_PASSPHRASE
    stack = Stack(accounts=(SimAccount(key=key, secret=secret, passphrase=passphrase),))
    good = f"{secret},{passphrase}"
    before = dict(stack.sim.state()["requests"])
    carried = [secret, f"{secret}-0123456789abcdef-0123456789", secret.lower(),
               f"x{passphrase}", key, f"BTC-USDT,{secret}"]
    calls: list[tuple[str, dict[str, Any], str]] = []
    for value in carried:
        calls += [
            ("trade", {"symbol": "BTC_USDT", "type": value, "price": "1", "amount": "1"},
             "param 'type'"),
            ("trade", {"symbol": "BTC_USDT", "type": "buy", "price": value, "amount": "1"},
             "param 'price'"),
            ("trade", {"symbol": "BTC_USDT", "type": "buy", "price": "-1", "amount": "20",
                       "clientOrderId": value}, "param 'clientOrderId'"),
            ("cancel", {"id": value}, "param 'id'"),
            ("order", {"id": value}, "param 'id'"),
            ("orders", {"symbol": value}, "param 'symbol'"),
            ("io", {"code": value}, "param 'code'"),
            ("__api_/api/v5/trade/order", {"instId": value, "side": "buy"}, "param 'instId'"),
            ("__api_/api/v5/trade/batch-orders", {"args": [{"clOrdId": value}]},
             "param 'args'"),
            (value, {}, "field 'method'"),
            ("ticker", {value: "BTC_USDT"}, "a param name"),
        ]
    replies = []
    for method, params, where in calls:
        body = stack.envelope(method, params)
        body.update(access_key=key, secret_key=good)
        reply = stack.post(body)
        assert set(reply) == {"error"}, (method, params, reply)
        assert reply["error"].startswith(f"{where} carries this request's"), reply
        replies.append(json.dumps(reply))
    assert stack.sim.state()["requests"] == before  # nothing went to OKX
    lines = [event_as_line(dict(event)) for event in captured]
    assert any('"outcome"' in line or "rpc" in line for line in lines)
    text = "\n".join(replies + lines + [formatEvent(e) for e in captured]).casefold()
    for credential in (key, secret, passphrase):
        for piece in _pieces(credential):
            assert piece.casefold() not in text, piece
