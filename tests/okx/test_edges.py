"""
What the CDN and gateways in front of OKX send, through the client: empty 429s are rate
limiting (a read waits and retries), HTML pages give an error naming the status and never
the page, and any reply to a write that is not OKX's envelope leaves its outcome unknown.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from fmzokx.okx.errors import (
    OkxApiError,
    OkxHttpError,
    OkxHttpRateLimited,
    OkxRateLimited,
)
from fmzokx.okx.placement.orders import is_ambiguous
from fmzokx.okx.rest.retry import RetryPolicy

from .support import CREDS, RESTING_BUY, Harness

TICKER = "/api/v5/market/ticker"
ORDER = "/api/v5/trade/order"
QUERY = {"instId": "BTC-USDT"}


def setup(**options: Any) -> Harness:
    options.setdefault("retry", RetryPolicy(rng=random.Random(99)))
    return Harness(**options)


def test_empty_429_on_a_read_waits_and_retries() -> None:
    """Two bodiless 429s, then the ticker: three requests, each retry at least 1 s later."""
    h = setup()
    h.sim.add_fault(TICKER, "empty", count=2)
    reply = h.run(h.client.get(TICKER, QUERY))
    assert reply.code == "0"
    times = h.times(TICKER)
    assert len(times) == 3
    assert all(later - earlier >= 1.0 for earlier, later in zip(times, times[1:], strict=False))


def test_empty_429_that_persists_is_rate_limiting() -> None:
    """Still 429 after every retry: OkxRateLimited naming the status and the empty body."""
    h = setup()
    h.sim.add_fault(TICKER, "empty", count=-1)
    error = h.failure(h.client.get(TICKER, QUERY))
    assert isinstance(error, OkxHttpRateLimited) and isinstance(error, OkxRateLimited)
    assert h.count(TICKER) == 4
    assert str(error) == (
        "GET /api/v5/market/ticker: HTTP 429 without an OKX reply (an empty body): "
        "too many requests; slow down"
    )


def test_html_403_on_a_read_is_not_retried_and_not_dumped() -> None:
    """A CDN's 403 page: one request, an error naming the status, no HTML in it."""
    h = setup()
    h.sim.add_fault(TICKER, "html", count=-1)
    error = h.failure(h.client.get(TICKER, QUERY))
    assert isinstance(error, OkxHttpError) and not isinstance(error, OkxRateLimited)
    assert (error.http_status, error.code, error.outcome_unknown) == (403, "", False)
    assert h.count(TICKER) == 1
    text = str(error)
    assert text.startswith("GET /api/v5/market/ticker: HTTP 403 without an OKX reply (an HTML "
                           "page of ")
    assert "OKX's edge refused the request" in text
    assert "<" not in text and "could not be satisfied" not in text


@pytest.mark.parametrize(
    ("status", "says"),
    [(502, "OKX's gateway could not reach OKX"), (503, "maintenance or overload"),
     (504, "timed out"), (520, "OKX failed")],
)
def test_html_5xx_on_a_read_is_retried_then_named(status: int, says: str) -> None:
    """Gateway and maintenance pages are retried like any 5xx, then named by status."""
    h = setup()
    h.sim.add_fault(TICKER, "html", status=status, count=-1)
    error = h.failure(h.client.get(TICKER, QUERY))
    assert isinstance(error, OkxHttpError)
    assert h.count(TICKER) == 4
    assert f"HTTP {status} without an OKX reply" in str(error) and says in str(error)
    assert "<" not in str(error)


def test_busy_50013_is_retried_on_reads_not_taken_for_rate_limiting() -> None:
    """50013 comes as HTTP 429 but is a busy code: a read retries it like 50001."""
    h = setup()
    h.sim.add_fault(TICKER, "busy-50013", count=2)
    assert h.run(h.client.get(TICKER, QUERY)).code == "0"
    assert h.count(TICKER) == 3


@pytest.mark.parametrize(
    ("mode", "status"),
    [("html", 403), ("html", 429), ("empty", 429), ("empty", 404), ("busy-50013", None),
     ("busy-50004", None), ("timeout-51054", None), ("order-timeout-51149", None)],
)
def test_unclear_write_replies_leave_the_outcome_unknown(mode: str, status: int | None) -> None:
    """
    A write answered by anything but OKX's envelope, or by a code OKX calls unknown or
    busy: never retried here, and ambiguous, so the order layer reconciles it.
    """
    h = setup()
    h.sim.add_fault(ORDER, mode, status=status)
    error = h.failure(h.client.post(ORDER, RESTING_BUY, credentials=CREDS))
    assert isinstance(error, OkxApiError)
    assert is_ambiguous(error)
    assert h.count(ORDER) == 1
    if isinstance(error, OkxHttpError):
        assert error.outcome_unknown
        assert str(error).endswith("; OKX may or may not have processed it")


def test_okx_s_own_refusals_stay_definite() -> None:
    """OKX's 50011 envelope and a per-item 51008 are answers, not doubts."""
    h = setup()
    h.sim.add_fault(ORDER, "rate-limit")
    limited = h.failure(h.client.post(ORDER, RESTING_BUY, credentials=CREDS))
    assert isinstance(limited, OkxRateLimited) and not is_ambiguous(limited)
    refused = h.failure(h.client.post(ORDER, dict(RESTING_BUY, sz="1000"), credentials=CREDS))
    assert isinstance(refused, OkxApiError) and not is_ambiguous(refused)
    assert [item.code for item in refused.items] == ["51008"]
