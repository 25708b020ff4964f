# -*- test-case-name: tests.fmz.methods.test_trading -*-
"""
Raw signed calls to any OKX v5 endpoint, for strategies that need one we do not wrap.

The path must stay inside OKX's v5 REST API, so the pass-through cannot be turned against
another service on OKX's host or a simulator's control API. :meth:`PassThrough.check_path`
decodes the path as a server would (percent-escapes, repeatedly, a bounded number of
times), then validates what it means: it must start with ``/api/v5/``, and each segment
after that must be plain ``[A-Za-z0-9_-]`` (no ``.``/``..``, no empty segment, no
backslash, no query or fragment, no control character). OKX's paths are plain, so any
percent-escape is refused too; escaped dots and separators (``%2e``, ``%2f``, ``%5c``)
get their own message, as they are the usual way to smuggle ``..`` past a check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote

from attrs import frozen

from fmzokx.okx.codes import SUCCESS
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.endpoints import V5_PREFIX
from fmzokx.okx.errors import LocalRefusal, OkxApiError, api_error
from fmzokx.okx.rest.client import OkxClient, OkxReply
from fmzokx.okx.stream.privatesessions import PrivateSessions

__all__ = ["MAX_PATH_LENGTH", "PassThrough", "VERBS", "BadPassThrough", "refusal"]

VERBS = ("GET", "POST")
"""The verbs OKX's REST API uses."""


MAX_PATH_LENGTH = 200
"""The longest pass-through path accepted (OKX's longest are under 80 characters)."""

_DECODE_ROUNDS = 3
_MAX_SEGMENTS = 8
_SEGMENT = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ENCODED_SEPARATOR = re.compile(r"%(?:2e|2f|5c)", re.IGNORECASE)
# C0 controls, DEL and C1 controls.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_EXPECTED = (
    f"expected an OKX v5 path such as {V5_PREFIX}trade/orders-pending (parameters go in "
    "params)"
)


class BadPassThrough(LocalRefusal):
    """A pass-through request the daemon will not send (bad path, verb or params)."""


@frozen
class PassThrough:
    """Signed (or public) raw calls; OKX's envelope comes back whatever its ``code``."""

    client: OkxClient
    #: told of every signed write sent through (a raw order, cancel or transfer changes
    #: what the private copies hold: reads then go to REST until the copy shows it)
    private: PrivateSessions | None = None

    @staticmethod
    def check_path(path: str) -> str:
        """
        ``path`` when it is a plain OKX v5 REST path (the path to send).

        :raises BadPassThrough: naming what is wrong and the expected form otherwise.
        """
        reason = _path_problem(path)
        if reason is not None:
            raise BadPassThrough(f"invalid pass-through path {_shown(path)}: {reason}; {_EXPECTED}")
        return path

    async def call(
        self, verb: str, path: str, params: Mapping[str, object],
        credentials: Credentials | None,
    ) -> OkxReply:
        """
        Send ``verb path`` with ``params`` (query for GET, JSON body otherwise).

        :raises BadPassThrough: for a path, verb or GET parameter OKX cannot take.
        """
        path = self.check_path(path)
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
        try:
            return await self.client.request(
                verb, path, dict(params), credentials=credentials, check_code=False
            )
        finally:
            if self.private is not None and credentials is not None:
                self.private.wrote_unknown(credentials, derivative=True)


def refusal(verb: str, path: str, reply: OkxReply) -> OkxApiError | None:
    """
    The error for a pass-through reply in which nothing succeeded (OKX's ``code`` is not
    ``"0"`` and no item was accepted), worded and typed as for any other call OKX refused
    (the refused item's ``sCode`` first); ``None`` when anything succeeded.
    """
    if reply.code == SUCCESS or any(item.ok for item in reply.items):
        return None
    return api_error(
        reply.code, reply.msg, http_status=reply.status, path=path,
        method=verb.strip().upper(), payload=reply.raw,
    )


def _path_problem(path: object) -> str | None:
    """Why ``path`` is not a plain OKX v5 path, or ``None`` when it is one."""
    if not isinstance(path, str):
        return "it is not a string"
    if len(path) > MAX_PATH_LENGTH:
        return f"longer than {MAX_PATH_LENGTH} characters"
    # Decode as a server would, until nothing changes (bounded: each round shortens it).
    layers = [path]
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote(layers[-1]) if "%" in layers[-1] else layers[-1]
        if decoded == layers[-1]:
            break
        layers.append(decoded)
    else:
        return "it is percent-encoded more times than any server decodes"
    meaning = layers[-1]
    if any(_CONTROL.search(layer) for layer in layers):
        return "it contains a control character"
    if any(_ENCODED_SEPARATOR.search(layer) for layer in layers):
        return "it contains an encoded dot or separator (%2e, %2f or %5c)"
    if len(layers) > 1:
        return "it contains percent-escapes (OKX paths are plain text)"
    if "\\" in meaning:
        return "it contains a backslash"
    if "?" in meaning or "#" in meaning:
        return "it contains a query or fragment"
    if not meaning.startswith(V5_PREFIX):
        return f"it does not start with {V5_PREFIX}"
    segments = meaning[len(V5_PREFIX):].split("/")
    if any(segment in (".", "..") for segment in segments):
        return "it contains a '.' or '..' segment"
    if any(not segment for segment in segments):
        return "it contains an empty segment (// or a trailing /)"
    if len(segments) > _MAX_SEGMENTS:
        return f"it has more than {_MAX_SEGMENTS} segments after {V5_PREFIX}"
    if not all(_SEGMENT.fullmatch(segment) for segment in segments):
        return "each segment may only hold ASCII letters, digits, '-' and '_'"
    return None


def _shown(path: object) -> str:
    """The path for an error message: quoted, escaped (no raw control character), short."""
    text = path if isinstance(path, str) else type(path).__name__
    shown = text if len(text) <= 80 else text[:77] + "..."
    return ascii(shown)
