# -*- test-case-name: tests.sim.test_ws_protocol -*-
"""
One web resource for REST and WebSocket, so both share a site and a port as at OKX.
"""

from __future__ import annotations

from collections.abc import Mapping

from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource

__all__ = ["WithWebSockets"]


class WithWebSockets(Resource):
    """
    Render a request for one of ``sockets``' paths with that WebSocket resource, and
    every other request with ``rest`` (whose URL handling is left untouched: this
    resource is a leaf, as the Klein resource it usually wraps).
    """

    isLeaf = True

    def __init__(self, rest: IResource, sockets: Mapping[str, IResource]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.rest = rest
        self.sockets = {path.encode("ascii"): resource for path, resource in sockets.items()}

    def render(self, request: IRequest) -> bytes | int:
        target = self.sockets.get(request.path, self.rest)
        result: bytes | int = target.render(request)
        return result
