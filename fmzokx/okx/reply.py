# -*- test-case-name: tests.okx.test_client,tests.okx.test_codes -*-
"""
What OKX's reply to one attempt means: an :class:`OkxReply`, or the error saying why not.

Kept apart from the sending so that the rules can be read in one place: a body that is
not an OKX envelope is :class:`~fmzokx.okx.errors.OkxMalformedResponse` (or
:class:`~fmzokx.okx.errors.OkxHttpError` on an HTTP error status); ``code != "0"`` is the
most specific :class:`~fmzokx.okx.errors.OkxApiError`; a write whose per-item ``sCode``
is not ``"0"`` is refused with the items. ``outcome_unknown`` is set only on writes that
OKX may have processed (5xx, a :data:`~fmzokx.okx.codes.BUSY` code, or an unreadable
body).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from fmzokx.okx.codes import BUSY, SUCCESS
from fmzokx.okx.errors import (
    ItemResult,
    OkxApiError,
    OkxHttpError,
    OkxMalformedResponse,
    api_error,
    items_from_payload,
)
from fmzokx.okx.request import PreparedRequest

__all__ = ["OkxReply", "interpret"]


@frozen
class OkxReply:
    """
    A successful OKX reply: the HTTP status and the whole envelope as parsed.
    """

    status: int
    payload: Mapping[str, Any]

    @property
    def data(self) -> list[Any]:
        """The envelope's ``data`` array (OKX always sends an array)."""
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
            raise OkxHttpError(
                "",
                f"HTTP {status} without an OKX envelope",
                http_status=status,
                path=request.path,
                method=request.method,
                outcome_unknown=write and status >= 500,
            )
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
    if not isinstance(payload.get("data", []), list):
        raise OkxMalformedResponse(
            f"{where}: OKX's reply has a non-array data field",
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
