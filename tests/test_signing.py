"""OKX signing: golden vectors and the exact-bytes rule."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fmzokx.okx.rest.signing import (
    encode_body,
    encode_query,
    format_timestamp,
    parse_timestamp,
    sign,
    verify,
)

SECRET = "22582BD0CFF14C41EDBF1AB98506286D"
TS = "2020-12-08T09:08:57.715Z"


def test_golden_get_with_query() -> None:
    """GET with a query signs path+query (vector computed in research/okx-api.md)."""
    assert (
        sign(SECRET, TS, "GET", "/api/v5/account/balance?ccy=BTC", b"")
        == "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY="
    )


def test_golden_post_compact_and_spaced() -> None:
    """The signature covers body bytes as sent: compact and spaced JSON differ."""
    compact = b'{"instId":"BTC-USDT","lever":"5","mgnMode":"isolated"}'
    spaced = b'{"instId": "BTC-USDT", "lever": "5", "mgnMode": "isolated"}'
    path = "/api/v5/account/set-leverage"
    assert sign(SECRET, TS, "POST", path, compact) == "eCnnCgWLjlQ9XnpUkrcny3qNq3WW/81KNrDr/XR6Xv8="
    assert sign(SECRET, TS, "POST", path, spaced) == "/XctMG4gU+l0Tv1E5CsSdhrndN0MZxclhFp3+SFofI8="
    assert encode_body({"instId": "BTC-USDT", "lever": "5", "mgnMode": "isolated"}) == compact


def test_method_is_upper_cased() -> None:
    """'get' and 'GET' sign the same."""
    assert sign(SECRET, TS, "get", "/x", b"") == sign(SECRET, TS, "GET", "/x", b"")


def test_timestamp_format_round_trip() -> None:
    """Timestamps are ISO 8601 UTC with milliseconds and Z."""
    assert format_timestamp(1607418537.715) == TS
    assert parse_timestamp(TS) == 1607418537.715
    assert format_timestamp(0) == "1970-01-01T00:00:00.000Z"


def test_parse_timestamp_refuses_other_forms() -> None:
    """Unix milliseconds or a missing Z are not timestamps OKX accepts."""
    for text in ("1607418537715", "2020-12-08T09:08:57Z", "2020-12-08T09:08:57.715", ""):
        try:
            parse_timestamp(text)
        except ValueError:
            continue
        raise AssertionError(f"{text!r} was accepted")


def test_query_order_empty_values_and_escapes() -> None:
    """Insertion order kept, empty values dropped, reserved characters escaped."""
    query = encode_query({"instId": "BTC-USDT,ETH-USDT", "after": "", "x": "a b&c=d/é", "n": 5})
    assert query == "instId=BTC-USDT,ETH-USDT&x=a%20b%26c%3Dd%2F%C3%A9&n=5"


@given(
    secret=st.text(min_size=1),
    path=st.text(),
    body=st.binary(),
    millis=st.integers(min_value=0, max_value=4102444800000),
)
def test_verify_accepts_own_signature_and_rejects_tampering(
    secret: str, path: str, body: bytes, millis: int
) -> None:
    """verify() accepts sign()'s output and rejects any change to the body."""
    ts = format_timestamp(millis / 1000)
    signature = sign(secret, ts, "POST", path, body)
    assert verify(secret, signature, ts, "POST", path, body)
    assert not verify(secret, signature, ts, "POST", path, body + b"x")
    assert parse_timestamp(ts) * 1000 == millis or abs(parse_timestamp(ts) * 1000 - millis) < 1e-3
