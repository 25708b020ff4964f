# -*- test-case-name: tests.fmz.test_site -*-
"""
The HTTP site in front of the RPC resource.

Three things differ from a stock :class:`~twisted.web.server.Site`: request bodies are
capped while they stream in (:class:`CappedRequest`); they are never parsed as HTML
forms (the RPC body is JSON); and there is no access log, since the RPC resource logs one
structured event per call itself and the request line carries the service-address path,
which may hold an access token.
"""

from __future__ import annotations

from twisted.web.resource import IResource
from twisted.web.server import Request, Site

__all__ = ["CappedRequest", "rpc_site"]

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


class _QuietSite(Site):
    """A site that writes no access log (see the module docstring)."""

    def log(self, request: Request) -> None:  # type: ignore[override]
        pass


def rpc_site(resource: IResource, *, max_body: int = DEFAULT_MAX_BODY) -> Site:
    """A :class:`Site` serving ``resource`` with bodies capped at ``max_body`` bytes."""

    class _Request(CappedRequest):
        pass

    _Request.max_body = max_body
    try:
        # The RPC body is JSON: never let twisted.web parse it as a form (that costs an
        # email.message parse of the Content-Type on every POST).
        site = _QuietSite(resource, parsePOSTFormSubmission=False)  # type: ignore[no-untyped-call]
    except TypeError:  # Twisted releases before the option always parse forms
        site = _QuietSite(resource)  # type: ignore[no-untyped-call]
    site.requestFactory = _Request
    site.displayTracebacks = False
    return site
