"""
The floor of the design: a bare ``twisted.web`` Resource in front of one pooled treq client.

It parses the docker's JSON envelope, makes one GET to okxsim over a persistent pool (the
public ticker, or the order book for ``depth``) and writes ``{"data": <OKX reply>}``
(``nosuchmethod`` it answers itself, with no GET): no
Klein, no validation, no logging, no metrics, no signing. ``bench/run.py`` starts it like
the daemon, under ``twistd -n --python=bench/floor.py`` (same reactor, same twistd), so
every daemon figure can be read as a ratio to it in the same run. Configured by the
environment: ``FMZOKX_FLOOR_PORT`` (listen on 127.0.0.1) and ``FMZOKX_FLOOR_UPSTREAM``
(okxsim's base URL).
"""

from __future__ import annotations

import json
import os
from typing import Any

from treq.client import HTTPClient
from twisted.application import internet, service
from twisted.internet import reactor as _reactor
from twisted.internet.interfaces import IReactorTCP, IReactorTime
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

__all__ = ["FloorResource", "make_application"]

#: docker method -> OKX public path the floor forwards it to (anything else: the ticker).
PATHS = {
    "depth": "/api/v5/market/books?instId=BTC-USDT&sz=20",
}
DEFAULT_PATH = "/api/v5/market/ticker?instId=BTC-USDT"
#: the one method the floor answers itself, with no upstream call: what a bare
#: ``twisted.web`` resource costs for a docker call (bench/private.py's floor).
LOCAL_METHOD = "nosuchmethod"


class FloorResource(Resource):
    """POST anything: parse the JSON, one pooled GET upstream, write the reply."""

    isLeaf = True

    def __init__(self, client: HTTPClient, upstream: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.client = client
        self.upstream = upstream

    def render_POST(self, request: Request) -> Any:
        assert request.content is not None
        envelope = json.loads(request.content.read())
        request.setHeader(b"content-type", b"application/json")
        if envelope.get("method") == LOCAL_METHOD:
            return b'{"error":"unknown method"}'
        path = PATHS.get(envelope.get("method"), DEFAULT_PATH)
        d = self.client.get(self.upstream + path)
        d.addCallback(lambda response: response.content())

        def write(content: bytes) -> None:
            body = b'{"data":' + content + b"}"
            request.setHeader(b"content-length", b"%d" % len(body))
            request.write(body)
            request.finish()

        def fail(failure: Any) -> None:
            request.setResponseCode(502)
            request.write(b'{"error":"upstream"}')
            request.finish()

        d.addCallbacks(write, fail)
        return NOT_DONE_YET


def make_application(port: int, upstream: str) -> Any:
    reactor: Any = _reactor
    assert IReactorTCP.providedBy(reactor) and IReactorTime.providedBy(reactor)
    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = 50
    client = HTTPClient(Agent(reactor, pool=pool))
    application = service.Application("fmzokx-floor")
    site = Site(FloorResource(client, upstream.rstrip("/")))
    site.noisy = False
    site.log = lambda request: None  # type: ignore[method-assign]  # no access log
    server = internet.TCPServer(port, site, interface="127.0.0.1")
    server.setServiceParent(application)
    return application


if "FMZOKX_FLOOR_PORT" in os.environ:
    application = make_application(
        int(os.environ["FMZOKX_FLOOR_PORT"]), os.environ["FMZOKX_FLOOR_UPSTREAM"]
    )
