# -*- test-case-name: tests.fmz.test_resource -*-
"""
The RPC web resource the FMZ docker talks to.

``POST /<label>`` carries one docker call; whatever happens, the answer is JSON:
``{"data": ..., "raw": ...}`` or ``{"error": "..."}``. Transport-level refusals use HTTP
status codes (405 for another verb, 413 past the body cap) and never reach OKX.
``GET /healthz`` reports liveness and OKX reachability, ``GET /metrics`` serves Prometheus,
``GET /status`` the operator's HTML page (:mod:`fmzokx.status`).

Each answered call is one log line: ``rpc LABEL METHOD SYMBOL -> OUTCOME in N ms``, and
for a failure ``: REASON`` -- OKX's code, message and endpoint when OKX refused
(``OKX 51008 Insufficient USDT balance (POST <the order endpoint>)``), else the error the
strategy was given -- with the same facts as fields: ``okx_code``/``okx_msg`` only when
OKX said them (``refused_by: okx``), ``failure`` and ``endpoint`` when OKX said nothing
(a timeout), ``refused_by: fmzokx`` when the call was refused here before reaching OKX.
Failures and calls that change something (orders, cancels, leverage, pass-through writes)
are logged at ``info``; reads that succeed, at ``debug``.

Every route is declared with :func:`_guarded_route`, which applies the access policy (IP
allowlist, path token) before the handler runs, so a new route cannot forget it.

The resource holds its collaborators as constructor fields (an attrs class with a
class-level ``Klein()``), so tests build it around fakes and drive it through a real
``Site`` with ``StubTreq``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar, TypeVar

from attrs import define, field, frozen
from klein import Klein
from twisted.internet.defer import CancelledError, Deferred, ensureDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import LogLevel
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from fmzokx.deferreds import shielded
from fmzokx.fmz.access import AccessDecision, AccessPolicy, peer_of
from fmzokx.fmz.envelope import RpcError, RpcRequest, parse_envelope
from fmzokx.fmz.jsonout import dumps as _dumps
from fmzokx.fmz.registry import MethodRegistry, MethodSpec, RpcResult
from fmzokx.logs import enabled, logger, secrets
from fmzokx.metrics import Metrics
from fmzokx.okx.rest.observe import failure_detail

__all__ = ["DEFAULT_MAX_BODY", "RpcServer"]

DEFAULT_MAX_BODY = 1024 * 1024
"""The default request body cap: 1 MiB, far above any docker call."""

_JSON = b"application/json; charset=utf-8"
_HTML = b"text/html; charset=utf-8"
_MAX_SYMBOL = 64

_Answer = TypeVar("_Answer")
Route = Callable[["RpcServer", IRequest, str], _Answer]


def _guarded_route(
    app: Klein, path: str, *, methods: list[str] | None = None, rpc: bool = False
) -> Callable[[Route[Any]], Any]:
    """
    Declare a route on ``app`` that answers only allowed callers (as tahoe-lafs's
    ``_authorized_route`` does).

    The access check runs before the handler: the peer's address for every route and, for
    the docker's RPC paths (``rpc=True``), the path token too. A refused request gets a
    JSON 403 and never reaches the handler, which receives the label the check accepted
    (the path segment with any token removed).
    """

    def decorate(handler: Route[Any]) -> Any:
        @functools.wraps(handler)
        def guarded(self: RpcServer, request: IRequest, label: str = "") -> Any:
            peer = peer_of(request.getClientAddress())
            decision = (
                self.access.check(peer, label) if rpc else self.access.check_peer(peer)
            )
            if not decision.allowed:
                return self._refuse(request, decision)
            return handler(self, request, decision.label if rpc else label)

        options: dict[str, Any] = {"branch": False}
        if methods is not None:
            options["methods"] = methods
        app.route(path, **options)(guarded)
        return handler

    return decorate


@define
class RpcServer:
    """
    The docker-facing resource.

    :ivar registry: the method handlers.
    :ivar context: the object handlers receive first (the gateway: OKX client,
        instrument cache, clock...).
    :ivar clock: time source for durations.
    :ivar health: returns the ``/healthz`` document (may be a coroutine); the number of
        calls in flight is added to it.
    :ivar public_errors: exception types whose text is safe and useful to show the
        docker (besides :class:`RpcError`); anything else becomes "internal error".
    :ivar max_body: request body cap in bytes.
    :ivar access: who may call (IP allowlist, path token); refused requests get 403
        before their body is read.
    :ivar metrics: Prometheus metrics, served at ``GET /metrics`` (they also feed the
        status page's history).
    :ivar status: returns the status page's HTML and its content security policy
        (``GET /status``); ``None`` answers 404.
    :ivar call_scope: entered around each handler, so that every read one docker call
        makes shares one deadline (the OKX client's ``read_scope``).
    """

    app: ClassVar[Klein] = Klein()
    log: ClassVar = logger(__name__)

    registry: MethodRegistry[Any]
    context: Any
    clock: IReactorTime
    health: Callable[[], Mapping[str, Any] | Awaitable[Mapping[str, Any]]] = field(
        default=lambda: {"status": "ok"}
    )
    public_errors: tuple[type[Exception], ...] = ()
    max_body: int = DEFAULT_MAX_BODY
    access: AccessPolicy = field(factory=AccessPolicy)
    metrics: Metrics | None = None
    status: Callable[[], tuple[str, str]] | None = None
    call_scope: Callable[[], AbstractContextManager[Any]] = nullcontext
    _inflight: set[Deferred[Any]] = field(factory=set, init=False)
    _draining: bool = field(default=False, init=False)

    def resource(self) -> IResource:
        """The ``IResource`` to serve."""
        resource: IResource = self.app.resource()
        return resource

    @property
    def inflight(self) -> int:
        """The number of RPCs being answered right now."""
        return len(self._inflight)

    def drain(self) -> Deferred[None]:
        """
        Refuse new calls and fire once every in-flight call has been answered.

        Used at shutdown so a restart loses nothing: calls already accepted finish (their
        own deadlines bound how long), new ones get a clear error.
        """
        self._draining = True
        pending = list(self._inflight)
        done: Deferred[None] = Deferred()
        if not pending:
            done.callback(None)
            return done
        remaining = {"count": len(pending)}

        def one_finished(result: object) -> object:
            remaining["count"] -= 1
            if remaining["count"] == 0 and not done.called:
                done.callback(None)
            return result

        for call in pending:
            call.addBoth(one_finished)
        return done

    # -- routes ---------------------------------------------------------------------

    def _refuse(self, request: IRequest, decision: AccessDecision) -> bytes:
        if self.metrics is not None:
            self.metrics.count_access_denied(decision.reason)
        self.log.warn(
            "refused a request from {peer}: {reason}",
            peer=peer_of(request.getClientAddress()),
            reason=decision.reason,
        )
        request.setHeader(b"content-type", _JSON)
        request.setResponseCode(403)
        return _dumps({"error": decision.message})

    @_guarded_route(app, "/healthz", methods=["GET", "HEAD"])
    async def healthz(self, request: IRequest, label: str) -> bytes:
        request.setHeader(b"content-type", _JSON)
        request.setHeader(b"cache-control", b"no-store")
        found = self.health()
        if isinstance(found, Awaitable):
            found = await found
        document = dict(found, rpc_in_flight=self.inflight)
        if document.get("status") not in ("ok", None):
            request.setResponseCode(503)
        return _dumps(document)

    @_guarded_route(app, "/metrics", methods=["GET", "HEAD"])
    def prometheus(self, request: IRequest, label: str) -> bytes:
        if self.metrics is None:
            request.setHeader(b"content-type", _JSON)
            request.setResponseCode(404)
            return _dumps({"error": "metrics are not enabled"})
        body, content_type = self.metrics.render()
        request.setHeader(b"content-type", content_type.encode("ascii"))
        return body

    @_guarded_route(app, "/status", methods=["GET", "HEAD"])
    def status_page(self, request: IRequest, label: str) -> bytes:
        request.setHeader(b"cache-control", b"no-store")
        if self.status is None:
            request.setHeader(b"content-type", _JSON)
            request.setResponseCode(404)
            return _dumps({"error": "the status page is not enabled"})
        page, policy = self.status()
        request.setHeader(b"content-type", _HTML)
        request.setHeader(b"content-security-policy", policy.encode("ascii"))
        request.setHeader(b"x-content-type-options", b"nosniff")
        request.setHeader(b"referrer-policy", b"no-referrer")
        return page.encode("utf-8")

    @app.handle_errors(Exception)
    def unexpected(self, request: IRequest, failure: Any) -> bytes:
        # Klein's own 404/405 for paths no route matches land here too.
        from werkzeug.exceptions import HTTPException

        request.setHeader(b"content-type", _JSON)
        error = failure.value
        if isinstance(error, HTTPException):
            request.setResponseCode(error.code or 404)
            return _dumps({"error": "no such path; POST the docker's calls to /<label>"})
        # The path is not logged: its last segment may carry the access token.
        self.log.failure("unexpected error serving a {verb} request", failure,
                         verb=request.method.decode("ascii", "replace"))
        request.setResponseCode(500)
        return _dumps({"error": "internal error"})

    # -- the RPC path ---------------------------------------------------------------

    @_guarded_route(app, "/", rpc=True)
    @_guarded_route(app, "/<label>", rpc=True)
    @_guarded_route(app, "/<label>/", rpc=True)  # a service address typed with a final /
    def rpc(self, request: IRequest, label: str) -> bytes | Deferred[bytes]:
        """Answer one docker call (already let through by the access policy); always JSON."""
        request.setHeader(b"content-type", _JSON)
        method = request.method
        if method != b"POST":
            request.setResponseCode(405)
            request.setHeader(b"allow", b"POST")
            shown = method.decode("ascii", "replace")
            return _dumps({"error": f"method {shown} not allowed: the docker's calls are POSTs"})
        body = self._read_body(request)
        if body is None:
            request.setResponseCode(413)
            return _dumps(
                {"error": f"request body larger than the {self.max_body}-byte limit"}
            )
        if self._draining:
            return _dumps({"error": "fmzokx is shutting down; retry the call in a moment"})
        started = self.clock.seconds()
        metrics = self.metrics
        if metrics is not None:
            metrics.rpc_started()
        call = ensureDeferred(self._dispatch(request, label, body))
        self._inflight.add(call)

        def finished(reply: _Reply) -> bytes:
            self._inflight.discard(call)
            seconds = self.clock.seconds() - started
            if metrics is not None:
                metrics.rpc_finished()
                metrics.observe_rpc(reply.method, reply.outcome, seconds, label=label)
                if reply.error is not None:
                    metrics.record_error(label, reply.method, reply.error)
            self._log_reply(label, reply, seconds)
            # A known length lets twisted.web send the reply in one piece, unchunked.
            request.setHeader(b"content-length", b"%d" % len(reply.payload))
            return reply.payload

        return shielded(call.addCallback(finished))

    def _read_body(self, request: IRequest) -> bytes | None:
        if getattr(request, "body_too_large", False):
            return None
        declared = request.getHeader(b"content-length")
        if declared is not None:
            try:
                if int(declared) > self.max_body:
                    return None
            except ValueError:
                pass
        content = request.content
        if content is None:
            return b""
        content.seek(0, 2)
        if content.tell() > self.max_body:
            return None
        content.seek(0)
        data: bytes = content.read()
        return data

    def _log_reply(self, label: str, reply: _Reply, seconds: float) -> None:
        """
        The one line per call; a failure says why, in the same line. A read that
        succeeded is a debug line: a strategy polls several times a second, and the line
        cost about 8% of such a call's CPU (``bench/paired.py``).
        """
        quiet = reply.error is None and not reply.changes
        if quiet and not enabled(LogLevel.debug):
            return
        call = f"{reply.method} {reply.symbol}" if reply.symbol else reply.method
        fields: dict[str, Any] = {
            "label": label,
            "method": reply.method,
            "symbol": reply.symbol,
            "outcome": reply.outcome,
            "duration": round(seconds * 1000, 3),
        }
        if reply.error is None:
            self.log.emit(
                LogLevel.debug if quiet else LogLevel.info,
                "rpc {label} {call} -> {outcome} in {duration:.1f} ms", call=call, **fields
            )
            return
        detail = reply.detail
        reason = reply.error
        if detail is not None and detail.code:
            # OKX said it: its code, message and endpoint, as fields and in the line.
            reason = f"OKX {detail.code} {detail.msg}".rstrip()
            reason += f" ({detail.endpoint})" if detail.endpoint else ""
            fields.update(
                okx_code=detail.code, okx_msg=detail.msg, endpoint=detail.endpoint,
                refused_by="okx",
            )
        elif detail is not None and detail.endpoint:
            # OKX said nothing (no answer, an HTTP error page): what happened, and where.
            fields.update(failure=detail.failure, endpoint=detail.endpoint)
        elif reply.local or (detail is not None and detail.local):
            # Refused here before anything went to OKX (a bad parameter, an order below
            # the minimum size): no OKX code, and the line says so.
            fields.update(refused_by="fmzokx")
        self.log.info(
            "rpc {label} {call} -> {outcome} in {duration:.1f} ms: {reason}",
            call=call,
            reason=secrets.scrub(reason),
            error=reply.error,
            **fields,
        )

    async def _dispatch(self, request: IRequest, label: str, body: bytes) -> _Reply:
        """Parse, dispatch and encode the answer, and say what happened."""
        method_name = "-"
        rpc_request: RpcRequest | None = None
        try:
            header = request.getHeader(b"http-method")
            rpc_request = parse_envelope(
                body,
                label=label,
                http_method=header.decode("latin-1").strip() if header else None,
            )
            method_name = rpc_request.method
            spec = self.registry.resolve(method_name)
            if spec is None:
                raise RpcError(self.registry.unsupported(method_name))
            result = await self._call(rpc_request, spec)
            return _Reply(
                _dumps({"data": result.data, "raw": result.raw}),
                method_name,
                "ok",
                _symbol_of(rpc_request),
                changes=_changes(spec, rpc_request),
            )
        except RpcError as error:
            return _failed(
                secrets.scrub(error.message), method_name, rpc_request, error, local=True
            )
        except CancelledError as error:
            return _failed("the call was cancelled", method_name, rpc_request, error)
        except Exception as error:
            if self.public_errors and isinstance(error, self.public_errors):
                text = _naming_symbol(str(error), rpc_request)
                return _failed(secrets.scrub(text), method_name, rpc_request, error)
            self.log.failure(
                "unexpected error in {method}", method=method_name, label=label
            )
            return _failed(
                f"internal error in {method_name}: {type(error).__name__}",
                method_name,
                rpc_request,
                error,
                outcome="internal-error",
            )

    async def _call(self, request: RpcRequest, spec: MethodSpec[Any]) -> RpcResult:
        if spec.private:
            request.require_credentials()
        with self.call_scope():
            return await spec.handler(self.context, request)


@frozen
class _Reply:
    """One answered call: the body to send, and what the log line and metrics need."""

    payload: bytes
    method: str
    outcome: str
    symbol: str = ""
    error: str | None = None
    detail: Any = None  # fmzokx.okx.rest.observe.FailureDetail when OKX was involved
    changes: bool = False  # a successful write: logged at info, a successful read at debug
    local: bool = False  # refused by fmzokx itself (RpcError): nothing went to OKX


def _changes(spec: MethodSpec[Any], request: RpcRequest) -> bool:
    """Whether the call changes something: declared so, or a pass-through with a write verb."""
    if spec.changes:
        return True
    return spec.prefix and (request.http_method or "GET").strip().upper() != "GET"


def _failed(
    message: str,
    method: str,
    request: RpcRequest | None,
    error: BaseException,
    outcome: str = "error",
    local: bool = False,
) -> _Reply:
    return _Reply(
        _dumps({"error": message}),
        method,
        outcome,
        _symbol_of(request),
        message,
        failure_detail(error),
        local=local,
    )


def _symbol_of(request: RpcRequest | None) -> str:
    """The call's ``symbol`` parameter for the log line: short, printable, scrubbed."""
    if request is None or not request.params.has("symbol"):
        return ""
    text = "".join(ch for ch in str(request.params.raw("symbol")) if ch.isprintable())
    return secrets.scrub(text[:_MAX_SYMBOL])


def _naming_symbol(message: str, request: RpcRequest | None) -> str:
    """An OKX error naming the symbol the strategy sent (OKX's 51001 names none)."""
    if request is None or not request.params.has("symbol"):
        return message
    symbol = str(request.params.raw("symbol"))[:64]
    if not symbol or symbol in message:
        return message
    return f"{symbol}: {message}"
