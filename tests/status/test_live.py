"""
The status page and the call log fed by the real daemon stack (okxsim, client, OKX layer,
RPC server, all in memory): the metrics hooks fill the history, ``GET /status`` follows
the access rules of ``/metrics``, and a failed call is one log line that says why.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from twisted.logger import formatEvent

import fmzokx.okx.rest.request as request_module
from fmzokx.fmz.access import AccessPolicy, parse_allow
from fmzokx.fmz.methods import default_registry
from fmzokx.jsonlog import event_as_line
from fmzokx.logs import set_level
from fmzokx.metrics import Metrics, known_methods
from fmzokx.sim import SimAccount
from fmzokx.status.history import History
from fmzokx.status.view import StatusView
from tests.stack import START, Stack

KEY = "live-status-key-5f4e3d2c1b"
SECRET = "live-status-secret-a1b2c3d4e5"
PASSPHRASE = "live-status-pass-99"
GOOD = f"{SECRET},{PASSPHRASE}"
ORDER = "/api/v5/trade/order"


def live_stack() -> tuple[Stack, StatusView]:
    metrics = Metrics.create(known_methods(default_registry().specs()))
    stack = Stack(
        accounts=(SimAccount(key=KEY, secret=SECRET, passphrase=PASSPHRASE),),
        metrics=metrics,
    )
    metrics.history = History(stack.clock)
    view = StatusView(
        history=metrics.history,
        version="test",
        started=START,
        health=lambda: {"status": "ok", "okx": stack.client.health()},
        budgets=stack.client.budget_usage,
    )
    stack.server.status = view.page
    stack.run(stack.client.sync_clock())
    return stack, view


def call(stack: Stack, method: str, secret_key: str = GOOD, **params: str) -> Any:
    body = stack.envelope(method, params)
    body.update(access_key=KEY, secret_key=secret_key)
    return stack.post(body)


def get(stack: Stack, path: str) -> tuple[int, dict[str, str], str]:
    async def go() -> tuple[int, dict[str, str], str]:
        response = await stack.rpc.get(f"http://127.0.0.1:6666{path}")
        headers = {
            name.decode().lower(): values[0].decode()
            for name, values in response.headers.getAllRawHeaders()
        }
        return response.code, headers, (await response.content()).decode()

    result: tuple[int, dict[str, str], str] = stack.run(go())
    return result


def traffic(stack: Stack) -> None:
    """Calls that succeed and fail in each of the ways the page reports."""
    assert "data" in call(stack, "ticker", symbol="BTC_USDT")
    assert "error" in call(stack, "ticker", symbol="USDT")  # FMZ-side refusal
    # Insufficient balance: OKX refuses the order with sCode 51008.
    refused = call(stack, "trade", symbol="BTC_USDT", type="buy", price="1", amount="1e9")
    assert "51008" in refused["error"]
    assert "data" in call(stack, "trade", symbol="BTC_USDT", type="buy", price="-1",
                          amount="20")
    stack.sim.add_fault(ORDER, "drop-after-commit", count=1)
    assert "data" in call(stack, "trade", symbol="BTC_USDT", type="buy", price="-1",
                          amount="20")
    # Wrong secret: OKX refuses the signature (50113); the secret is never shown.
    assert "50113" in call(stack, "accounts", secret_key=f"{SECRET}x,{PASSPHRASE}")["error"]
    stack.advance(30)


def test_history_is_fed_by_the_daemon() -> None:
    stack, view = live_stack()
    traffic(stack)
    snapshot = view.snapshot()
    (service,) = snapshot["services"]
    assert service["label"] == "OKX"
    hour = service["windows"]["60"]
    assert hour["calls"] == 6 and hour["errors"] == 3
    assert hour["p50_ms"] is not None
    order = next(e for e in snapshot["endpoints"] if e["path"] == ORDER)
    assert order["windows"]["60"]["codes"].get("51008") == 1
    assert order["windows"]["60"]["errors"] >= 1
    balance = next(e for e in snapshot["endpoints"] if e["path"] == "/api/v5/account/balance")
    assert balance["windows"]["60"]["codes"] == {"50113": 1}
    assert snapshot["orders"]["total"] == {
        "placed": 1, "reconciled": 1, "not-placed": 0, "unknown": 0,
    }
    messages = [error["message"] for error in snapshot["errors"]]
    assert len(messages) == 3 and any("51008" in m for m in messages)
    assert snapshot["okx"]["reachable"] is True
    budgets = {(b["scope"], b["path"]): b for b in snapshot["budgets"]}
    placing = budgets[("trade", ORDER)]
    assert placing["limit"] == 60 and placing["peak_60m"] >= 1 and placing["peak_5m"] >= 1
    assert placing["used"] == 0  # 30 s later its 2-s window is empty again
    assert all(KEY not in str(b) for b in snapshot["budgets"])


def test_status_route_serves_the_page_and_never_a_secret(
    captured: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    signatures: list[str] = []
    real_sign = request_module.sign

    def recording_sign(*args: Any, **kwargs: Any) -> str:
        signature = real_sign(*args, **kwargs)
        signatures.append(signature)
        return signature

    monkeypatch.setattr(request_module, "sign", recording_sign)
    stack, _ = live_stack()
    traffic(stack)
    code, headers, page = get(stack, "/status")
    assert code == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert headers["cache-control"] == "no-store"
    assert 'data-label="OKX"' in page and 'data-path="/api/v5/trade/order"' in page
    assert "51008" in page and "50113" in page
    assert signatures
    logged = "\n".join(formatEvent(e) + " " + repr(e) for e in captured)
    for needle in (KEY, SECRET, PASSPHRASE, *signatures):
        assert needle not in page
        assert needle not in logged


def test_status_follows_the_metrics_access_rule() -> None:
    stack, _ = live_stack()
    stack.server.access = AccessPolicy.from_options(parse_allow("10.0.0.0/8"), None)
    assert get(stack, "/status")[0] == 403
    assert get(stack, "/metrics")[0] == 403
    stack.server.access = AccessPolicy.from_options(parse_allow("10.0.0.0/8,localhost"), None)
    assert get(stack, "/status")[0] == 200
    stack.server.status = None
    code, _, body = get(stack, "/status")
    assert code == 404 and "not enabled" in body


def test_a_failed_call_is_one_line_that_says_why(captured: list[dict[str, Any]]) -> None:
    stack, _ = live_stack()
    set_level("info")
    call(stack, "trade", symbol="BTC_USDT", type="buy", price="1", amount="1e9")
    call(stack, "ticker", symbol="USDT")
    rpc = [e for e in captured if str(e.get("log_format", "")).startswith("rpc ")]
    assert len(rpc) == 2
    refused, invalid = rpc
    text = formatEvent(refused)
    assert text.startswith("rpc OKX trade BTC_USDT -> error in ")
    assert text.endswith(
        " ms: OKX 51008 Order failed. Insufficient USDT balance in account "
        "(POST /api/v5/trade/order)"
    )
    assert refused["okx_code"] == "51008" and refused["endpoint"] == f"POST {ORDER}"
    assert refused["symbol"] == "BTC_USDT" and refused["duration"] >= 0
    assert formatEvent(invalid).startswith("rpc OKX ticker USDT -> error in ")
    assert "invalid symbol 'USDT'" in formatEvent(invalid)
    assert "okx_code" not in invalid
    # As a JSON line: plain fields, no object reprs, no class names.
    line = json.loads(event_as_line(dict(refused)))
    assert line["namespace"] == "fmzokx.fmz.resource"
    assert line["okx_code"] == "51008" and line["okx_msg"].startswith("Order failed.")
    assert " object at 0x" not in json.dumps(line) and "OkxApiError" not in json.dumps(line)
    stream = io.StringIO()
    stream.write(event_as_line(dict(invalid)))
    assert json.loads(stream.getvalue())["outcome"] == "error"


def test_okx_fields_appear_exactly_when_okx_said_them(captured: list[dict[str, Any]]) -> None:
    """
    A pass-through OKX refused carries OKX's code, message and endpoint like any other
    call; a call refused here (below the minimum size, a bad symbol) carries no OKX code
    and says it was refused locally.
    """
    stack, _ = live_stack()
    set_level("info")
    body = stack.envelope("__api_/api/v5/trade/order", {
        "instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit",
        "px": "1", "sz": "1000000000"})
    body.update(access_key=KEY, secret_key=GOOD)
    passed = stack.post(json.dumps(body).encode(), headers={"Http-Method": "POST"})
    assert passed["error"].startswith("OKX refused POST /api/v5/trade/order: sCode 51008 ")
    small = call(stack, "trade", symbol="BTC_USDT", type="buy", price="1000",
                 amount="0.0000001")
    assert "minimum order size" in small["error"]
    call(stack, "ticker", symbol="USDT")
    placed = call(stack, "trade", symbol="BTC_USDT", type="buy", price="1", amount="1e9")
    assert "51008" in placed["error"]
    rpc = [json.loads(event_as_line(dict(e))) for e in captured
           if str(e.get("log_format", "")).startswith("rpc ")]
    assert len(rpc) == 4
    through, below, invalid, refused = rpc
    for line in (through, refused):
        assert line["okx_code"] == "51008" and line["okx_msg"].startswith("Order failed.")
        assert line["endpoint"] == f"POST {ORDER}" and line["refused_by"] == "okx"
        assert "failure" not in line
    for line in (below, invalid):
        assert line["refused_by"] == "fmzokx"
        for field in ("okx_code", "okx_msg", "endpoint", "failure"):
            assert field not in line, (field, line)


def test_writes_and_failures_are_info_lines_and_reads_that_succeed_debug(
    captured: list[dict[str, Any]],
) -> None:
    """
    At the default level an order, a cancel, a pass-through POST and a failed read are one
    line each; a ticker, a balance and a pass-through GET that succeed are not written
    (``--log-level debug`` writes them, at debug).
    """
    stack, _ = live_stack()
    for level in ("info", "debug"):
        set_level(level)
        captured.clear()
        placed = call(stack, "trade", symbol="BTC_USDT", type="buy", price="1000",
                      amount="0.001")
        call(stack, "cancel", id=placed["data"]["id"])
        call(stack, "ticker", symbol="BTC_USDT")
        call(stack, "accounts")
        call(stack, "__api_/api/v5/account/balance", ccy="USDT")
        call(stack, "ticker", symbol="USDT")
        body = stack.envelope("__api_/api/v5/trade/order", {
            "instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit",
            "px": "1000", "sz": "0.001"})
        body.update(access_key=KEY, secret_key=GOOD)
        stack.post(json.dumps(body).encode(), headers={"Http-Method": "POST"})
        rpc = [e for e in captured if str(e.get("log_format", "")).startswith("rpc ")]
        lines = [(e["log_level"].name, formatEvent(e).split(" in ")[0]) for e in rpc]
        written = [
            ("info", "rpc OKX trade BTC_USDT -> ok"),
            ("info", "rpc OKX cancel -> ok"),
            ("info", "rpc OKX ticker USDT -> error"),
            ("info", "rpc OKX __api_/api/v5/trade/order -> ok"),
        ]
        reads = [
            ("debug", "rpc OKX ticker BTC_USDT -> ok"),
            ("debug", "rpc OKX accounts -> ok"),
            ("debug", "rpc OKX __api_/api/v5/account/balance -> ok"),
        ]
        expected = written if level == "info" else written[:2] + reads + written[2:]
        assert lines == expected, level
