"""
The client's request/response contract: signing, headers, envelopes, typed errors.

Everything runs reactor-free: a real :class:`OkxClient` talks to okxsim (which verifies
signatures over the bytes it received, as OKX does) through ``RequestTraversalAgent``
and a ``Clock``; okxsim's journal shows what went over the wire.
"""

from __future__ import annotations

import json

import pytest
from attrs.exceptions import FrozenAttributeError
from twisted.internet.task import Clock

from fmzokx.okx.credentials import Credentials
from fmzokx.okx.errors import (
    OkxApiError,
    OkxAuthError,
    OkxHttpError,
    OkxMalformedResponse,
    OkxTransportError,
)
from fmzokx.okx.rest.client import OkxClient, OkxReply
from fmzokx.okx.rest.retry import RetryPolicy
from fmzokx.sim.public import ticker

from .support import CREDS, DEMO, NOW, PASSPHRASE, RESTING_BUY, SECRET, Harness

BALANCE = "/api/v5/account/balance"
TICKER = "/api/v5/market/ticker"
TIME = "/api/v5/public/time"
ORDER = "/api/v5/trade/order"

TRICKY = {
    "instId": "BTC-USDT,ETH-USDT",
    "note": "spaces and & and = and / and ? and # and + and %",
    "unicode": "中文 ünïcødé €",
    "empty": "",
}


def test_public_get_returns_reply() -> None:
    """An unsigned GET returns the envelope as an OkxReply whose data is OKX's array."""
    h = Harness()
    reply = h.run(h.client.get(TICKER, {"instId": "BTC-USDT"}))
    inst = h.sim.exchange.instrument("BTC-USDT", int(NOW * 1000))
    assert inst is not None
    assert isinstance(reply, OkxReply)
    assert reply.status == 200
    assert reply.code == "0"
    assert reply.data == [ticker(h.sim.market, inst, int(NOW * 1000))]
    assert reply.raw["data"] is reply.payload["data"]
    assert "ok-access-sign" not in h.requests()[0].headers


def test_signed_get_with_escaped_query_verifies() -> None:
    """
    A signed GET whose parameters need escaping (unicode, spaces, ``& = , / ? # + %``)
    passes OKX's signature check: the query signed is the query sent, byte for byte, in
    the caller's order, with empty values dropped.
    """
    h = Harness()
    reply = h.run(h.client.get(BALANCE, TRICKY, credentials=CREDS))
    assert reply.code == "0"
    (seen,) = h.requests(BALANCE)
    sent = seen.query.decode()
    assert sent.startswith("instId=BTC-USDT,ETH-USDT&note=spaces%20and%20%26")
    assert "empty" not in sent
    assert "%E4%B8%AD%E6%96%87" in sent


def test_signed_post_with_unicode_body_verifies() -> None:
    """A signed POST's compact UTF-8 JSON body is the body signed and the body sent."""
    h = Harness()
    body = {"posMode": "net_mode", **TRICKY}
    reply = h.run(h.client.post("/api/v5/account/set-position-mode", body, credentials=CREDS))
    assert reply.data == [{"posMode": "net_mode"}]
    (seen,) = h.requests()
    assert seen.body == json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    assert seen.headers["content-type"] == "application/json"


def test_demo_header_only_for_simulated_credentials() -> None:
    """``x-simulated-trading: 1`` is sent when the credentials say simulate, else not at all
    (okxsim, as OKX, refuses either key in the other environment with 50101)."""
    h = Harness()
    h.run(h.client.get(BALANCE, {"a": "1"}, credentials=DEMO))
    h.run(h.client.get(BALANCE, {"a": "1"}, credentials=CREDS))
    demo, real = h.requests(BALANCE)
    assert demo.headers.get("x-simulated-trading") == "1"
    assert "x-simulated-trading" not in real.headers


def test_signature_uses_server_time_offset() -> None:
    """The OK-ACCESS-TIMESTAMP is the injected clock plus the measured offset to OKX."""
    h = Harness()
    h.skew(12.5)
    h.run(h.client.sync_clock())
    h.run(h.client.get(BALANCE, {}, credentials=CREDS))
    stamp = h.requests(BALANCE)[-1].headers["ok-access-timestamp"]
    assert stamp.endswith("Z") and len(stamp) == 24
    assert h.client.clock_offset == pytest.approx(12.5, abs=0.01)
    assert h.client.server_time() == pytest.approx(h.clock.seconds() + 12.5, abs=0.01)


@pytest.mark.parametrize(
    ("credentials", "code", "advice"),
    [
        (Credentials("wrong-key-123456", SECRET, PASSPHRASE), "50111", "check the access key"),
        (Credentials(CREDS.key, "wrong-secret-123456", PASSPHRASE), "50113", "check the secret"),
        (Credentials(CREDS.key, SECRET, "wrong-pass-123456"), "50105", "check the passphrase"),
    ],
)
def test_auth_errors_are_not_retried_and_say_what_is_wrong(
    credentials: Credentials, code: str, advice: str
) -> None:
    """
    A wrong key, secret or passphrase gives OkxAuthError after exactly one request; the
    message says what to fix and contains none of the credentials.
    """
    h = Harness()
    error = h.failure(h.client.get(BALANCE, {}, credentials=credentials))
    assert isinstance(error, OkxAuthError)
    assert error.code == code
    assert error.http_status == 401
    assert advice in str(error)
    assert h.count(BALANCE) == 1
    for secret in (credentials.key, credentials.secret, credentials.passphrase):
        assert secret not in str(error)
        assert secret not in repr(error)


def test_business_error_raises_api_error_with_code_and_msg() -> None:
    """A ``code != "0"`` envelope raises OkxApiError carrying OKX's code, msg and status."""
    h = Harness()
    error = h.failure(h.client.get(TICKER, {"instId": "NOPE-USDT"}))
    assert type(error) is OkxApiError
    assert (error.code, error.msg, error.http_status) == (
        "51001",
        "Instrument ID does not exist",
        200,
    )
    assert "51001" in str(error) and TICKER in str(error)
    assert h.count(TICKER) == 1


def test_failed_order_item_raises_with_items() -> None:
    """A place-order reply with a failed item raises OkxApiError listing sCode and sMsg."""
    h = Harness()
    body = {**RESTING_BUY, "sz": "1000"}
    error = h.failure(h.client.post(ORDER, body, credentials=CREDS))
    assert isinstance(error, OkxApiError)
    assert error.code == "1"
    assert [(item.code, item.ok) for item in error.items] == [("51008", False)]
    assert "51008" in str(error) and "Insufficient USDT balance" in str(error)
    assert not error.outcome_unknown
    assert h.sim.state()["orders"] == []


def test_successful_order_exposes_items() -> None:
    """An accepted order returns the reply, its per-item result readable as ItemResult."""
    h = Harness()
    body = {**RESTING_BUY, "clOrdId": "abc123"}
    headers = {"expTime": "1700000005000"}
    reply = h.run(h.client.post(ORDER, body, credentials=CREDS, headers=headers))
    assert [item.ok for item in reply.items] == [True]
    (order,) = h.sim.state()["orders"]
    assert order["clOrdId"] == "abc123"
    assert reply.items[0].data["ordId"] == order["ordId"]
    assert h.requests(ORDER)[0].headers["exptime"] == "1700000005000"


def test_extra_headers_cannot_override_auth_headers() -> None:
    """Caller headers may not replace the signature headers or the demo flag."""
    h = Harness()
    with pytest.raises(ValueError, match="set by the client"):
        h.run(h.client.post(ORDER, {}, credentials=CREDS, headers={"OK-ACCESS-SIGN": "forged"}))
    assert h.requests() == []


def test_raw_request_without_code_check_returns_envelope() -> None:
    """``request(..., check_code=False)`` hands back OKX's refusal as an OkxReply."""
    h = Harness()
    body = {"instId": "BTC-USDT-SWAP", "lever": "1000", "mgnMode": "cross"}
    reply = h.run(
        h.client.request(
            "POST", "/api/v5/account/set-leverage", body, credentials=CREDS, check_code=False
        )
    )
    assert (reply.code, reply.msg) == ("59102", "Leverage exceeds the maximum limit")


def test_raw_request_get_is_signed_and_checked() -> None:
    """``request("GET", ...)`` signs the query and raises on refusals by default."""
    h = Harness()
    reply = h.run(h.client.request("get", BALANCE, {"a": "b c"}, credentials=CREDS))
    assert reply.code == "0"
    assert h.requests(BALANCE)[0].query == b"a=b%20c"
    error = h.failure(h.client.request("GET", TICKER, None, credentials=None))
    assert isinstance(error, OkxApiError)
    assert error.code == "50014"


def test_non_envelope_error_status_is_http_error() -> None:
    """A 404 with an HTML body is OkxHttpError (status kept, no OKX code)."""
    h = Harness()
    h.sim.add_fault(TIME, "reply", status=404, body=b"<html>nope</html>", content_type="text/html")
    error = h.failure(h.client.get(TIME))
    assert isinstance(error, OkxHttpError)
    assert (error.code, error.http_status) == ("", 404)


def test_malformed_success_body_is_malformed_response() -> None:
    """A 200 whose body is not an OKX envelope raises OkxMalformedResponse (after retries)."""
    h = Harness(retry=RetryPolicy(max_attempts=2))
    h.sim.add_fault(TIME, "reply", body=b"not json")
    h.sim.add_fault(TIME, "reply", body={"data": []})
    error = h.failure(h.client.get(TIME))
    assert isinstance(error, OkxMalformedResponse)
    assert "not an OKX envelope" in str(error)
    assert h.count(TIME) == 2


def test_stopped_client_refuses_calls() -> None:
    """After stop(), calls fail at once with OkxTransportError and nothing is sent."""
    h = Harness()
    h.run(h.client.stop())
    error = h.failure(h.client.get(TICKER, {"instId": "BTC-USDT"}))
    assert isinstance(error, OkxTransportError)
    assert "stopped" in str(error)
    assert h.requests() == []


@pytest.mark.parametrize(
    "url",
    ["http://www.okx.com", "ftp://www.okx.com", "https://www.okx.com/api", "www.okx.com"],
)
def test_base_url_must_be_https_or_loopback(url: str) -> None:
    """Plain HTTP is refused except to loopback; a base URL carries no path."""
    with pytest.raises(ValueError):
        OkxClient(http=None, clock=Clock(), base_url=url)  # type: ignore[arg-type]


def test_loopback_http_allowed_for_okxsim() -> None:
    """A loopback ``http://`` base URL (a local okxsim) is accepted; a trailing / is dropped."""
    client = OkxClient(http=None, clock=Clock(), base_url="http://127.0.0.1:8443/")  # type: ignore[arg-type]
    assert client.base_url == "http://127.0.0.1:8443"


def test_path_with_query_is_refused() -> None:
    """Query parameters go in ``params``, never in the path (they would escape signing order)."""
    h = Harness()
    with pytest.raises(ValueError):
        h.run(h.client.get(TIME + "?a=1"))
    assert h.requests() == []


def test_health_reports_clock_and_load() -> None:
    """health() exposes the clock offset, sync state and in-flight count for /healthz."""
    h = Harness()
    before = h.client.health()
    assert before["clock_synced"] is False
    h.skew(-3.0)
    h.run(h.client.sync_clock())
    after = h.client.health()
    assert after["clock_synced"] is True
    assert after["clock_offset_s"] == pytest.approx(-3.0, abs=0.01)
    assert after["in_flight"] == 0
    assert after["rate_limits"] is True


@pytest.mark.parametrize(
    ("name", "value"),
    [("timeout", 1.0), ("retry", RetryPolicy(max_attempts=9)), ("base_url", "https://x"),
     ("rate_limits", False)],
)
def test_settings_are_fixed_once_built(name: str, value: object) -> None:
    """
    The attempt sender and the retry loop are built with the client's settings, so a
    setting assigned afterwards could not apply: it is refused, never silently ignored.
    """
    harness = Harness()
    with pytest.raises(FrozenAttributeError):
        setattr(harness.client, name, value)
    assert harness.run(harness.client.get(TIME)).payload["code"] == "0"  # still works
