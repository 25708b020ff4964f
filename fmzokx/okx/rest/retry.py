# -*- test-case-name: tests.okx.test_retry -*-
"""
When an idempotent read is worth repeating, and how long to wait first.

Reads are retried on failures that say nothing about the request itself: connection
errors, deadlines of a single attempt, 5xx, OKX's "busy" codes
(:data:`~fmzokx.okx.codes.BUSY`), rate limiting (:data:`~fmzokx.okx.codes.RATE_LIMITED`,
HTTP 429) and bodies that are not an OKX envelope. Auth
errors are never retried: repeating a bad signature only gets the key locked. Nor are
TLS failures: a certificate that failed verification will fail it again.

Writes are **never** retried here (the order-safety layer reconciles them by clOrdId);
the one exception, a resend after 50102, is handled by the client (see its docstring).

Delays are capped exponential backoff with full jitter drawn from an injected
``random.Random``, so tests can predict them; the ceiling is the daemon's one schedule,
:func:`fmzokx.backoff.ceiling` (reconnects draw from its upper half instead). A
rate-limited attempt waits at least ``rate_limit_floor`` seconds (OKX's window is 2 s;
hammering it only extends the ban).
"""

from __future__ import annotations

import random

from attrs import field, frozen

from fmzokx.backoff import ceiling
from fmzokx.okx.codes import BUSY
from fmzokx.okx.errors import (
    OkxApiError,
    OkxAuthError,
    OkxError,
    OkxMalformedResponse,
    OkxRateLimited,
    OkxTimeout,
    OkxTransportError,
)

__all__ = ["RetryPolicy", "is_retryable_read"]


def is_retryable_read(error: OkxError) -> bool:
    """Whether repeating an idempotent read could succeed where this attempt failed."""
    if isinstance(error, OkxAuthError):
        return False
    if isinstance(error, OkxRateLimited):
        return True
    if isinstance(error, OkxApiError):
        return error.http_status >= 500 or error.code in BUSY
    if isinstance(error, OkxTimeout):
        return error.phase in ("connect", "headers", "body")
    if isinstance(error, OkxTransportError):
        return not error.tls
    return isinstance(error, OkxMalformedResponse)


@frozen
class RetryPolicy:
    """
    :ivar max_attempts: attempts in total, the first included.
    :ivar base: the first backoff ceiling, in seconds; doubled per attempt.
    :ivar cap: the largest backoff ceiling.
    :ivar rate_limit_floor: the least wait after a rate-limited attempt.
    """

    max_attempts: int = 4
    base: float = 0.25
    cap: float = 4.0
    rate_limit_floor: float = 1.0
    rng: random.Random = field(factory=lambda: random.Random(), eq=False)

    def delay(self, attempt: int, error: OkxError) -> float:
        """
        Seconds to wait after failed attempt number ``attempt`` (1-based).

        Full jitter: uniform in ``[0, min(cap, base * 2**(attempt-1))]``, plus
        ``rate_limit_floor`` when OKX said "too many requests".
        """
        wait = self.rng.uniform(0.0, ceiling(attempt, self.base, self.cap))
        if isinstance(error, OkxRateLimited):
            wait += self.rate_limit_floor
        return wait
