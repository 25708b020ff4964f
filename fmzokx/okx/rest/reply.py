# -*- test-case-name: tests.okx.test_client,tests.okx.test_codes -*-
"""
What OKX's reply to one attempt means: an :class:`OkxReply`, or the error saying why not.

Kept apart from the sending so that the rules can be read in one place: a body that is
not an OKX envelope is :class:`~fmzokx.okx.errors.OkxMalformedResponse` (or, on an HTTP
error status, :class:`~fmzokx.okx.errors.OkxHttpError` -- :class:`~fmzokx.okx.errors.
OkxHttpRateLimited` for a 429, which is rate limiting with or without a body);
``code != "0"`` is the most specific :class:`~fmzokx.okx.errors.OkxApiError`; a write
whose per-item ``sCode`` is not ``"0"`` is refused with the items. ``outcome_unknown`` is
set only on writes that OKX may have processed: 5xx, a :data:`~fmzokx.okx.codes.BUSY`
code, or **any reply that is not an OKX envelope**, whatever its status -- OKX sits behind
a CDN, whose 403 or 429 page may come after OKX acted, and only OKX's own envelope says
what OKX did.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from fmzokx.okx.codes import BUSY, RATE_LIMITED_STATUS, SUCCESS
from fmzokx.okx.errors import (
    ItemResult,
    OkxApiError,
    OkxHttpError,
    OkxHttpRateLimited,
    OkxMalformedResponse,
    api_error,
    items_from_payload,
)
from fmzokx.okx.rest.request import PreparedRequest

__all__ = ["OkxReply", "interpret", "without_envelope"]


@frozen
class OkxReply:
    """
    A successful OKX reply: the HTTP status and the whole envelope as parsed.
    """

    status: int
    payload: Mapping[str, Any]

    @property
    def data(self) -> list[Any]:
        """The envelope's ``data`` array (:func:`interpret` refuses a reply without one)."""
        data = self.payload.get("data")
        return data if isinstance(data, list) else []

    @property
    def raw(self) -> Mapping[str, Any]:
        """The envelope as OKX sent it (for FMZ's ``raw`` field)."""
        return self.payload

    @property
    def code(self) -> str:
        """OKX's top-level ``code``."""
        return str(self.payload.get("code", ""))

    @property
    def msg(self) -> str:
        """OKX's top-level ``msg``."""
        return str(self.payload.get("msg", ""))

    @property
    def items(self) -> list[ItemResult]:
        """Per-item ``sCode``/``sMsg`` results (place/cancel/amend replies)."""
        return items_from_payload(self.payload)


def interpret(request: PreparedRequest, status: int, body: bytes) -> OkxReply:
    """
    Turn one attempt's HTTP status and body into a reply.

    :raises OkxError: the subclass saying what was wrong with the reply.
    """
    write = not request.idempotent
    where = f"{request.method} {request.path}"
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or "code" not in payload:
        if not 200 <= status < 300:
            raise without_envelope(request, status, body)
        what = "not JSON" if payload is None else "not an OKX envelope"
        raise OkxMalformedResponse(
            f"{where}: OKX's reply (HTTP {status}, {len(body)} bytes) is {what}",
            http_status=status,
            path=request.path,
            outcome_unknown=write,
        )
    code = str(payload["code"])
    msg = str(payload.get("msg", ""))
    if code != SUCCESS or not 200 <= status < 300:
        raise api_error(
            code,
            msg,
            http_status=status,
            path=request.path,
            method=request.method,
            payload=payload,
            outcome_unknown=write and (status >= 500 or code in BUSY),
        )
    # A success without its ``data`` array is no answer at all: read as "nothing", it
    # would end a page walk early and return part of a list as the whole of it.
    if not isinstance(payload.get("data"), list):
        what = "no data field" if "data" not in payload else "a non-array data field"
        raise OkxMalformedResponse(
            f"{where}: OKX's reply has {what}",
            http_status=status,
            path=request.path,
            outcome_unknown=write,
        )
    reply = OkxReply(status=status, payload=payload)
    if request.check_items and request.check_code:
        failed = [item for item in reply.items if not item.ok]
        if failed:
            raise OkxApiError(
                code,
                msg,
                http_status=status,
                path=request.path,
                method=request.method,
                payload=payload,
                items=reply.items,
            )
    return reply


#: What an HTTP error status from OKX's edge most likely means, for the error text.
_EDGE_STATUS: Mapping[int, str] = {
    401: "OKX's edge refused the request before it reached OKX",
    403: (
        "OKX's edge refused the request (its IP, region or host is blocked; check "
        "--okx-url and where this server connects from)"
    ),
    404: "no such endpoint at this host (check --okx-url)",
    429: "too many requests; slow down",
    502: "OKX's gateway could not reach OKX; try again later",
    503: "OKX is unavailable (maintenance or overload); try again later",
    504: "OKX's gateway timed out; try again later",
}


def _body_kind(body: bytes) -> str:
    """What a body that is not an OKX envelope was, in words (never its contents)."""
    if not body.strip():
        return "an empty body"
    head = body.lstrip()[:256].lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return f"an HTML page of {len(body)} bytes"
    return f"{len(body)} bytes that are not an OKX envelope"


def without_envelope(request: PreparedRequest, status: int, body: bytes) -> OkxHttpError:
    """
    The error for an HTTP error status whose body is not OKX's envelope: a CDN's or
    gateway's page, or nothing. A 429 is rate limiting (a read waits and is retried); a
    write's outcome is unknown whatever the status, so an order is reconciled by clOrdId.
    """
    kind = OkxHttpRateLimited if status == RATE_LIMITED_STATUS else OkxHttpError
    explanation = _EDGE_STATUS.get(status, "")
    if not explanation and status >= 500:
        explanation = "OKX failed; try again later"
    return kind(
        "",
        _body_kind(body),
        http_status=status,
        path=request.path,
        method=request.method,
        outcome_unknown=not request.idempotent,
        explanation=explanation,
    )
