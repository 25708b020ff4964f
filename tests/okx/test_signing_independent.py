"""
Signing checked against an independent computation, not against the project's own
``verify``: OKX's documented recipe written out here with the standard library --

    OK-ACCESS-SIGN = base64( HMAC-SHA256( key = secret,
                                          msg = timestamp + METHOD + requestPath + body ) )

where ``requestPath`` includes ``?query`` for a GET, ``body`` is the JSON text for a POST
(empty for a GET), and ``timestamp`` is ISO 8601 UTC with milliseconds and ``Z``
(``2020-12-08T09:08:57.715Z``). The expected request paths, bodies and timestamps below
are literals, so an encoding change in the project cannot hide behind its own functions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta, timezone

import pytest
from treq.client import HTTPClient
from treq.testing import RequestTraversalAgent
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.web.resource import Resource
from twisted.web.server import Request

from fmzokx.okx.credentials import Credentials
from fmzokx.okx.rest.client import OkxClient
from fmzokx.okx.rest.request import prepare, signed_headers
from fmzokx.okx.rest.signing import format_timestamp, sign
from fmzokx.okx.rest.transport import BytesProducer

SECRET = "22582BD0CFF14C41EDBF1AB98506286D"
KEY = "independent-test-key"
PASSPHRASE = "independent-passphrase"
CREDS = Credentials(key=KEY, secret=SECRET, passphrase=PASSPHRASE)

MOMENT = datetime(2020, 12, 8, 9, 8, 57, 715000, tzinfo=timezone.utc)
STAMP = "2020-12-08T09:08:57.715Z"
ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def okx_signature(secret: str, timestamp: str, method: str, request_path: str, body: str) -> str:
    """OKX's documented recipe, independently of fmzokx.okx.rest.signing."""
    message = timestamp + method + request_path + body
    mac = hmac.new(bytes(secret, "utf-8"), bytes(message, "utf-8"), digestmod=hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def test_get_with_query_string() -> None:
    """A signed GET signs the path *with* its query string and an empty body."""
    request = prepare(
        "GET",
        "/api/v5/account/balance",
        {"ccy": "BTC,ETH"},
        None,
        CREDS,
        check_code=True,
        max_attempts=1,
    )
    assert request.target == "/api/v5/account/balance?ccy=BTC,ETH"
    assert request.body == b""
    headers = signed_headers(request, MOMENT.timestamp())
    expected = okx_signature(SECRET, STAMP, "GET", "/api/v5/account/balance?ccy=BTC,ETH", "")
    assert headers.getRawHeaders("OK-ACCESS-SIGN") == [expected]
    assert headers.getRawHeaders("OK-ACCESS-TIMESTAMP") == [STAMP]
    assert headers.getRawHeaders("OK-ACCESS-KEY") == [KEY]
    assert headers.getRawHeaders("OK-ACCESS-PASSPHRASE") == [PASSPHRASE]


def test_get_with_several_parameters_keeps_their_order() -> None:
    """Parameters are signed in the order they are sent; a reordered query would differ."""
    request = prepare(
        "GET",
        "/api/v5/trade/orders-history",
        {"instType": "SPOT", "instId": "BTC-USDT", "limit": "100"},
        None,
        CREDS,
        check_code=True,
        max_attempts=1,
    )
    path = "/api/v5/trade/orders-history?instType=SPOT&instId=BTC-USDT&limit=100"
    assert request.target == path
    headers = signed_headers(request, MOMENT.timestamp())
    assert headers.getRawHeaders("OK-ACCESS-SIGN") == [
        okx_signature(SECRET, STAMP, "GET", path, "")
    ]
    reordered = "/api/v5/trade/orders-history?instId=BTC-USDT&instType=SPOT&limit=100"
    assert okx_signature(SECRET, STAMP, "GET", reordered, "") != okx_signature(
        SECRET, STAMP, "GET", path, ""
    )


def test_post_with_body() -> None:
    """A POST signs the path (no query) and the compact JSON body exactly as sent."""
    order = {
        "instId": "BTC-USDT",
        "tdMode": "cash",
        "side": "buy",
        "ordType": "limit",
        "px": "30000",
        "sz": "0.01",
    }
    request = prepare(
        "POST", "/api/v5/trade/order", None, order, CREDS, check_code=True, max_attempts=1
    )
    body = (
        '{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit",'
        '"px":"30000","sz":"0.01"}'
    )
    assert request.target == "/api/v5/trade/order"
    assert request.body == body.encode()
    headers = signed_headers(request, MOMENT.timestamp())
    expected = okx_signature(SECRET, STAMP, "POST", "/api/v5/trade/order", body)
    assert headers.getRawHeaders("OK-ACCESS-SIGN") == [expected]


def test_non_ascii_body_is_signed_as_utf8() -> None:
    """The body is UTF-8 JSON text; the signature covers those bytes."""
    request = prepare(
        "POST", "/api/v5/trade/order", None, {"tag": "é"}, CREDS, check_code=True, max_attempts=1
    )
    assert request.body == '{"tag":"é"}'.encode()
    headers = signed_headers(request, MOMENT.timestamp())
    expected = okx_signature(SECRET, STAMP, "POST", "/api/v5/trade/order", '{"tag":"é"}')
    assert headers.getRawHeaders("OK-ACCESS-SIGN") == [expected]


def test_sign_matches_the_recipe_directly() -> None:
    """signing.sign() itself, for a GET and a POST."""
    path = "/api/v5/account/balance?ccy=BTC"
    assert sign(SECRET, STAMP, "GET", path, b"") == okx_signature(SECRET, STAMP, "GET", path, "")
    body = '{"instId":"BTC-USDT","lever":"5","mgnMode":"isolated"}'
    path = "/api/v5/account/set-leverage"
    assert sign(SECRET, STAMP, "POST", path, body.encode()) == okx_signature(
        SECRET, STAMP, "POST", path, body
    )


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (MOMENT, STAMP),
        (datetime(1970, 1, 1, tzinfo=timezone.utc), "1970-01-01T00:00:00.000Z"),
        (
            datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=timezone.utc),
            "2024-02-29T23:59:59.999Z",
        ),
        (datetime(2026, 1, 1, 0, 0, 0, 7000, tzinfo=timezone.utc), "2026-01-01T00:00:00.007Z"),
        (datetime(2025, 11, 25, 12, 0, 0, 250000, tzinfo=timezone.utc), "2025-11-25T12:00:00.250Z"),
    ],
)
def test_timestamp_is_iso_utc_with_milliseconds_and_z(moment: datetime, text: str) -> None:
    """Exactly ``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC, milliseconds always three digits."""
    rendered = format_timestamp(moment.timestamp())
    assert rendered == text
    assert ISO_MS_Z.match(rendered)
    assert rendered == moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def test_timestamp_rounds_to_the_nearest_millisecond() -> None:
    """Sub-millisecond clock readings become the nearest millisecond, never a 4th digit."""
    almost = MOMENT + timedelta(microseconds=999)
    assert format_timestamp(almost.timestamp()) == "2020-12-08T09:08:57.716Z"
    just_after = MOMENT + timedelta(microseconds=200)
    assert format_timestamp(just_after.timestamp()) == STAMP


class Recorder(Resource):
    """Answers every request with an empty success envelope and keeps what arrived."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[bytes, bytes, dict[str, str], bytes]] = []

    def render(self, request: Request) -> bytes:
        headers = {
            name.decode().lower(): values[0].decode()
            for name, values in request.requestHeaders.getAllRawHeaders()
        }
        body = request.content.read() if request.content is not None else b""
        self.seen.append((request.method, request.uri, headers, body))
        return b'{"code":"0","msg":"","data":[]}'


def test_the_wire_carries_what_the_recipe_signs() -> None:
    """
    Through the real client: the signature on the received request verifies, by the
    recipe, against the method, raw URI, timestamp header and raw body *as received*.
    """
    recorder = Recorder()
    agent = RequestTraversalAgent(recorder)
    clock = Clock()
    clock.advance(MOMENT.timestamp())
    client = OkxClient(
        http=HTTPClient(agent, data_to_body_producer=BytesProducer),
        clock=clock,
        base_url="https://www.okx.com",
    )
    calls: list[Deferred[object]] = [
        Deferred.fromCoroutine(
            client.get("/api/v5/account/balance", {"ccy": "BTC,ETH"}, credentials=CREDS)
        ),
        Deferred.fromCoroutine(
            client.post(
                "/api/v5/account/set-leverage",
                {"instId": "BTC-USDT-SWAP", "lever": "5", "mgnMode": "cross"},
                credentials=CREDS,
            )
        ),
    ]
    agent.flush()
    for call in calls:
        assert call.called
    (
        (get_method, get_uri, get_headers, get_body),
        (post_method, post_uri, post_headers, post_body),
    ) = recorder.seen
    assert (get_method, get_uri, get_body) == (
        b"GET",
        b"/api/v5/account/balance?ccy=BTC,ETH",
        b"",
    )
    assert (post_method, post_uri) == (b"POST", b"/api/v5/account/set-leverage")
    assert post_body == b'{"instId":"BTC-USDT-SWAP","lever":"5","mgnMode":"cross"}'
    for method, uri, headers, body in recorder.seen:
        assert headers["ok-access-timestamp"] == STAMP
        assert headers["ok-access-sign"] == okx_signature(
            SECRET, STAMP, method.decode(), uri.decode(), body.decode()
        )
        assert headers["content-type"] == "application/json"
