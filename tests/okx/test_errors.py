"""
The error types: the most specific class for each OKX code, messages that say what is
wrong, and per-item results read safely from any payload.
"""

from __future__ import annotations

import pytest

from fmzokx.okx.errors import (
    AUTH_CODES,
    ItemResult,
    OkxApiError,
    OkxAuthError,
    OkxError,
    OkxPaginationError,
    OkxRateLimited,
    OkxTimeout,
    OkxTransportError,
    api_error,
    items_from_payload,
)


@pytest.mark.parametrize("code", sorted(AUTH_CODES))
def test_auth_codes_become_auth_errors_with_advice(code: str) -> None:
    """Every 501xx/50030/50120 code is an OkxAuthError whose message adds its advice."""
    error = api_error(code, "msg", http_status=401, path="/p", method="GET", payload=None)
    assert isinstance(error, OkxAuthError)
    assert AUTH_CODES[code] in str(error)


def test_rate_limit_by_code_or_status() -> None:
    """50011 (HTTP 200 or 429) and any HTTP 429 are OkxRateLimited."""
    for code, status in (("50011", 200), ("50011", 429), ("50061", 429)):
        error = api_error(
            code, "Too Many", http_status=status, path="/p", method="GET", payload=None
        )
        assert isinstance(error, OkxRateLimited)


def test_plain_refusal_message() -> None:
    """A refusal names method, path, code, msg and a non-200 status."""
    error = api_error(
        "51000",
        "Parameter sz error",
        http_status=400,
        path="/api/v5/trade/order",
        method="POST",
        payload=None,
    )
    assert type(error) is OkxApiError
    assert str(error) == (
        "OKX refused POST /api/v5/trade/order: code 51000 'Parameter sz error' (HTTP 400)"
    )


def test_items_are_read_from_payload() -> None:
    """Per-item results come from data elements carrying sCode; anything else is ignored."""
    payload = {
        "code": "2",
        "data": [
            {"sCode": "0", "sMsg": "Order placed", "ordId": "1"},
            {"sCode": "51008", "sMsg": "Insufficient balance", "ordId": ""},
            {"no": "sCode"},
            "junk",
        ],
    }
    items = items_from_payload(payload)
    assert items == [
        ItemResult("0", "Order placed", {"sCode": "0", "sMsg": "Order placed", "ordId": "1"}),
        ItemResult(
            "51008",
            "Insufficient balance",
            {"sCode": "51008", "sMsg": "Insufficient balance", "ordId": ""},
        ),
    ]
    error = api_error("2", "", http_status=200, path="/p", method="POST", payload=payload)
    assert str(error) == "OKX refused POST /p: sCode 51008 'Insufficient balance' (item 1); code 2"
    assert "item 0" not in str(error)
    for junk in (None, [], "x", {"data": "x"}, {"data": None}):
        assert items_from_payload(junk) == []


def test_a_refused_items_reason_comes_before_the_envelopes() -> None:
    """
    A batch OKX refused as a whole ("code 1 All operations failed") says first why: the
    refused item's sCode and sMsg; the envelope's code follows.
    """
    payload = {"code": "1", "msg": "All operations failed", "data": [
        {"sCode": "51008", "sMsg": "Order failed. Insufficient USDT balance in account",
         "ordId": ""}]}
    error = api_error("1", "All operations failed", http_status=200,
                      path="/api/v5/trade/order", method="POST", payload=payload)
    assert str(error) == (
        "OKX refused POST /api/v5/trade/order: sCode 51008 'Order failed. Insufficient USDT "
        "balance in account' (item 0); code 1 'All operations failed'"
    )


def test_outcome_unknown_is_said_in_the_message() -> None:
    """Errors for writes whose outcome is unknown say so in plain words."""
    assert "may or may not" in str(OkxTimeout("headers", 8, outcome_unknown=True))
    assert "may or may not" in str(OkxTransportError("lost", outcome_unknown=True))
    assert "may or may not" not in str(OkxTransportError("refused"))


def test_pagination_error_keeps_progress() -> None:
    """OkxPaginationError carries the pages and items fetched before the failure."""
    error = OkxPaginationError("page 3 failed", path="/p", pages=[{"code": "0"}], items=[1, 2])
    assert isinstance(error, OkxError)
    assert (error.pages, error.items, error.path) == ([{"code": "0"}], [1, 2], "/p")
