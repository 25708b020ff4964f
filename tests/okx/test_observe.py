"""
What the client reports to /metrics: attempts by path and status, retries with their
reason, 50011 and 50102 counts, the clock offset and pacing waits, all through the
daemon's real :class:`fmzokx.metrics.Metrics`, with no key or query in any label.
"""

from __future__ import annotations

from typing import Any

import pytest

from fmzokx.metrics import Metrics
from fmzokx.okx.errors import (
    OkxApiError,
    OkxError,
    OkxHttpError,
    OkxMalformedResponse,
    OkxPaginationError,
    OkxRateLimited,
    OkxTimeout,
    OkxTransportError,
    api_error,
)
from fmzokx.okx.pacing.limits import Scope
from fmzokx.okx.rest.observe import (
    FailureDetail,
    NoMetrics,
    failure_detail,
    failure_word,
    scope_word,
)
from fmzokx.okx.sizing import InvalidOrder

from .support import CREDS, KEY, Harness, outcome_of

BALANCE = "/api/v5/account/balance"


def setup(**options: Any) -> tuple[Harness, Metrics]:
    metrics = Metrics.create()
    return Harness(metrics=metrics, **options), metrics


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_attempts_retries_and_codes_are_counted() -> None:
    """A read that meets 50011 then succeeds: two attempts, one retry, one 50011."""
    h, metrics = setup()
    h.sim.add_fault(BALANCE, "rate-limit")
    h.run(h.client.get(BALANCE, {"secretish": "q"}, credentials=CREDS))
    path = BALANCE
    assert sample(metrics, "fmzokx_upstream_requests_total", path=path, status="429") == 1
    assert sample(metrics, "fmzokx_upstream_requests_total", path=path, status="200") == 1
    assert sample(metrics, "fmzokx_upstream_retries_total", path=path, reason="50011") == 1
    text = metrics.render()[0].decode()
    assert "fmzokx_okx_rate_limited" in text
    assert "secretish" not in text and KEY not in text


def test_clock_offset_is_published() -> None:
    """Each clock sync publishes the adopted offset."""
    h, metrics = setup()
    h.skew(4.5)
    h.run(h.client.sync_clock())
    assert sample(metrics, "fmzokx_clock_offset_seconds") == pytest.approx(4.5, abs=0.01)


def test_timestamp_rejections_are_counted() -> None:
    """A 50102 reply is counted, before the resync fixes it."""
    h, metrics = setup()
    h.skew(40.0)
    h.run(h.client.get(BALANCE, {}, credentials=CREDS))
    assert "fmzokx_okx_timestamp_rejected_total 1.0" in metrics.render()[0].decode()


def test_pacing_waits_are_observed_by_kind_of_limit() -> None:
    """Waits for budget are recorded under public/private/trade, never under a key."""
    h, metrics = setup(coalesce=False)
    boxes = [
        outcome_of(h.start(h.client.get("/api/v5/market/ticker", {"instId": "BTC-USDT"})))
        for _ in range(21)
    ]
    h.advance(3.0)
    assert all(box and box[0].code == "0" for box in boxes)
    assert sample(metrics, "fmzokx_pacing_wait_seconds_count", scope="public") == 21
    assert sample(metrics, "fmzokx_pacing_wait_seconds_sum", scope="public") == pytest.approx(2.1)
    assert CREDS.fingerprint not in metrics.render()[0].decode()


@pytest.mark.parametrize(
    ("error", "word"),
    [
        (OkxHttpError("", "HTTP 502", http_status=502), "http-502"),
        (OkxRateLimited("50011", "x", http_status=429), "50011"),
        (OkxApiError("", "x", http_status=500), "http-500"),
        (OkxTimeout("body", 5), "timeout-body"),
        (OkxTransportError("x", tls=True), "tls-error"),
        (OkxTransportError("x"), "connection-error"),
        (OkxMalformedResponse("x"), "malformed"),
    ],
)
def test_failure_words(error: Any, word: str) -> None:
    """Each failure has a short, bounded label."""
    assert failure_word(error) == word


def _wrapped() -> OkxPaginationError:
    try:
        raise OkxTimeout("headers", 8, path="/p", method="GET")
    except OkxTimeout as error:
        try:
            raise OkxPaginationError("page 2 failed", path="/p") from error
        except OkxPaginationError as wrapper:
            return wrapper


@pytest.mark.parametrize(
    ("error", "detail"),
    [
        # OKX said it: its code and message (a refused item's sCode first), and where.
        (api_error("1", "All operations failed", http_status=200, path="/o", method="POST",
                   payload={"data": [{"sCode": "51008", "sMsg": "no money"}]}),
         FailureDetail("51008", "no money", "POST /o")),
        (OkxApiError("51000", "bad sz", path="/o", method="POST"),
         FailureDetail("51000", "bad sz", "POST /o")),
        # OKX said nothing: no code, a word for what happened, and where.
        (OkxTimeout("headers", 8, path="/o", method="POST"),
         FailureDetail("", "", "POST /o", failure="timeout-headers")),
        (OkxHttpError("", "HTTP 502", http_status=502, path="/o", method="GET"),
         FailureDetail("", "", "GET /o", failure="http-502")),
        (OkxError("lost twice", path="/c", outcome_unknown=True),
         FailureDetail("", "", "/c", failure="outcome-unknown")),
        (_wrapped(), FailureDetail("", "", "GET /p", failure="timeout-headers")),
        # Refused here, before OKX: local, no code, no endpoint.
        (InvalidOrder("below the minimum", path="/o"), FailureDetail("", "", "", local=True)),
        (ValueError("not OKX"), None),
    ],
)
def test_failure_details_carry_okx_words_only_when_okx_said_them(
    error: BaseException, detail: FailureDetail | None
) -> None:
    assert failure_detail(error) == detail


def test_scope_words_name_the_kind_of_limit() -> None:
    """Scopes map to public/private/trade."""
    assert [scope_word(s) for s in Scope] == ["public", "public", "public", "private", "trade"]


def test_no_metrics_records_nothing() -> None:
    """The default sink accepts every call and keeps nothing."""
    sink = NoMetrics()
    sink.observe_upstream("/p", 200, 0.1)
    sink.count_retry("/p", "x")
    sink.count_okx_code("/p", "50011")
    sink.set_clock_offset(1.0)
    sink.observe_pacing_wait("public", 0.0)
    assert vars(sink) == {}
