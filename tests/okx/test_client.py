"""
The client's request/response contract: signing, headers, envelopes, typed errors.

Everything runs reactor-free: a real :class:`OkxClient` talks to :class:`FakeOkx` (which
verifies signatures the way OKX does) through ``RequestTraversalAgent`` and a ``Clock``.
"""

from __future__ import annotations

import json

import pytest
from twisted.internet.task import Clock

from fmzokx.okx.client import OkxClient, OkxReply
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.errors import (
    OkxApiError,
    OkxAuthError,
    OkxHttpError,
    OkxMalformedResponse,
    OkxTransportError,
)
from fmzokx.okx.retry import RetryPolicy

from .fakeokx import PASSPHRASE, SECRET, Behaviour, FakeOkx
from .support import CREDS, DEMO, Harness

NOW = 1_700_000_000.0


def setup(**options: object) -> tuple[FakeOkx, Harness]:
    clock = Clock()
    clock.advance(NOW)
    fake = FakeOkx(clock)
    return fake, Harness(fake, clock, **options)


TRICKY = {
    "instId": "BTC-USDT,ETH-USDT",
    "note": "spaces and & and = and / and ? and # and + and %",
    "unicode": "中文 ünïcødé €",
    "empty": "",
}


def test_public_get_returns_reply() -> None:
    """An unsigned GET returns the envelope as an OkxReply whose data is OKX's array."""
    fake, h = setup()
    reply = h.run(h.client.get("/api/v5/market/ticker", {"instId": "BTC-USDT"}))
    assert isinstance(reply, OkxReply)
    assert reply.status == 200
    assert reply.code == "0"
    assert reply.data == [{"instId": "BTC-USDT", "last": "100.5"}]
    assert reply.raw["data"] is reply.payload["data"]
    assert "ok-access-sign" not in fake.requests[0].headers


def test_signed_get_with_escaped_query_verifies() -> None:
    """
    A signed GET whose parameters need escaping (unicode, spaces, ``& = , / ? # + %``)
    passes OKX's signature check: the query signed is the query sent, byte for byte, in
    the caller's order, with empty values dropped.
    """
    fake, h = setup()
    reply = h.run(h.client.get("/api/v5/echo", TRICKY, credentials=CREDS))
    sent = fake.requests[0].query.decode()
    assert reply.data[0]["query"] == sent
    assert sent.startswith("instId=BTC-USDT,ETH-USDT&note=spaces%20and%20%26")
    assert "empty" not in sent
    assert "%E4%B8%AD%E6%96%87" in sent


def test_signed_post_with_unicode_body_verifies() -> None:
    """A signed POST's compact UTF-8 JSON body is the body signed and the body sent."""
    fake, h = setup()
    reply = h.run(h.client.post("/api/v5/echo", TRICKY, credentials=CREDS))
    assert json.loads(reply.data[0]["body"]) == TRICKY
    assert fake.requests[0].body == json.dumps(
        TRICKY, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert fake.requests[0].headers["content-type"] == "application/json"


def test_demo_header_only_for_simulated_credentials() -> None:
    """``x-simulated-trading: 1`` is sent when the credentials say simulate, else not at all."""
    fake, h = setup()
    h.run(h.client.get("/api/v5/echo", {"a": "1"}, credentials=DEMO))
    h.run(h.client.get("/api/v5/echo", {"a": "1"}, credentials=CREDS))
    assert fake.requests[0].headers.get("x-simulated-trading") == "1"
    assert "x-simulated-trading" not in fake.requests[1].headers


def test_signature_uses_server_time_offset() -> None:
    """The OK-ACCESS-TIMESTAMP is the injected clock plus the measured offset to OKX."""
    fake, h = setup()
    fake.skew = 12.5
    h.run(h.client.sync_clock())
    h.run(h.client.get("/api/v5/echo", {}, credentials=CREDS))
    stamp = fake.requests[-1].headers["ok-access-timestamp"]
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
    fake, h = setup()
    error = h.failure(h.client.get("/api/v5/account/balance", {}, credentials=credentials))
    assert isinstance(error, OkxAuthError)
    assert error.code == code
    assert error.http_status == 401
    assert advice in str(error)
    assert fake.count("/api/v5/account/balance") == 1
    for secret in (credentials.key, credentials.secret, credentials.passphrase):
        assert secret not in str(error)
        assert secret not in repr(error)


def test_business_error_raises_api_error_with_code_and_msg() -> None:
    """A ``code != "0"`` envelope raises OkxApiError carrying OKX's code, msg and status."""
    fake, h = setup()
    fake.then(
        "/api/v5/echo",
        Behaviour(
            "reply", payload={"code": "51001", "msg": "Instrument ID does not exist", "data": []}
        ),
    )
    error = h.failure(h.client.get("/api/v5/echo", {}))
    assert type(error) is OkxApiError
    assert (error.code, error.msg, error.http_status) == (
        "51001",
        "Instrument ID does not exist",
        200,
    )
    assert "51001" in str(error) and "/api/v5/echo" in str(error)
    assert fake.count("/api/v5/echo") == 1


def test_failed_order_item_raises_with_items() -> None:
    """A place-order reply with a failed item raises OkxApiError listing sCode and sMsg."""
    fake, h = setup()
    body = {"instId": "BTC-USDT", "side": "buy", "ordType": "market", "sz": "0"}
    error = h.failure(h.client.post("/api/v5/trade/order", body, credentials=CREDS))
    assert isinstance(error, OkxApiError)
    assert error.code == "1"
    assert [(item.code, item.ok) for item in error.items] == [("51008", False)]
    assert "51008" in str(error) and "Insufficient USDT balance" in str(error)
    assert not error.outcome_unknown


def test_successful_order_exposes_items() -> None:
    """An accepted order returns the reply, its per-item result readable as ItemResult."""
    fake, h = setup()
    body = {
        "instId": "BTC-USDT",
        "side": "buy",
        "ordType": "market",
        "sz": "1",
        "clOrdId": "abc123",
    }
    reply = h.run(
        h.client.post(
            "/api/v5/trade/order", body, credentials=CREDS, headers={"expTime": "1700000005000"}
        )
    )
    assert [item.ok for item in reply.items] == [True]
    assert reply.items[0].data["ordId"] == "312269865356374016"
    assert fake.requests[0].headers["exptime"] == "1700000005000"


def test_extra_headers_cannot_override_auth_headers() -> None:
    """Caller headers may not replace the signature headers or the demo flag."""
    fake, h = setup()
    with pytest.raises(ValueError, match="set by the client"):
        h.run(
            h.client.post(
                "/api/v5/echo", {}, credentials=CREDS, headers={"OK-ACCESS-SIGN": "forged"}
            )
        )
    assert fake.requests == []


def test_raw_request_without_code_check_returns_envelope() -> None:
    """``request(..., check_code=False)`` hands back OKX's refusal as an OkxReply."""
    fake, h = setup()
    fake.then(
        "/api/v5/echo",
        Behaviour("reply", payload={"code": "51000", "msg": "Parameter x error", "data": []}),
    )
    reply = h.run(
        h.client.request("POST", "/api/v5/echo", {"x": 1}, credentials=CREDS, check_code=False)
    )
    assert (reply.code, reply.msg) == ("51000", "Parameter x error")


def test_raw_request_get_is_signed_and_checked() -> None:
    """``request("GET", ...)`` signs the query and raises on refusals by default."""
    fake, h = setup()
    reply = h.run(h.client.request("get", "/api/v5/echo", {"a": "b c"}, credentials=CREDS))
    assert reply.data[0]["query"] == "a=b%20c"
    fake.then("/api/v5/echo", Behaviour("reply", payload={"code": "50000", "msg": "x", "data": []}))
    assert isinstance(
        h.failure(h.client.request("GET", "/api/v5/echo", None, credentials=None)), OkxApiError
    )


def test_non_envelope_error_status_is_http_error() -> None:
    """A 404 with an HTML body is OkxHttpError (status kept, no OKX code)."""
    fake, h = setup()
    fake.then("/api/v5/echo", Behaviour("raw", status=404, raw=b"<html>nope</html>"))
    error = h.failure(h.client.get("/api/v5/echo"))
    assert isinstance(error, OkxHttpError)
    assert (error.code, error.http_status) == ("", 404)


def test_malformed_success_body_is_malformed_response() -> None:
    """A 200 whose body is not an OKX envelope raises OkxMalformedResponse (after retries)."""
    fake, h = setup(retry=RetryPolicy(max_attempts=2))
    fake.then(
        "/api/v5/echo", Behaviour("raw", raw=b"not json"), Behaviour("reply", payload={"data": []})
    )
    error = h.failure(h.client.get("/api/v5/echo"))
    assert isinstance(error, OkxMalformedResponse)
    assert "not an OKX envelope" in str(error)
    assert fake.count("/api/v5/echo") == 2


def test_stopped_client_refuses_calls() -> None:
    """After stop(), calls fail at once with OkxTransportError and nothing is sent."""
    fake, h = setup()
    h.run(h.client.stop())
    error = h.failure(h.client.get("/api/v5/market/ticker", {"instId": "BTC-USDT"}))
    assert isinstance(error, OkxTransportError)
    assert "stopped" in str(error)
    assert fake.requests == []


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
    fake, h = setup()
    with pytest.raises(ValueError):
        h.run(h.client.get("/api/v5/echo?a=1"))


def test_health_reports_clock_and_load() -> None:
    """health() exposes the clock offset, sync state and in-flight count for /healthz."""
    fake, h = setup()
    before = h.client.health()
    assert before["clock_synced"] is False
    fake.skew = -3.0
    h.run(h.client.sync_clock())
    after = h.client.health()
    assert after["clock_synced"] is True
    assert after["clock_offset_s"] == pytest.approx(-3.0, abs=0.01)
    assert after["in_flight"] == 0
    assert after["rate_limits"] is True
