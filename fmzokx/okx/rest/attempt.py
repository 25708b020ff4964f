# -*- test-case-name: tests.okx.test_deadlines -*-
"""
One HTTP attempt of an OKX call, and what its failure means.

:mod:`fmzokx.okx.rest.transport` knows Twisted's plumbing (pool, TLS, deadlines, body
reading); this module is the one place where its failures become the client's typed
errors: a missed connect, headers or body deadline becomes
:class:`~fmzokx.okx.errors.OkxTimeout` with that phase, an oversized body
:class:`~fmzokx.okx.errors.OkxMalformedResponse`, anything else
:class:`~fmzokx.okx.errors.OkxTransportError`. Whether a *write* may have reached OKX
(``outcome_unknown``) is decided here, from the phase that failed, because only this
code knows how far the attempt got. Every attempt is timed and reported to the metrics
and the debug log, without headers or bodies, and every envelope OKX answered with is
shown to ``observe_clock`` with the attempt's send and receive times (OKX's timestamps
in it can reveal that its clock stepped).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from attrs import frozen
from treq.client import HTTPClient
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.web.iweb import IResponse

from fmzokx.deferreds import with_deadline
from fmzokx.logs import logger
from fmzokx.okx.errors import (
    OkxApiError,
    OkxError,
    OkxMalformedResponse,
    OkxTimeout,
    OkxTransportError,
)
from fmzokx.okx.rest.exacturl import exact_url
from fmzokx.okx.rest.observe import UpstreamMetrics, failure_detail, failure_word
from fmzokx.okx.rest.reply import OkxReply, interpret
from fmzokx.okx.rest.request import CallState, PreparedRequest, signed_headers
from fmzokx.okx.rest.transport import (
    BodyStalled,
    BodyTooLarge,
    ConnectDeadlineExceeded,
    Deadlines,
    classify_transport_failure,
    read_body,
)

__all__ = ["AttemptSender", "HeadersTimeout"]

# Attempts are logged under the client's namespace (the one ``OkxClient.log`` gives), so
# log filters written against it keep matching now that the attempt has its own module.
_log = logger("fmzokx.okx.rest.client.OkxClient")


class HeadersTimeout(Exception):
    """Response headers did not arrive in time (internal; becomes OkxTimeout)."""


@frozen
class AttemptSender:
    """
    Sends attempts of calls through ``http`` to ``base_url``, each within ``deadlines``,
    and reports each to ``metrics``. Built complete by the client, once: its settings
    are fixed when it is built.

    :ivar server_time: OKX's clock as now believed (local clock plus measured offset);
        read once per attempt, so every attempt is signed afresh.
    :ivar observe_clock: called with (sent, received, envelope) for every OKX envelope
        received, refusals included.
    """

    http: HTTPClient
    clock: IReactorTime
    base_url: str
    deadlines: Deadlines
    metrics: UpstreamMetrics
    server_time: Callable[[], float]
    observe_clock: Callable[[float, float, Mapping[str, Any]], None] | None = None

    async def send(self, state: CallState, attempt: int) -> OkxReply:
        """
        Send attempt number ``attempt`` of ``state.request`` and interpret the reply.

        Sets ``state.sent`` as soon as the request is handed to the connection.

        :raises OkxError: the subclass saying how the attempt failed.
        :raises CancelledError: when the caller gave up (not an attempt failure).
        """
        request = state.request
        write = not request.idempotent
        deadlines = self.deadlines
        started = self.clock.seconds()
        status = 0
        body = b""
        error: OkxError | None = None
        try:
            if request.on_send is not None:
                request.on_send(request.extra_headers)
            d: Deferred[Any] = self.http.request(
                request.method,
                exact_url(self.base_url + request.target),  # parsed once, sent as signed
                headers=signed_headers(request, self.server_time()),
                data=request.body or None,
                unbuffered=True,
                allow_redirects=False,
            )
            state.sent = True
            response: IResponse = await with_deadline(
                d, self.clock, deadlines.headers, HeadersTimeout
            )
            status = response.code
            body = await read_body(
                response, self.clock, idle=deadlines.body, cap=deadlines.max_body
            )
        except CancelledError:
            raise
        except ConnectDeadlineExceeded:
            error = OkxTimeout(
                "connect", deadlines.connect, path=request.path, method=request.method
            )
        except HeadersTimeout:
            error = OkxTimeout(
                "headers",
                deadlines.headers,
                path=request.path,
                method=request.method,
                outcome_unknown=write,
            )
        except BodyStalled:
            error = OkxTimeout(
                "body",
                deadlines.body,
                path=request.path,
                method=request.method,
                outcome_unknown=write,
            )
        except BodyTooLarge as exc:
            error = OkxMalformedResponse(
                f"{request.method} {request.path}: OKX's reply was too large ({exc})",
                http_status=status,
                path=request.path,
                outcome_unknown=write,
            )
        except Exception as exc:
            failure = classify_transport_failure(exc)
            error = OkxTransportError(
                f"{request.method} {request.path}: {failure.message}",
                path=request.path,
                outcome_unknown=write and failure.maybe_sent,
                tls=failure.tls,
            )
        if error is not None:
            self._record(request, attempt, started, status, error)
            raise error
        try:
            reply = interpret(request, status, body)
        except OkxError as refusal:
            self._record(request, attempt, started, status, refusal)
            if isinstance(refusal, OkxApiError) and isinstance(refusal.payload, Mapping):
                self._observe(started, refusal.payload)
            raise
        self._record(request, attempt, started, status, None)
        self._observe(started, reply.payload)
        return reply

    def _observe(self, sent: float, payload: Mapping[str, Any]) -> None:
        if self.observe_clock is not None:
            self.observe_clock(sent, self.clock.seconds(), payload)

    def _record(
        self,
        request: PreparedRequest,
        attempt: int,
        started: float,
        status: int,
        error: OkxError | None,
    ) -> None:
        duration = self.clock.seconds() - started
        metrics = self.metrics
        metrics.observe_upstream(
            request.path,
            status if status or error is None else failure_word(error),
            duration,
        )
        if isinstance(error, OkxApiError) and error.code:
            # The refused item's sCode (51008) says more than the envelope's code (1).
            detail = failure_detail(error)
            metrics.count_okx_code(request.path, detail.code if detail else error.code)
        _log.debug(
            "OKX {method} {path} -> {status} in {duration:.1f} ms (attempt {attempt}){outcome}",
            method=request.method,
            path=request.path,
            status=status,
            duration=duration * 1000.0,
            attempt=attempt,
            key=request.identity,
            code=getattr(error, "code", None),
            outcome="" if error is None else f": {failure_word(error)}",
        )
