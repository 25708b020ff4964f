# -*- test-case-name: tests.sim.test_auth -*-
"""
OKX request authentication, as the exchange checks it.

The signature is verified over the request-target and body bytes exactly as received:
clients differ in how they build the query string and serialise JSON, and OKX accepts any
of them as long as the signature matches those bytes, so re-encoding anything here would
reject correct clients.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fmzokx.okx.rest.signing import parse_timestamp, verify
from fmzokx.sim.errors import SimApiError
from fmzokx.sim.model import SimAccount

__all__ = ["TIMESTAMP_WINDOW", "authenticate", "request_path"]

#: Allowed difference between OK-ACCESS-TIMESTAMP and the server clock, in seconds.
TIMESTAMP_WINDOW = 30.0


def request_path(uri: bytes) -> bytes:
    """
    The signed request path: the request-target as received (origin form), so a client
    that sent an absolute URI is checked against its path and query only.
    """
    if uri.startswith((b"http://", b"https://")):
        rest = uri.split(b"//", 1)[1]
        slash = rest.find(b"/")
        return rest[slash:] if slash >= 0 else b"/"
    return uri


def authenticate(
    headers: Mapping[str, str],
    method: str,
    uri: bytes,
    body: bytes,
    now: float,
    lookup: Callable[[str], SimAccount | None],
) -> SimAccount:
    """
    Check the four ``OK-ACCESS-*`` headers of a private request and return its account.

    :param headers: request headers with lower-case names.
    :raises SimApiError: 50103/50104/50106/50107 for an empty header, 50112 for an unparseable
        timestamp, 50102 outside the ±30 s window, 50111 for an unknown key, 50105 for a
        wrong passphrase, 50113 for a wrong signature (all HTTP 401).
    """
    key = headers.get("ok-access-key", "")
    passphrase = headers.get("ok-access-passphrase", "")
    signature = headers.get("ok-access-sign", "")
    timestamp = headers.get("ok-access-timestamp", "")
    if not key:
        raise SimApiError("50103")
    if not passphrase:
        raise SimApiError("50104")
    if not signature:
        raise SimApiError("50106")
    if not timestamp:
        raise SimApiError("50107")
    try:
        moment = parse_timestamp(timestamp)
    except ValueError:
        raise SimApiError("50112") from None
    if abs(moment - now) > TIMESTAMP_WINDOW:
        raise SimApiError("50102")
    account = lookup(key)
    if account is None:
        raise SimApiError("50111")
    if passphrase != account.passphrase:
        raise SimApiError("50105")
    if not verify(account.secret, signature, timestamp, method, request_path(uri), body):
        raise SimApiError("50113")
    return account
