# -*- test-case-name: tests.okx.test_client,tests.okx.test_signing_independent -*-
"""
One OKX call, prepared once: the bytes to sign and send, and the headers that sign them.

OKX's signature covers the exact query string and body bytes, so :func:`prepare` encodes
them once, here, and every attempt of the call (a retry, or the re-signed resend after
50102) reuses those bytes; only the timestamp and the signature change per attempt
(:func:`signed_headers`). The rate-limit rule and budget are looked up here too, because
they depend only on what is sent. Nothing in this module does I/O or reads a clock: the
caller passes OKX's time in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from attrs import define, evolve, field, frozen
from twisted.web.http_headers import Headers

from fmzokx.okx.credentials import Credentials
from fmzokx.okx.pacing.limits import RateRule, rule_for
from fmzokx.okx.pacing.pacer import BudgetKey, budget_key
from fmzokx.okx.rest.signing import encode_body, encode_query, format_timestamp, sign

__all__ = [
    "RESERVED_HEADERS",
    "CallState",
    "JoinKey",
    "PreparedRequest",
    "join_key",
    "prepare",
    "shift_expiry",
    "signed_headers",
]

#: Headers the client sets itself; a caller's extra headers may not replace them.
RESERVED_HEADERS = frozenset(
    {
        "ok-access-key",
        "ok-access-sign",
        "ok-access-timestamp",
        "ok-access-passphrase",
        "x-simulated-trading",
        "content-type",
    }
)


@frozen
class PreparedRequest:
    """
    One logical call, encoded once.

    :ivar target: the path plus ``?query`` exactly as signed and sent.
    :ivar body: the body bytes exactly as signed and sent (``b""`` for GET).
    :ivar idempotent: a read (GET), which may be retried.
    :ivar check_code: raise on ``code != "0"`` (``False`` hands back OKX's envelope).
    :ivar check_items: raise when a per-item ``sCode`` is not ``"0"`` (writes only).
    :ivar max_attempts: attempts allowed in total (always 1 for writes).
    :ivar on_send: called with the extra headers of every attempt as it is sent (so the
        order layer knows the ``expTime`` OKX will judge, after any 50102 shift).
    """

    method: str
    path: str
    target: str
    body: bytes
    credentials: Credentials | None
    extra_headers: Mapping[str, str]
    idempotent: bool
    check_code: bool
    check_items: bool
    max_attempts: int
    rule: RateRule
    budget: BudgetKey
    on_send: Callable[[Mapping[str, str]], None] | None = field(default=None, eq=False)

    @property
    def identity(self) -> str:
        """A log-safe tag for the key (its fingerprint), ``"anonymous"`` when unsigned."""
        return self.credentials.fingerprint if self.credentials else "anonymous"


#: What makes two reads the same call: method, exact target, credentials, and how the
#: caller wants OKX's refusals and attempts handled.
JoinKey = tuple[str, str, Credentials | None, bool, int]


def join_key(request: PreparedRequest) -> JoinKey:
    """
    The key under which identical reads may share one upstream call.

    The full credentials are part of it, not just the key's fingerprint: a caller with a
    wrong secret must get OKX's refusal, never the answer to someone else's signature.
    The key lives only in memory and is never logged.
    """
    return (
        request.method,
        request.target,
        request.credentials,
        request.check_code,
        request.max_attempts,
    )


@define
class CallState:
    """
    Mutable facts about one call in flight: the request as it stands (a 50102 resend
    moves its ``expTime``), whether any attempt may have reached OKX, and the moment on
    the client's clock by which the call must be done (its total deadline, or sooner
    when the docker call's read deadline ends first).

    :ivar on_slot: called once, when the first attempt has its rate-limit slot and is
        about to be sent: the moment an identical read stops being allowed to join this
        call (see :meth:`slot_granted`).
    """

    request: PreparedRequest
    sent: bool = False
    on_slot: Callable[[], object] | None = None
    ends_at: float | None = None

    def slot_granted(self) -> None:
        """The first attempt is about to go out: run :attr:`on_slot`, once."""
        on_slot, self.on_slot = self.on_slot, None
        if on_slot is not None:
            on_slot()


def prepare(
    method: str,
    path: str,
    params: Mapping[str, object] | None,
    body: object,
    credentials: Credentials | None,
    *,
    check_code: bool,
    max_attempts: int,
    check_items: bool = True,
    extra_headers: Mapping[str, str] | None = None,
    on_send: Callable[[Mapping[str, str]], None] | None = None,
    identity: str | None = None,
) -> PreparedRequest:
    """
    Encode a call once and look up its rate-limit budget.

    :param identity: whose private budget the call draws from: the tag of the key's
        account once known (:mod:`fmzokx.okx.pacing.accounts`), by default the key's
        fingerprint.

    :param max_attempts: attempts allowed for a read; a write always gets exactly one.
    :raises ValueError: for a path with a query or fragment, or an extra header that
        would replace one the client sets.
    """
    if not path.startswith("/") or "?" in path or "#" in path:
        raise ValueError(f"path must start with / and carry no query: {path!r}")
    query = encode_query(params or {})
    target = f"{path}?{query}" if query else path
    payload = b"" if method == "GET" else encode_body(body)
    headers = dict(extra_headers or {})
    for name in headers:
        if name.lower() in RESERVED_HEADERS:
            raise ValueError(f"header {name!r} is set by the client")
    rule = rule_for(method, path, signed=credentials is not None)
    if identity is None:
        identity = credentials.fingerprint if credentials else "anonymous"
    idempotent = method == "GET"
    return PreparedRequest(
        method=method,
        path=path,
        target=target,
        body=payload,
        credentials=credentials,
        extra_headers=headers,
        idempotent=idempotent,
        check_code=check_code,
        check_items=check_items and not idempotent,
        max_attempts=max_attempts if idempotent else 1,
        rule=rule,
        budget=budget_key(rule, identity=identity, params=params, body=body),
        on_send=on_send,
    )


def signed_headers(request: PreparedRequest, server_time: float) -> Headers:
    """
    The headers of one attempt, signed with OKX's time ``server_time`` when the call
    carries credentials (``x-simulated-trading: 1`` for a demo-trading key).
    """
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    credentials = request.credentials
    if credentials is not None:
        stamp = format_timestamp(server_time)
        headers["OK-ACCESS-KEY"] = credentials.key
        headers["OK-ACCESS-SIGN"] = sign(
            credentials.secret, stamp, request.method, request.target, request.body
        )
        headers["OK-ACCESS-TIMESTAMP"] = stamp
        headers["OK-ACCESS-PASSPHRASE"] = credentials.passphrase
        if credentials.simulated:
            headers["x-simulated-trading"] = "1"
    headers.update(request.extra_headers)
    return Headers({name: [value] for name, value in headers.items()})


def shift_expiry(request: PreparedRequest, delta: float) -> PreparedRequest:
    """
    Move an ``expTime`` header by a clock-offset correction before a 50102 resend.

    ``expTime`` was "OKX's clock plus a few seconds" by the offset believed when the call
    was built; after a resync the same intent is a different number.
    """
    value = request.extra_headers.get("expTime")
    if value is None or not value.isdigit() or delta == 0:
        return request
    headers = dict(request.extra_headers, expTime=str(int(value) + int(round(delta * 1000))))
    return evolve(request, extra_headers=headers)
