# -*- test-case-name: tests.fmz.test_site -*-
"""
The HTTP site in front of the RPC resource.

Four things differ from a stock :class:`~twisted.web.server.Site`: request bodies are
capped while they stream in (:class:`CappedRequest`); they are never parsed as HTML
forms (the RPC body is JSON); connections are bounded in number and each request in
time (:mod:`fmzokx.fmz.connections`); and there is no access log, since the RPC resource
logs one structured event per call itself and the request line carries the
service-address path, which may hold an access token.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import IResource
from twisted.web.server import Request, Site

from fmzokx.descriptors import connection_cap, soft_limit
from fmzokx.fmz.connections import (
    DEFAULT_REQUEST_TIMEOUT,
    IDLE_TIMEOUT,
    ConnectionGuard,
    GuardedChannel,
)

__all__ = ["CappedRequest", "RpcSite", "rpc_site"]

DEFAULT_MAX_BODY = 1024 * 1024


class CappedRequest(Request):
    """
    A request that stops buffering its body past the site's cap.

    Twisted buffers the whole body before the resource runs; this request counts bytes
    as they arrive and discards everything past ``max_body``, so an oversized POST costs
    no memory and is answered 413 by :class:`RpcServer`.
    """

    max_body: int = DEFAULT_MAX_BODY
    body_too_large: bool = False
    _received: int = 0

    def gotLength(self, length: int | None) -> None:
        if length is not None and length > self.max_body:
            self.body_too_large = True
            length = 0
        super().gotLength(length)  # type: ignore[no-untyped-call]

    def handleContentChunk(self, data: bytes) -> None:
        if self.body_too_large:
            return
        self._received += len(data)
        if self._received > self.max_body:
            self.body_too_large = True
            if self.content is not None:
                self.content.seek(0)
                self.content.truncate()
            return
        super().handleContentChunk(data)  # type: ignore[no-untyped-call]


class RpcSite(Site):
    """
    A site with no access log (see the module docstring) whose HTTP/1.1 channels report
    to :attr:`guard`, which bounds connections and request times.
    """

    protocol = GuardedChannel  # type: ignore[assignment]
    guard: ConnectionGuard

    def buildProtocol(self, addr: Any) -> Any:
        channel = super().buildProtocol(addr)  # type: ignore[no-untyped-call]
        channel.guard = self.guard
        return channel

    def log(self, request: Request) -> None:  # type: ignore[override]
        pass


def rpc_site(
    resource: IResource,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    max_connections: int | None = None,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    idle_timeout: float = IDLE_TIMEOUT,
    clock: IReactorTime | None = None,
    metrics: Any = None,
) -> RpcSite:
    """
    A :class:`RpcSite` serving ``resource`` with bodies capped at ``max_body`` bytes.

    :param max_connections: the connection cap; by default what the current open-files
        limit allows (:func:`fmzokx.descriptors.connection_cap`).
    :param request_timeout: seconds a connection has to deliver one whole request.
    :param idle_timeout: seconds a kept-alive connection may idle between requests.
    :param clock: the reactor (timeouts); Twisted's global one when ``None``.
    """

    class _Request(CappedRequest):
        pass

    _Request.max_body = max_body
    options: dict[str, Any] = {"timeout": idle_timeout}
    if clock is not None:
        options["reactor"] = clock
    try:
        # The RPC body is JSON: never let twisted.web parse it as a form (that costs an
        # email.message parse of the Content-Type on every POST).
        site = RpcSite(resource, parsePOSTFormSubmission=False, **options)  # type: ignore[no-untyped-call]
    except TypeError:  # Twisted releases before the option always parse forms
        site = RpcSite(resource, **options)  # type: ignore[no-untyped-call]
    site.requestFactory = _Request
    site.displayTracebacks = False
    if max_connections is None:
        max_connections = connection_cap(soft_limit())
    site.guard = ConnectionGuard(
        site.reactor, max_connections, request_timeout=request_timeout, metrics=metrics
    )
    return site
