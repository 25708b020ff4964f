# -*- test-case-name: tests.okx.test_observe -*-
"""
What the OKX client reports about itself, for ``/metrics``.

The client calls an :class:`UpstreamMetrics` at the points an operator cares about:
each HTTP attempt (path, status or failure word, duration), each retry and its reason,
the OKX codes worth alerting on (50011, 50102), every clock-offset measurement, every
wait for rate-limit budget, and every read that joined an identical waiting one.
:class:`fmzokx.metrics.Metrics` provides these methods (and keeps label values bounded
and secret-free); :class:`NoMetrics` is the default, so the client works without
Prometheus at all. The client only ever passes paths without
queries, short words and numbers here, never keys or request bodies.
"""

from __future__ import annotations

from typing import Protocol

from attrs import frozen

from fmzokx.okx.errors import (
    LocalRefusal,
    OkxApiError,
    OkxError,
    OkxHttpError,
    OkxMalformedResponse,
    OkxTimeout,
    OkxTransportError,
)
from fmzokx.okx.pacing.limits import Scope

__all__ = [
    "FailureDetail",
    "NoMetrics",
    "UpstreamMetrics",
    "failure_detail",
    "failure_word",
    "scope_word",
]


class UpstreamMetrics(Protocol):
    """The recording calls the client makes (see :class:`fmzokx.metrics.Metrics`)."""

    def observe_upstream(self, path: str, status: int | str, seconds: float) -> None:
        """One HTTP attempt: its HTTP status, or a word when no response arrived."""

    def count_retry(self, path: str, reason: str) -> None:
        """One read about to be retried, and why."""

    def count_okx_code(self, path: str, code: str | int) -> None:
        """An OKX error code seen in a reply."""

    def set_clock_offset(self, seconds: float) -> None:
        """A fresh measurement of OKX's clock minus ours."""

    def observe_pacing_wait(self, scope: str, seconds: float) -> None:
        """How long a call queued for rate-limit budget, by kind of limit."""

    def count_joined(self, path: str) -> None:
        """A read answered by an identical one still waiting for its slot (no call of its own)."""


class NoMetrics:
    """Records nothing."""

    def observe_upstream(self, path: str, status: int | str, seconds: float) -> None:
        """Record nothing."""

    def count_retry(self, path: str, reason: str) -> None:
        """Record nothing."""

    def count_okx_code(self, path: str, code: str | int) -> None:
        """Record nothing."""

    def set_clock_offset(self, seconds: float) -> None:
        """Record nothing."""

    def observe_pacing_wait(self, scope: str, seconds: float) -> None:
        """Record nothing."""

    def count_joined(self, path: str) -> None:
        """Record nothing."""


def failure_word(error: OkxError) -> str:
    """
    A short label for why an attempt failed: the OKX code, ``http-<status>``,
    ``timeout-<phase>``, ``tls-error``, ``connection-error`` or ``malformed``.
    """
    if isinstance(error, OkxHttpError):
        return f"http-{error.http_status}"
    if isinstance(error, OkxApiError):
        return error.code or f"http-{error.http_status}"
    if isinstance(error, OkxTimeout):
        return f"timeout-{error.phase}"
    if isinstance(error, OkxTransportError):
        return "tls-error" if error.tls else "connection-error"
    if isinstance(error, OkxMalformedResponse):
        return "malformed"
    return "error"


@frozen
class FailureDetail:
    """
    What a log line says about a call that failed on the OKX side or was refused before it.

    :ivar code: OKX's code -- a refused item's ``sCode`` before the envelope's ``code`` --
        or ``""`` when OKX said none (no answer, an HTTP error page, a local refusal).
    :ivar msg: OKX's message for ``code`` (``""`` without one).
    :ivar endpoint: the endpoint called (``POST /api/v5/trade/order``); ``""`` for a
        local refusal, which never had one.
    :ivar failure: why, in a word, when OKX gave no code: ``timeout-total``,
        ``connection-error``, ``http-503``... (:func:`failure_word`); ``""`` otherwise.
    :ivar local: refused by fmzokx before anything was sent (an order below OKX's minimum
        size, a pass-through path outside the v5 API).
    """

    code: str
    msg: str
    endpoint: str
    failure: str = ""
    local: bool = False


_UPSTREAM = (OkxApiError, OkxTimeout, OkxTransportError, OkxMalformedResponse)


def failure_detail(error: BaseException) -> FailureDetail | None:
    """
    The OKX failure behind ``error`` -- itself, or its ``__cause__``/``__context__`` --
    or ``None`` when no OKX call was involved.
    """
    seen = 0
    current: BaseException | None = error
    while current is not None and not isinstance(current, OkxError) and seen < 8:
        current = current.__cause__ or current.__context__
        seen += 1
    if not isinstance(current, OkxError):
        return None
    if isinstance(current, LocalRefusal):
        return FailureDetail("", "", "", local=True)
    method = str(getattr(current, "method", "") or "")
    endpoint = f"{method} {current.path}".strip()
    if not isinstance(current, _UPSTREAM):
        cause = current.__cause__
        if isinstance(cause, OkxError) and cause is not current:
            return failure_detail(cause)  # a wrapper (an incomplete page walk) of OKX's
        word = "outcome-unknown" if current.outcome_unknown else "error"
        return FailureDetail("", "", endpoint, failure=word)
    if isinstance(current, OkxApiError) and not isinstance(current, OkxHttpError):
        refused = [item for item in current.items if not item.ok and item.code]
        if refused:
            return FailureDetail(refused[0].code, refused[0].msg, endpoint)
        if current.code:
            return FailureDetail(current.code, current.msg, endpoint)
    return FailureDetail("", "", endpoint, failure=failure_word(current))


def scope_word(scope: Scope) -> str:
    """The kind of limit, never the account: ``public``, ``private`` or ``trade``."""
    if scope is Scope.USER_INST_ID:
        return "trade"
    if scope is Scope.USER:
        return "private"
    return "public"
