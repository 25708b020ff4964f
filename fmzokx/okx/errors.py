# -*- test-case-name: tests.okx.test_errors -*-
"""
Typed failures of calls to OKX.

Every way an upstream call can go wrong becomes one of these, so that the FMZ handlers can
answer with a precise message and the order-safety code can tell "OKX refused" (nothing
happened) from "outcome unknown" (the order may exist). ``str()`` of each error is a
complete sentence meant for an FMZ user; it names the endpoint and OKX's ``code``/``msg``
but never a key, secret, passphrase, signature or header.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from attrs import field, frozen

from fmzokx.okx.codes import AUTH_REFUSED, BUSY, RATE_LIMITED, RATE_LIMITED_STATUS, SUCCESS

__all__ = [
    "AUTH_CODES",
    "ItemResult",
    "LocalRefusal",
    "OkxApiError",
    "OkxAuthError",
    "OkxError",
    "OkxHttpError",
    "OkxHttpRateLimited",
    "OkxMalformedResponse",
    "OkxPaginationError",
    "OkxRateLimited",
    "OkxTimeout",
    "OkxTransportError",
    "api_error",
    "items_from_payload",
]

#: What each authentication/authorisation code (:data:`~fmzokx.okx.codes.AUTH_REFUSED`)
#: means, phrased as what to fix.
AUTH_CODES: Mapping[str, str] = {
    "50100": "OKX says the API key is frozen; contact OKX support or use another key",
    "50101": (
        "OKX says the API key does not match the environment: a demo-trading key needs "
        "',simulate' after the passphrase in the secret field, a live key must not have it"
    ),
    "50102": (
        "OKX rejected the request timestamp as expired: the local clock and OKX's clock "
        "differ by more than 30 s even after resynchronising"
    ),
    "50103": "OKX received no OK-ACCESS-KEY header: the access key is empty",
    "50104": "OKX received no OK-ACCESS-PASSPHRASE header: the passphrase is empty",
    "50105": (
        "OKX rejected the passphrase: check the passphrase (the second part of the secret field)"
    ),
    "50106": "OKX received no OK-ACCESS-SIGN header",
    "50107": "OKX received no OK-ACCESS-TIMESTAMP header",
    "50110": "OKX refused this host's IP address: add it to the API key's IP whitelist",
    "50111": "OKX does not recognise the API key: check the access key",
    "50112": "OKX could not parse the request timestamp",
    "50113": "OKX rejected the signature: check the secret key",
    "50114": "OKX rejected the request's authorisation",
    "50119": (
        "OKX says the API key does not exist: check the key, and that the OKX host matches "
        "the account's region"
    ),
    "50120": "the API key lacks the permission this call needs (check the key's permissions)",
    "50030": "the API key lacks the permission this endpoint needs (check the key's permissions)",
}


@frozen
class ItemResult:
    """
    One element of a place/cancel/amend reply: OKX's per-item ``sCode``/``sMsg``.

    ``data`` is the whole item as OKX sent it (``ordId``, ``clOrdId``, ``ts``, ...).
    """

    code: str
    msg: str
    data: Mapping[str, Any] = field(factory=dict)

    @property
    def ok(self) -> bool:
        """Whether OKX accepted this item (``sCode == "0"``)."""
        return self.code == SUCCESS


def items_from_payload(payload: object) -> list[ItemResult]:
    """
    The per-item results in an OKX envelope: the ``data`` elements carrying ``sCode``.

    Anything that is not such an element is ignored, so this is safe on any payload.
    """
    if not isinstance(payload, Mapping):
        return []
    data = payload.get("data")
    if not isinstance(data, list):
        return []
    results = []
    for element in data:
        if isinstance(element, Mapping) and "sCode" in element:
            results.append(
                ItemResult(
                    code=str(element.get("sCode", "")),
                    msg=str(element.get("sMsg", "")),
                    data=dict(element),
                )
            )
    return results


class OkxError(Exception):
    """
    Base of every failure of a call to OKX.

    :ivar path: the endpoint path (no query string).
    :ivar outcome_unknown: ``True`` when the request may have been processed by OKX
        (a write that timed out or lost its connection after being sent). Reads never
        set it: re-reading is always safe.
    """

    path: str
    outcome_unknown: bool

    def __init__(self, message: str, *, path: str = "", outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.outcome_unknown = outcome_unknown

    @property
    def message(self) -> str:
        """The human-readable description."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return self.message


class LocalRefusal(OkxError):
    """
    A call fmzokx refused itself before sending anything to OKX (an order below OKX's
    minimum size, an instrument OKX does not list, a pass-through path outside the v5
    API): OKX said nothing, so no OKX code goes with it.
    """


class OkxApiError(OkxError):
    """
    OKX answered and refused: ``code != "0"`` in the envelope, or an HTTP error carrying one.

    :ivar code: OKX's top-level ``code`` (string; ``""`` when OKX sent no envelope).
    :ivar msg: OKX's top-level ``msg``.
    :ivar method: the HTTP verb of the refused request (``""`` when not known).
    :ivar http_status: the HTTP status of the reply.
    :ivar payload: the parsed envelope, when there was one.
    :ivar items: per-item results (``sCode``/``sMsg``) for place/cancel/amend replies.
    """

    code: str
    msg: str
    method: str
    http_status: int
    payload: object | None
    items: list[ItemResult]

    def __init__(
        self,
        code: str,
        msg: str,
        *,
        http_status: int = 200,
        path: str = "",
        method: str = "",
        payload: object | None = None,
        items: Sequence[ItemResult] = (),
        outcome_unknown: bool = False,
        explanation: str = "",
    ) -> None:
        self.code = code
        self.msg = msg
        self.method = method
        self.http_status = http_status
        self.payload = payload
        self.items = list(items)
        self.outcome_unknown = outcome_unknown
        super().__init__(
            self._describe(method, path, explanation),
            path=path,
            outcome_unknown=outcome_unknown,
        )

    def _describe(self, method: str, path: str, explanation: str) -> str:
        """
        ``OKX refused POST /api/v5/trade/order: sCode 51008 'Order failed. ...' (item 0);
        code 1 'All operations failed'``: a refused item's ``sCode``/``sMsg`` is OKX's real
        reason, so it comes first; the envelope's ``code``/``msg`` (``1``, "All operations
        failed") follows.
        """
        where = f"{method} {path}".strip() or "the call"
        reasons = [
            f"sCode {item.code}" + (f" {item.msg!r}" if item.msg else "") + f" (item {index})"
            for index, item in enumerate(self.items)
            if not item.ok
        ]
        envelope = f"code {self.code or '(none)'}"
        if self.msg:
            envelope += f" {self.msg!r}"
        if self.http_status and self.http_status != 200:
            envelope += f" (HTTP {self.http_status})"
        text = f"OKX refused {where}: " + "; ".join([*reasons, envelope])
        if explanation:
            text += f". {explanation}"
        return text


class OkxAuthError(OkxApiError):
    """
    OKX refused the credentials (50100–50120, 50030). Never retried; the message says what
    to fix.
    """


class OkxRateLimited(OkxApiError):
    """
    OKX answered 50011 / HTTP 429 and retries did not get through (or the call was a write).
    """


class OkxHttpError(OkxApiError):
    """
    An HTTP error status without an OKX envelope: a page from the CDN or gateway in front
    of OKX (403, 502, 503, maintenance), an empty 429, an unknown path.

    ``code`` is ``""``; ``http_status`` says what happened and ``msg`` what the body was
    (never the body itself: an HTML page is no message for a strategy). On a write the
    outcome is unknown: the edge may have answered after OKX acted.
    """

    def _describe(self, method: str, path: str, explanation: str) -> str:
        where = f"{method} {path}".strip() or "the call"
        text = f"{where}: HTTP {self.http_status} without an OKX reply ({self.msg})"
        if explanation:
            text += f": {explanation}"
        if self.outcome_unknown:
            text += "; OKX may or may not have processed it"
        return text


class OkxHttpRateLimited(OkxRateLimited, OkxHttpError):
    """
    HTTP 429 without an OKX envelope (an empty body from the edge): rate limiting all the
    same, so a read waits and is retried as after 50011.
    """


class OkxTimeout(OkxError):
    """
    A deadline passed.

    :ivar phase: ``"connect"`` (TCP connection not established), ``"headers"`` (no response
        headers: includes the TLS handshake and OKX's processing), ``"body"`` (the body
        stalled), ``"total"`` (the whole call, retries included, overran ``--timeout``) or
        ``"pacing"`` (the client-side rate limiter could not send it in time; nothing was
        sent) or ``"deadline"`` (the reads of one docker call together overran their
        shared deadline, see :mod:`fmzokx.deferreds`). For writes in the
        ``headers``/``body``/``total`` phases the outcome is unknown.
    :ivar seconds: the limit that was exceeded (for ``"pacing"``: the time that was left
        before the call's deadline).
    :ivar limit: for ``"pacing"``, OKX's limit that had no slot in time, in words
        (``"10 per 2 s per account"``); empty otherwise. With it, ``next_slot`` (seconds
        until the slot the call would have had) goes into the message.
    """

    phase: str
    seconds: float
    limit: str
    method: str

    def __init__(
        self,
        phase: str,
        seconds: float,
        *,
        path: str = "",
        method: str = "",
        outcome_unknown: bool = False,
        limit: str = "",
        next_slot: float = 0.0,
    ) -> None:
        self.phase = phase
        self.seconds = seconds
        self.limit = limit
        self.method = method
        where = f"{method} {path}".strip() or "OKX call"
        if limit:
            text = (
                f"{where} timed out before it was sent: OKX allows {limit}, and the next "
                f"free slot is {next_slot:.1f} s away, past this call's deadline "
                f"({seconds:.1f} s away); nothing was sent"
            )
        else:
            what = {
                "connect": "connecting to OKX",
                "headers": "waiting for OKX's response headers",
                "body": "receiving OKX's response body (it stalled)",
                "total": "the whole call",
                "pacing": "a free slot under OKX's rate limit (nothing was sent)",
                "deadline": "this call's reads together",
            }.get(phase, phase)
            text = f"{where} timed out: {what} took longer than {seconds:g} s"
        if outcome_unknown:
            text += "; OKX may or may not have processed it"
        super().__init__(text, path=path, outcome_unknown=outcome_unknown)


class OkxTransportError(OkxError):
    """
    The connection failed: refused, reset, lost mid-reply, DNS failure, or TLS rejected.

    :ivar tls: whether the failure was a TLS (certificate/handshake) failure.
    """

    tls: bool

    def __init__(
        self,
        message: str,
        *,
        path: str = "",
        outcome_unknown: bool = False,
        tls: bool = False,
    ) -> None:
        self.tls = tls
        if outcome_unknown:
            message += "; OKX may or may not have processed it"
        super().__init__(message, path=path, outcome_unknown=outcome_unknown)


class OkxMalformedResponse(OkxError):
    """
    OKX's reply was not an OKX envelope: not JSON, not an object with ``code``, or too large.

    :ivar http_status: the HTTP status of the reply.
    """

    http_status: int

    def __init__(
        self,
        message: str,
        *,
        http_status: int = 0,
        path: str = "",
        outcome_unknown: bool = False,
    ) -> None:
        self.http_status = http_status
        super().__init__(message, path=path, outcome_unknown=outcome_unknown)


class OkxPaginationError(OkxError):
    """
    A paginated walk could not be completed; the list would have been incomplete.

    The underlying failure, when there is one, is ``__cause__``.

    :ivar pages: the raw envelopes fetched before the failure.
    :ivar items: the items collected before the failure (incomplete by definition).
    """

    pages: list[Mapping[str, Any]]
    items: list[Any]

    def __init__(
        self,
        message: str,
        *,
        path: str = "",
        pages: Sequence[Mapping[str, Any]] = (),
        items: Sequence[Any] = (),
    ) -> None:
        self.pages = list(pages)
        self.items = list(items)
        super().__init__(message, path=path)


def api_error(
    code: str,
    msg: str,
    *,
    http_status: int,
    path: str,
    method: str,
    payload: object | None,
    outcome_unknown: bool = False,
) -> OkxApiError:
    """
    Build the most specific :class:`OkxApiError` for an OKX refusal.
    """
    kind: type[OkxApiError] = OkxApiError
    explanation = ""
    if code in AUTH_REFUSED:
        # OKX refused the request before doing anything: the outcome is known.
        kind, explanation, outcome_unknown = OkxAuthError, AUTH_CODES[code], False
    elif code in RATE_LIMITED or (http_status == RATE_LIMITED_STATUS and code not in BUSY):
        # 50013 "Systems are busy" also comes as HTTP 429, but says nothing about the
        # request's fate: it stays a busy code (reads retried, writes outcome unknown).
        kind, outcome_unknown = OkxRateLimited, False
        explanation = "too many requests to OKX; slow down"
    return kind(
        code,
        msg,
        http_status=http_status,
        path=path,
        method=method,
        payload=payload,
        items=items_from_payload(payload),
        outcome_unknown=outcome_unknown,
        explanation=explanation,
    )
