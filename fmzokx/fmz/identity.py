# -*- test-case-name: tests.fmz.test_identity -*-
"""
Which docker request an order answers: its identity, built on the FMZ side.

The docker repeats a request it got no answer to with the same nonce, method and params;
the gateway must answer the repeat with the first order, never place a second. The FMZ
side knows what a docker request is, so it builds the identity here and hands it to the
OKX side as an opaque value (:class:`~fmzokx.okx.placement.orders.RequestOrigin`): the
OKX side derives the order's ``clOrdId`` from :attr:`RequestIdentity.token` and the API
key without looking inside, and keeps :attr:`~RequestIdentity.nonce` and
:attr:`~RequestIdentity.fingerprint` in the order journal for the audit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from fmzokx.fmz.envelope import RpcRequest

__all__ = ["RequestIdentity", "request_fingerprint"]


def _canonical(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode("ascii")


def request_fingerprint(method: str, params: Mapping[str, Any]) -> str:
    """
    A short hash of the docker's method and params: tells two requests apart in an audit
    without storing them (params never hold credentials, but need not be kept verbatim).
    """
    canonical = _canonical([method.lower(), {str(k): str(v) for k, v in params.items()}])
    return hashlib.sha256(canonical).hexdigest()[:16]


@frozen
class RequestIdentity:
    """
    One docker request, as the OKX side may use it without knowing what it is.

    :ivar token: bytes naming the request among all requests of one API key (its nonce,
        method and params); ``None`` without a nonce, when two identical calls cannot be
        told from one call sent twice (each order then gets a fresh ``clOrdId``).
    :ivar nonce: the docker's nonce, for the journal.
    :ivar fingerprint: :func:`request_fingerprint`, for the journal.
    """

    token: bytes | None
    nonce: int | None
    fingerprint: str

    @classmethod
    def of(cls, nonce: int | None, method: str, params: Mapping[str, Any]) -> RequestIdentity:
        """
        The identity of a request. The token is the canonical JSON of nonce, lower-cased
        method and params (as strings) without the array's brackets: with the key the OKX
        side frames it with, it hashes to the ``clOrdId`` fmzokx has always given that
        request, so journals written before this type existed keep matching.
        """
        token = None
        if nonce is not None:
            token = _canonical(
                [nonce, method.lower(), {k: str(v) for k, v in params.items()}]
            )[1:-1]
        return cls(token, nonce, request_fingerprint(method, params))

    @classmethod
    def of_request(cls, request: RpcRequest) -> RequestIdentity:
        """The identity of a parsed docker request."""
        return cls.of(request.nonce, request.method, request.params.values)
