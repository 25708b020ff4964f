# -*- test-case-name: tests.test_signing,tests.okx.test_signing_independent -*-
"""
OKX v5 request signing, as pure functions.

OKX signs ``timestamp + METHOD + requestPath(+query) + body`` with HMAC-SHA256 keyed by
the secret's UTF-8 bytes, then base64. The signature covers the *bytes as sent*, so the
query string and the body are built exactly once (:func:`encode_query`,
:func:`encode_body`) and those same bytes are both signed and put on the wire. Nothing
here reads a clock or does I/O: the caller passes the time in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any
from urllib.parse import quote

__all__ = [
    "encode_body",
    "encode_query",
    "format_timestamp",
    "parse_timestamp",
    "prehash",
    "sign",
    "verify",
]

# Characters left unescaped in query values: RFC 3986 unreserved plus the separators
# OKX's own documentation shows verbatim (``instId=BTC-USDT,ETH-USDT``).
_QUERY_SAFE = "-._~,"


def format_timestamp(seconds: float) -> str:
    """
    Render POSIX seconds as OKX's ``OK-ACCESS-TIMESTAMP``: ISO 8601 UTC, milliseconds, ``Z``.
    """
    millis = int(round(seconds * 1000))
    return f"{_second_text(millis // 1000)}.{millis % 1000:03d}Z"


@lru_cache(maxsize=4)
def _second_text(second: int) -> str:
    # Every signed call in the same second shares this prefix: format it once.
    return datetime.fromtimestamp(second, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def parse_timestamp(text: str) -> float:
    """
    Parse an ``OK-ACCESS-TIMESTAMP`` back into POSIX seconds.

    :raises ValueError: if ``text`` is not ``YYYY-MM-DDTHH:MM:SS.mmmZ``.
    """
    if len(text) != 24 or not text.endswith("Z") or text[19] != ".":
        raise ValueError("timestamp must look like 2020-12-08T09:08:57.715Z")
    moment = datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    millis = text[20:23]
    if not millis.isdigit():
        raise ValueError("timestamp milliseconds must be three digits")
    return moment.timestamp() + int(millis) / 1000


def encode_query(params: Mapping[str, Any]) -> str:
    """
    Build a query string in the caller's key order, percent-encoding values.

    Empty or ``None`` values are dropped (OKX treats an empty parameter as absent).
    The result, with a leading ``?`` when non-empty, is part of the signed request path.
    """
    parts = []
    for key, value in params.items():
        if value is None or value == "":
            continue
        parts.append(f"{quote(str(key), safe=_QUERY_SAFE)}={quote(str(value), safe=_QUERY_SAFE)}")
    return "&".join(parts)


def encode_body(payload: Any) -> bytes:
    """
    Serialise a JSON body compactly, once; the returned bytes are signed and sent.
    """
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def prehash(timestamp: str, method: str, request_path: str | bytes, body: bytes) -> bytes:
    """
    The exact bytes OKX signs: ``timestamp + METHOD + requestPath + body``.

    :param request_path: the path including ``?query`` exactly as sent on the wire
        (bytes as received, on the verifying side).
    :param body: the raw body bytes as sent (``b""`` for GET).
    """
    if isinstance(request_path, str):
        request_path = request_path.encode("utf-8")
    return timestamp.encode("utf-8") + method.upper().encode("ascii") + request_path + body


def sign(secret: str, timestamp: str, method: str, request_path: str | bytes, body: bytes) -> str:
    """
    Compute ``OK-ACCESS-SIGN``: base64(HMAC-SHA256(secret, prehash)).
    """
    digest = hmac.new(
        secret.encode("utf-8"), prehash(timestamp, method, request_path, body), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(
    secret: str,
    signature: str,
    timestamp: str,
    method: str,
    request_path: str | bytes,
    body: bytes,
) -> bool:
    """
    Check a received signature in constant time (the simulator's side of :func:`sign`).
    """
    expected = sign(secret, timestamp, method, request_path, body)
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii", "replace"))
