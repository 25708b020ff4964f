"""
OKX authentication as the simulator enforces it: the signature over the raw request
target and raw body, the ±30 s timestamp window, and every 501xx code with its 401 body.
"""

from __future__ import annotations

import json

import pytest

from fmzokx.okx.rest.signing import format_timestamp, sign
from fmzokx.sim import DEFAULT_ACCOUNT, SimAccount

from .support import Harness

GOLDEN_SECRET = "22582BD0CFF14C41EDBF1AB98506286D"
GOLDEN_TIME = "2020-12-08T09:08:57.715Z"
GOLDEN = SimAccount(key="golden-key", secret=GOLDEN_SECRET, passphrase="golden-pass")


def golden_harness() -> Harness:
    harness = Harness(accounts=[GOLDEN])
    harness.clock.advance(1_607_418_537.715 - harness.clock.seconds())
    return harness


def test_golden_get_vector_is_accepted() -> None:
    """A signature computed outside this project (okx-api.md §2, GET row) authenticates."""
    harness = golden_harness()
    headers = {
        "OK-ACCESS-KEY": GOLDEN.key,
        "OK-ACCESS-PASSPHRASE": GOLDEN.passphrase,
        "OK-ACCESS-TIMESTAMP": GOLDEN_TIME,
        "OK-ACCESS-SIGN": "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY=",
    }
    status, body = harness.send("GET", "/api/v5/account/balance?ccy=BTC", None, headers)
    assert (status, body["code"]) == (200, "0")
    assert [row["ccy"] for row in body["data"][0]["details"]] == ["BTC"]


@pytest.mark.parametrize(
    "body, signature",
    [
        (
            b'{"instId":"BTC-USDT","lever":"5","mgnMode":"isolated"}',
            "eCnnCgWLjlQ9XnpUkrcny3qNq3WW/81KNrDr/XR6Xv8=",
        ),
        (
            b'{"instId": "BTC-USDT", "lever": "5", "mgnMode": "isolated"}',
            "/XctMG4gU+l0Tv1E5CsSdhrndN0MZxclhFp3+SFofI8=",
        ),
    ],
)
def test_golden_post_vectors_are_accepted(body: bytes, signature: str) -> None:
    """
    Both published POST vectors authenticate: the compact body and python-okx's spaced
    ``json.dumps`` body, each against its own bytes. (The request then fails on its merits:
    leverage cannot be set on a spot pair, which is a 400 with code 51000, not a 401.)
    """
    harness = golden_harness()
    headers = {
        "OK-ACCESS-KEY": GOLDEN.key,
        "OK-ACCESS-PASSPHRASE": GOLDEN.passphrase,
        "OK-ACCESS-TIMESTAMP": GOLDEN_TIME,
        "OK-ACCESS-SIGN": signature,
        "Content-Type": "application/json",
    }
    status, reply = harness.send("POST", "/api/v5/account/set-leverage", body, headers)
    assert (status, reply["code"]) == (400, "51000")


def test_reserialised_body_is_rejected() -> None:
    """Signing the compact JSON but sending the spaced one is a bad signature (50113)."""
    harness = Harness()
    compact = b'{"instId":"BTC-USDT"}'
    spaced = b'{"instId": "BTC-USDT"}'
    headers = harness.headers("POST", "/api/v5/trade/cancel-order", compact)
    status, body = harness.send("POST", "/api/v5/trade/cancel-order", spaced, headers)
    assert status == 401
    assert body == {"msg": "Invalid Sign", "code": "50113"}


def test_python_okx_style_body_with_spaces_and_unicode() -> None:
    """
    A body built like python-okx (``json.dumps`` with spaces, non-ASCII escaped) and one
    with raw UTF-8 both authenticate; the simulator signs nothing itself.
    """
    harness = Harness()
    for text in (
        json.dumps({"instId": "BTC-USDT", "ordId": "1", "note": "naïve 日本"}),
        json.dumps({"instId": "BTC-USDT", "ordId": "1", "note": "naïve 日本"}, ensure_ascii=False),
    ):
        body = text.encode("utf-8")
        headers = harness.headers("POST", "/api/v5/trade/cancel-order", body)
        status, reply = harness.send("POST", "/api/v5/trade/cancel-order", body, headers)
        assert status == 200
        assert reply["data"][0]["sCode"] == "51400"


@pytest.mark.parametrize(
    "target",
    [
        "/api/v5/trade/orders-history?instType=SPOT&state=filled&limit=5",
        "/api/v5/trade/orders-history?limit=5&instType=SPOT",
        "/api/v5/account/balance?ccy=BTC%2CUSDT",
        "/api/v5/account/balance?ccy=BTC,USDT",
        "/api/v5/trade/orders-pending?instId=BTC-USDT&ordType=limit%2Cpost_only",
        "/api/v5/account/balance?ccy=%E6%97%A5%20X",
    ],
)
def test_query_is_verified_as_sent(target: str) -> None:
    """Any key order and any encoding of the query authenticates when signed as sent."""
    harness = Harness()
    status, body = harness.get(target)
    assert (status, body["code"]) == (200, "0")


def test_reencoded_query_is_rejected() -> None:
    """Signing ``%2C`` but sending ``,`` changes the signed bytes: 50113."""
    harness = Harness()
    headers = harness.headers("GET", "/api/v5/account/balance?ccy=BTC%2CUSDT", b"")
    status, body = harness.send("GET", "/api/v5/account/balance?ccy=BTC,USDT", None, headers)
    assert (status, body["code"]) == (401, "50113")


@pytest.mark.parametrize(
    "header, code",
    [
        ("OK-ACCESS-KEY", "50103"),
        ("OK-ACCESS-PASSPHRASE", "50104"),
        ("OK-ACCESS-SIGN", "50106"),
        ("OK-ACCESS-TIMESTAMP", "50107"),
    ],
)
def test_missing_header(header: str, code: str) -> None:
    """Each missing auth header has its own 401 code, with ``msg`` and ``code`` only."""
    harness = Harness()
    headers = harness.headers("GET", "/api/v5/account/balance", b"")
    del headers[header]
    status, body = harness.send("GET", "/api/v5/account/balance", None, headers)
    assert status == 401
    assert set(body) == {"msg", "code"}
    assert body["code"] == code


@pytest.mark.parametrize(
    "stamp", ["1607418537715", "2020-12-08T09:08:57Z", "2020-12-08 09:08:57.715Z", "soon"]
)
def test_unparseable_timestamp(stamp: str) -> None:
    """A timestamp that is not ISO 8601 with milliseconds and Z is 50112."""
    harness = Harness()
    headers = harness.headers("GET", "/api/v5/account/balance", b"", timestamp=stamp)
    status, body = harness.send("GET", "/api/v5/account/balance", None, headers)
    assert (status, body["code"]) == (401, "50112")


@pytest.mark.parametrize(
    "offset, accepted",
    [(30.0, True), (-30.0, True), (30.001, False), (-30.001, False), (3600, False)],
)
def test_timestamp_window(offset: float, accepted: bool) -> None:
    """Timestamps within ±30 s of the simulator clock pass; beyond that it is 50102."""
    harness = Harness()
    stamp = format_timestamp(harness.clock.seconds() + offset)
    headers = harness.headers("GET", "/api/v5/account/balance", b"", timestamp=stamp)
    status, body = harness.send("GET", "/api/v5/account/balance", None, headers)
    if accepted:
        assert (status, body["code"]) == (200, "0")
    else:
        assert status == 401
        assert body == {"msg": "Timestamp request expired", "code": "50102"}


def test_unknown_key() -> None:
    """A key the simulator does not know is 50111."""
    harness = Harness()
    stranger = SimAccount(key="nobody", secret="s", passphrase="p")
    headers = harness.headers("GET", "/api/v5/account/balance", b"", account=stranger)
    status, body = harness.send("GET", "/api/v5/account/balance", None, headers)
    assert (status, body) == (401, {"msg": "Invalid OK-ACCESS-KEY", "code": "50111"})


def test_wrong_passphrase() -> None:
    """The right key with another passphrase is 50105."""
    harness = Harness()
    wrong = SimAccount(key=DEFAULT_ACCOUNT.key, secret=DEFAULT_ACCOUNT.secret, passphrase="x")
    headers = harness.headers("GET", "/api/v5/account/balance", b"", account=wrong)
    status, body = harness.send("GET", "/api/v5/account/balance", None, headers)
    assert (status, body["code"]) == (401, "50105")


def test_wrong_secret() -> None:
    """A signature made with another secret is 50113."""
    harness = Harness()
    wrong = SimAccount(
        key=DEFAULT_ACCOUNT.key, secret="other", passphrase=DEFAULT_ACCOUNT.passphrase
    )
    headers = harness.headers("GET", "/api/v5/account/balance", b"", account=wrong)
    status, body = harness.send("GET", "/api/v5/account/balance", None, headers)
    assert (status, body["code"]) == (401, "50113")


def test_method_is_part_of_the_signature() -> None:
    """A GET signature does not authenticate the same target as a POST."""
    harness = Harness()
    stamp = format_timestamp(harness.clock.seconds())
    headers = harness.headers("GET", "/api/v5/trade/cancel-order", b"", timestamp=stamp)
    headers["OK-ACCESS-SIGN"] = sign(
        DEFAULT_ACCOUNT.secret, stamp, "GET", "/api/v5/trade/cancel-order", b""
    )
    status, body = harness.send("POST", "/api/v5/trade/cancel-order", b"", headers)
    assert (status, body["code"]) == (401, "50113")


DEMO = SimAccount(key="demo-key", secret="demo-secret", passphrase="demo-pass", demo=True)


@pytest.mark.parametrize(
    ("demo", "flag", "code"),
    [
        (False, None, "0"),
        (False, "0", "0"),
        (False, "1", "50101"),
        (True, "1", "0"),
        (True, None, "50101"),
        (True, "0", "50101"),
    ],
)
def test_simulated_trading_header_must_match_the_key(
    demo: bool, flag: str | None, code: str
) -> None:
    """
    A demo-trading key only with ``x-simulated-trading: 1``, a live key only without it;
    anything else is 50101 "APIKey does not match current environment" (HTTP 401).
    """
    account = DEMO if demo else DEFAULT_ACCOUNT
    harness = Harness(accounts=[account])
    headers = harness.headers("GET", "/api/v5/account/balance", b"", account=account)
    if flag is not None:
        headers["x-simulated-trading"] = flag
    status, body = harness.send("GET", "/api/v5/account/balance", None, headers)
    assert (status, body["code"]) == ((200, "0") if code == "0" else (401, code))
    if code != "0":
        assert body == {"msg": "APIKey does not match current environment.", "code": "50101"}


def test_public_endpoints_ignore_the_simulated_trading_header() -> None:
    """Market data answers demo and live clients alike."""
    harness = Harness()
    status, body = harness.send(
        "GET", "/api/v5/public/time", None, {"x-simulated-trading": "1"}
    )
    assert (status, body["code"]) == (200, "0")


def test_public_endpoints_need_no_auth_and_ignore_bad_headers() -> None:
    """Public endpoints answer without headers, and do not check headers that are sent."""
    harness = Harness()
    assert harness.ok("/api/v5/public/time", private=False)
    bad = {"OK-ACCESS-KEY": "nobody", "OK-ACCESS-SIGN": "x", "OK-ACCESS-TIMESTAMP": "y"}
    status, body = harness.send("GET", "/api/v5/public/time", None, bad)
    assert (status, body["code"]) == (200, "0")


def test_private_endpoint_without_headers() -> None:
    """A private endpoint called anonymously is 50103 (no key)."""
    harness = Harness()
    status, body = harness.get("/api/v5/account/balance", private=False)
    assert (status, body["code"]) == (401, "50103")


def test_authentication_comes_before_parsing() -> None:
    """A badly signed request with a broken body is refused for its signature (401)."""
    harness = Harness()
    headers = harness.headers("POST", "/api/v5/trade/order", b"{}")
    status, body = harness.send("POST", "/api/v5/trade/order", b"{broken", headers)
    assert (status, body["code"]) == (401, "50113")
