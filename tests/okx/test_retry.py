"""
Retry policy: which failures are retried, how many times, after which waits; writes
never blindly repeated; 50102 answered by one resync and one re-signed resend.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fmzokx.okx.errors import (
    OkxApiError,
    OkxAuthError,
    OkxError,
    OkxHttpError,
    OkxMalformedResponse,
    OkxRateLimited,
    OkxTimeout,
    OkxTransportError,
)
from fmzokx.okx.rest.retry import RetryPolicy, is_retryable_read

from .support import CREDS, NOW, RESTING_BUY, Harness, envelope

SEED = 1234
TIME = "/api/v5/public/time"
TICKER = "/api/v5/market/ticker"
BALANCE = "/api/v5/account/balance"
ORDER = "/api/v5/trade/order"


def setup(**options: Any) -> Harness:
    options.setdefault("retry", RetryPolicy(rng=random.Random(SEED)))
    return Harness(**options)


def http_500(h: Harness, path: str, count: int = 1) -> None:
    """The next ``count`` requests to ``path`` get a bare 500 HTML page."""
    h.sim.add_fault(path, "reply", count=count, status=500,
                    body=b"<html>Internal Server Error</html>", content_type="text/html")


def rate_limited(h: Harness, path: str, count: int = 1) -> None:
    """The next ``count`` requests to ``path`` get 429 with code 50011."""
    h.sim.add_fault(path, "rate-limit", count=count)


def test_read_retried_on_5xx_until_success() -> None:
    """Three 500s then a good answer: four requests, and the caller sees only the success."""
    h = setup()
    http_500(h, TIME, 3)
    reply = h.run(h.client.get(TIME))
    assert reply.code == "0"
    assert h.count(TIME) == 4


def test_backoff_intervals_are_full_jitter_from_injected_random() -> None:
    """
    The gaps between attempts are exactly the policy's delays: uniform in
    [0, min(cap, base * 2**(n-1))], drawn from the injected, seeded Random.
    """
    h = setup()
    http_500(h, TIME, 3)
    h.run(h.client.get(TIME))
    times = h.times(TIME)
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    rng = random.Random(SEED)
    expected = [rng.uniform(0, min(4.0, 0.25 * 2**n)) for n in range(3)]
    assert gaps == pytest.approx(expected, abs=0.011)
    assert all(0 <= gap <= 0.25 * 2**n + 0.011 for n, gap in enumerate(gaps))


def test_retry_count_is_bounded() -> None:
    """A read that keeps failing stops after max_attempts and raises the last failure."""
    h = setup()
    http_500(h, TIME, 10)
    error = h.failure(h.client.get(TIME))
    assert isinstance(error, OkxHttpError)
    assert error.http_status == 500
    assert h.count(TIME) == 4


def test_rate_limited_read_backs_off_at_least_a_second() -> None:
    """After 50011/429 the next attempt waits at least 1 s (OKX's window is 2 s)."""
    h = setup()
    rate_limited(h, TIME, 2)
    h.run(h.client.get(TIME))
    times = h.times(TIME)
    assert len(times) == 3
    assert all(later - earlier >= 1.0 for earlier, later in zip(times, times[1:], strict=False))


def test_rate_limited_after_retries_is_typed() -> None:
    """Rate limiting that outlasts the retries surfaces as OkxRateLimited."""
    h = setup()
    rate_limited(h, TIME, 10)
    error = h.failure(h.client.get(TIME))
    assert isinstance(error, OkxRateLimited)
    assert (error.code, error.http_status) == ("50011", 429)


def test_busy_codes_and_malformed_bodies_are_retried() -> None:
    """50001/50013/50026 envelopes and non-JSON bodies are retried for reads."""
    h = setup(retry=RetryPolicy(max_attempts=5, rng=random.Random(SEED)))
    h.sim.add_fault(TIME, "http-503")
    h.sim.add_fault(TIME, "reply", body=envelope([], code="50013", msg="Systems are busy"))
    h.sim.add_fault(TIME, "http-500")
    h.sim.add_fault(TIME, "reply", body=b"<html>oops</html>", content_type="text/html")
    assert h.run(h.client.get(TIME)).code == "0"
    assert h.count(TIME) == 5


def test_business_errors_are_not_retried() -> None:
    """A definite refusal (51001) is final: one request."""
    h = setup()
    error = h.failure(h.client.get(TICKER, {"instId": "NOPE-USDT"}))
    assert isinstance(error, OkxApiError) and error.code == "51001"
    assert h.count(TICKER) == 1


def test_writes_are_never_retried() -> None:
    """A POST that meets a 500 is sent once and reported as outcome unknown."""
    h = setup()
    http_500(h, ORDER)
    error = h.failure(h.client.post(ORDER, RESTING_BUY, credentials=CREDS))
    assert isinstance(error, OkxHttpError)
    assert error.outcome_unknown is True
    assert h.count(ORDER) == 1


def test_rate_limited_write_is_not_retried() -> None:
    """A POST refused with 50011 raises OkxRateLimited at once (it was not processed)."""
    h = setup()
    rate_limited(h, ORDER)
    error = h.failure(h.client.post(ORDER, RESTING_BUY, credentials=CREDS))
    assert isinstance(error, OkxRateLimited)
    assert error.outcome_unknown is False
    assert h.count(ORDER) == 1


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("GET", BALANCE, {"ccy": "USDT"}),
        ("POST", "/api/v5/account/set-position-mode", {"posMode": "net_mode"}),
    ],
)
def test_50102_resyncs_and_resends_once(method: str, path: str, params: dict[str, str]) -> None:
    """
    50102 (timestamp expired) triggers a clock resync and one re-signed resend, for
    writes too: OKX refuses such a request before processing it.
    """
    h = setup()
    h.skew(45.0)
    reply = h.run(h.client.request(method, path, params, credentials=CREDS))
    assert reply.code == "0"
    assert h.count(path) == 2
    assert h.count(TIME) == 3
    assert h.client.clock_offset == pytest.approx(45.0, abs=0.01)


def test_repeated_50102_gives_up_with_auth_error() -> None:
    """If OKX still says 50102 after the resync, the call fails with a clear OkxAuthError."""
    h = setup()
    h.sim.add_fault(ORDER, "expired-timestamp", count=2)
    error = h.failure(h.client.post(ORDER, RESTING_BUY, credentials=CREDS))
    assert isinstance(error, OkxAuthError)
    assert error.code == "50102"
    assert "differ by more than 30 s" in str(error)
    assert h.count(ORDER) == 2
    assert h.sim.state()["orders"] == []


def test_backoff_never_overruns_the_deadline() -> None:
    """A retry whose backoff would end after the call's deadline is not attempted."""
    h = setup(timeout=1.5)
    rate_limited(h, TIME, 10)
    error = h.failure(h.client.get(TIME))
    assert isinstance(error, OkxRateLimited)
    assert h.count(TIME) <= 2
    assert h.clock.seconds() - NOW <= 1.5


ERRORS: list[tuple[OkxError, bool]] = [
    (OkxAuthError("50113", "Invalid Sign", http_status=401), False),
    (OkxRateLimited("50011", "Too Many", http_status=429), True),
    (OkxApiError("50001", "busy", http_status=503), True),
    (OkxApiError("50013", "busy"), True),
    (OkxApiError("51000", "Parameter error", http_status=400), False),
    (OkxHttpError("", "HTTP 502", http_status=502), True),
    (OkxHttpError("", "HTTP 404", http_status=404), False),
    (OkxTimeout("connect", 5), True),
    (OkxTimeout("headers", 8), True),
    (OkxTimeout("body", 5), True),
    (OkxTimeout("total", 10), False),
    (OkxTimeout("pacing", 5), False),
    (OkxTransportError("reset"), True),
    (OkxTransportError("certificate verify failed", tls=True), False),
    (OkxMalformedResponse("not json"), True),
]


@pytest.mark.parametrize(("error", "retryable"), ERRORS)
def test_classification(error: OkxError, retryable: bool) -> None:
    """Each kind of failure is classified as retryable for reads, or not."""
    assert is_retryable_read(error) is retryable


@given(attempt=st.integers(min_value=1, max_value=30), seed=st.integers())
def test_delay_is_within_capped_bounds(attempt: int, seed: int) -> None:
    """Delays lie in [0, min(cap, base*2**(n-1))], plus the floor when rate limited."""
    policy = RetryPolicy(rng=random.Random(seed))
    ceiling = min(policy.cap, policy.base * 2 ** (attempt - 1))
    plain = policy.delay(attempt, OkxTimeout("headers", 8))
    limited = policy.delay(attempt, OkxRateLimited("50011", "x", http_status=429))
    assert 0 <= plain <= ceiling
    assert policy.rate_limit_floor <= limited <= policy.rate_limit_floor + ceiling


def test_50102_with_failed_resync_reports_the_50102() -> None:
    """
    If the resync itself fails, the caller gets the original 50102, not the sync error;
    the next call resyncs successfully and goes through.
    """
    h = setup()
    h.skew(45.0)
    h.sim.add_fault(TIME, "reply", count=3, status=502, body=b"x", content_type="text/plain")
    error = h.failure(h.client.get(BALANCE, {}, credentials=CREDS))
    assert isinstance(error, OkxAuthError) and error.code == "50102"
    assert h.count(BALANCE) == 1
    reply = h.run(h.client.request("GET", BALANCE, {}, credentials=CREDS, check_code=False))
    assert reply.code == "0"
