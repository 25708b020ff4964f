# -*- test-case-name: tests.fmz.methods.test_trading -*-
"""
Raw signed calls to any OKX v5 endpoint, for strategies that need one we do not wrap.

The path must stay inside OKX's v5 REST API: anything else (another prefix, a query or
fragment in the path, ``..`` segments) is refused before it is sent, so the pass-through
cannot be turned against another service on OKX's host or a simulator's control API.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from attrs import frozen

from fmzokx.okx.client import OkxClient, OkxReply
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.endpoints import V5_PREFIX
from fmzokx.okx.errors import OkxError

__all__ = ["PassThrough", "VERBS", "BadPassThrough"]

VERBS = ("GET", "POST")
"""The verbs OKX's REST API uses."""


class BadPassThrough(OkxError):
    """A pass-through request the daemon will not send (bad path, verb or params)."""


@frozen
class PassThrough:
    """Signed (or public) raw calls; OKX's envelope comes back whatever its ``code``."""

    client: OkxClient

    @staticmethod
    def check_path(path: str) -> str:
        """
        ``path`` when it is an OKX v5 REST path.

        :raises BadPassThrough: naming the expected form otherwise.
        """
        parts = urlsplit(path)
        if not path.startswith(V5_PREFIX) or parts.query or parts.fragment or ".." in path:
            raise BadPassThrough(
                f"invalid pass-through path {path[:80]!r}: expected an OKX v5 path such as "
                f"{V5_PREFIX}trade/orders-pending (parameters go in params)"
            )
        return path

    async def call(
        self, verb: str, path: str, params: Mapping[str, object],
        credentials: Credentials | None,
    ) -> OkxReply:
        """
        Send ``verb path`` with ``params`` (query for GET, JSON body otherwise).

        :raises BadPassThrough: for a path, verb or GET parameter OKX cannot take.
        """
        self.check_path(path)
        verb = verb.strip().upper()
        if verb not in VERBS:
            raise BadPassThrough(f"HTTP method {verb[:10]!r} is not supported by OKX: use GET "
                                 "or POST")
        if verb == "GET":
            for key, value in params.items():
                if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                    raise BadPassThrough(f"GET pass-through param {key!r} must be a string "
                                         "or number")
            return await self.client.request(
                "GET", path, params, credentials=credentials, check_code=False
            )
        return await self.client.request(
            verb, path, dict(params), credentials=credentials, check_code=False
        )
