"""
A docker request's identity, built on the FMZ side, and the clOrdId the OKX side derives
from it: the same clOrdId fmzokx has always given the same request, so journals written
before keep answering repeats.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fmzokx.fmz.envelope import parse_envelope
from fmzokx.fmz.identity import RequestIdentity, request_fingerprint
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.placement.orders import client_order_id


def earlier_client_order_id(
    key: str, nonce: int, method: str, params: dict[str, Any]
) -> str:
    """How clOrdIds were made before the identity moved to the FMZ side (kept verbatim)."""
    canonical = json.dumps(
        [key, nonce, method.lower(), {k: str(v) for k, v in params.items()}],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:32]


def derived(key: str, nonce: int | None, method: str, params: dict[str, Any]) -> str:
    credentials = Credentials(key=key, secret="s", passphrase="p")
    return client_order_id(credentials, RequestIdentity.of(nonce, method, params).token)


# Computed with fmzokx before this change (commit 6223f5c), for key "a1b2c3-key".
PINNED = [
    (1730275031047002000, "trade",
     {"symbol": "BTC_USDT", "type": "buy", "price": "-1", "amount": "100"},
     "bfeb44d6fff469326fffdca55a89a082", "546e4523215743f5"),
    (7, "Trade",
     {"symbol": "ETH_USDT.swap", "type": "closebuy", "price": "2000.5", "amount": "3",
      "margin_mode": "isolated"},
     "038e69b7405dbf709b4f6aad30fd92f6", "7164af3177e477cf"),
    (0, "trade", {"symbol": "BTC_USDT", "amount": 10, "note": 'caf\u00e9 "q"'},
     "218819646f797367cb88bfc379e35fe6", "3a8e19d2f8fb1b48"),
    (-12, "buy", {}, "7eb92df421c473ddf6ffda1a7d31e8c3", "b1689bf9895fba4b"),
]


@pytest.mark.parametrize(("nonce", "method", "params", "cl_ord_id", "fingerprint"), PINNED)
def test_pinned_ids_are_unchanged(
    nonce: int, method: str, params: dict[str, Any], cl_ord_id: str, fingerprint: str
) -> None:
    """The clOrdId and the journal's request fingerprint are the ones written before."""
    identity = RequestIdentity.of(nonce, method, params)
    assert derived("a1b2c3-key", nonce, method, params) == cl_ord_id
    assert (identity.nonce, identity.fingerprint) == (nonce, fingerprint)


@given(
    key=st.text(min_size=1, max_size=40),
    nonce=st.integers(min_value=-(2**63), max_value=2**63),
    method=st.text(min_size=1, max_size=12),
    params=st.dictionaries(st.text(max_size=10), st.text(max_size=20) | st.integers(),
                           max_size=5),
)
def test_same_client_order_id_as_before(
    key: str, nonce: int, method: str, params: dict[str, Any]
) -> None:
    """For any key and request, the derived clOrdId is the one the earlier code gave."""
    assert derived(key, nonce, method, params) == earlier_client_order_id(
        key, nonce, method, params
    )


def test_identity_of_a_parsed_request() -> None:
    """From the docker's envelope: its nonce, method and params, as sent."""
    body = json.dumps({
        "access_key": "k", "secret_key": "s,p", "method": "trade", "nonce": 42,
        "params": {"symbol": "BTC_USDT", "type": "buy", "price": "-1", "amount": "5"},
    }).encode()
    request = parse_envelope(body, label="OKX")
    identity = RequestIdentity.of_request(request)
    assert identity == RequestIdentity.of(42, "trade", dict(request.params.values))
    assert identity.token is not None and identity.nonce == 42


def test_no_nonce_has_no_token() -> None:
    """Without a nonce there is nothing to tell a repeat by: no token, fresh ids."""
    identity = RequestIdentity.of(None, "trade", {"amount": "1"})
    assert identity.token is None and identity.nonce is None
    credentials = Credentials(key="a", secret="s", passphrase="p")
    assert client_order_id(credentials, None) != client_order_id(credentials, None)


def test_request_fingerprint_is_stable_and_distinct() -> None:
    a = request_fingerprint("trade", {"amount": "1", "symbol": "BTC_USDT"})
    assert a == request_fingerprint("Trade", {"symbol": "BTC_USDT", "amount": 1})
    assert a != request_fingerprint("trade", {"symbol": "BTC_USDT", "amount": 2})
    assert len(a) == 16


def test_identity_holds_no_credential() -> None:
    """The value handed to the OKX side carries neither the key nor the secret."""
    body = json.dumps({
        "access_key": "ACCESS-KEY-1", "secret_key": "SECRET-2,PASS-3", "method": "trade",
        "nonce": 9, "params": {"amount": "1"},
    }).encode()
    identity = RequestIdentity.of_request(parse_envelope(body, label="OKX"))
    shown = repr(identity).encode() + (identity.token or b"")
    for secret in (b"ACCESS-KEY-1", b"SECRET-2", b"PASS-3"):
        assert secret not in shown
