# -*- test-case-name: tests.okx.test_transport -*-
"""
The HTTP plumbing under the OKX client: pool, TLS, deadlines, body reading.

* One persistent :class:`~twisted.web.client.HTTPConnectionPool` (keep-alive), whose idle
  connections are dropped after ``idle_timeout`` (default 45 s, below the ~50-60 s after
  which middleboxes silently drop idle TCP flows), with a per-host limit, and Twisted's
  automatic retry switched off: the client decides what may be repeated.
* TLS is always verified: certificate chain **and** host name, through
  :class:`~twisted.web.client.BrowserLikePolicyForHTTPS`, which uses service-identity.
  There is no switch to turn it off; ``ca_bundle`` replaces the platform trust store
  with the certificates in a PEM file (for a corporate proxy or a test CA).
* Three deadlines per attempt, each enforced on the injected clock: ``connect`` (by
  wrapping every endpoint the Agent builds), ``headers`` and ``body`` (a silence timer
  reset by every chunk, plus a size cap). treq's own ``timeout=`` is not used: it covers
  headers only and cannot tell the phases apart. The connect and headers deadlines are
  :func:`fmzokx.deferreds.with_deadline` (re-exported here), which always fires on time,
  even when the underlying canceller does not (twisted#9534).
* Requests carry exactly the signed bytes (:class:`BytesProducer`) and no cookies
  (:class:`NoCookies`). What a failure means for the caller
  (:func:`classify_transport_failure`) is said here; turning it into the client's typed
  errors is :mod:`fmzokx.okx.rest.attempt`'s job.
"""

from __future__ import annotations

import re
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from attrs import frozen
from OpenSSL import SSL
from twisted.internet import error as neterror
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import (
    IProtocolFactory,
    IReactorTime,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.internet.ssl import Certificate, trustRootFromCertificates
from twisted.python.failure import Failure
from twisted.web.client import (
    Agent,
    BrowserLikePolicyForHTTPS,
    HTTPConnectionPool,
    RequestGenerationFailed,
    RequestTransmissionFailed,
    ResponseDone,
    ResponseFailed,
    ResponseNeverReceived,
    _HTTP11ClientFactory,  # private: the one use is _QuietClientFactory, see there
)
from twisted.web.http import PotentialDataLoss
from twisted.web.iweb import UNKNOWN_LENGTH, IAgentEndpointFactory, IBodyProducer, IResponse
from zope.interface import implementer

from fmzokx.deferreds import with_deadline

__all__ = [
    "BodyTooLarge",
    "BodyStalled",
    "BytesProducer",
    "ConnectDeadlineExceeded",
    "Deadlines",
    "NoCookies",
    "TransportFailure",
    "build_agent",
    "classify_transport_failure",
    "load_trust_root",
    "read_body",
    "with_deadline",
]

#: Default response body cap.
MAX_BODY = 16 * 1024 * 1024


@frozen
class Deadlines:
    """
    Per-attempt limits, in seconds (the per-call total is the client's ``timeout``).

    :ivar connect: TCP connection established (DNS included).
    :ivar headers: request sent and response headers received (TLS handshake included).
    :ivar body: longest silence while receiving the body.
    :ivar max_body: the largest body accepted, in bytes.
    """

    connect: float = 5.0
    headers: float = 8.0
    body: float = 5.0
    max_body: int = MAX_BODY


class ConnectDeadlineExceeded(Exception):
    """The TCP connection was not established within the connect deadline."""


class BodyStalled(Exception):
    """No body bytes arrived within the body deadline."""


class BodyTooLarge(Exception):
    """The body exceeded the size cap."""


@frozen
class TransportFailure:
    """
    What a Twisted transport failure means for the caller.

    :ivar message: a short description (no secrets: built from exception types and
        Twisted's own messages).
    :ivar maybe_sent: whether the request may have reached the server.
    :ivar tls: whether TLS verification or the handshake failed.
    """

    message: str
    maybe_sent: bool
    tls: bool = False


@implementer(IBodyProducer)
class BytesProducer:
    """
    An :class:`IBodyProducer` writing bytes in one go, synchronously.

    treq's default adapter for bytes goes through the global cooperator (and so the
    global reactor); this one needs no reactor, and the bytes written are exactly the
    bytes that were signed.
    """

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.length = len(body)

    def startProducing(self, consumer: Any) -> Deferred[None]:
        consumer.write(self.body)
        return succeed(None)

    def pauseProducing(self) -> None:
        """Nothing to pause: everything was written at once."""

    def resumeProducing(self) -> None:
        """Nothing to resume: everything was written at once."""

    def stopProducing(self) -> None:
        """Nothing to stop: everything was written at once."""


class NoCookies(CookieJar):
    """
    A cookie jar that keeps nothing: OKX's API is stateless, and treq's default jar
    would parse and store every ``Set-Cookie`` (CDN cookies) and add them back to every
    request -- per-call work, and state shared across every API key the daemon serves.
    """

    def add_cookie_header(self, request: Any) -> None:
        pass

    def extract_cookies(self, response: Any, request: Any) -> None:
        pass


@implementer(IStreamClientEndpoint)
class _DeadlineEndpoint:
    """An endpoint whose ``connect`` fails with :class:`ConnectDeadlineExceeded` in time."""

    def __init__(self, inner: IStreamClientEndpoint, clock: IReactorTime, seconds: float):
        self._inner = inner
        self._clock = clock
        self._seconds = seconds

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[Any]:
        seconds = self._seconds
        return with_deadline(
            self._inner.connect(protocolFactory),
            self._clock,
            seconds,
            lambda: ConnectDeadlineExceeded(f"no connection within {seconds:g} s"),
        )


@implementer(IAgentEndpointFactory)
class _EndpointFactory:
    """
    Builds the endpoint for each origin: TCP via :class:`HostnameEndpoint` (happy
    eyeballs), wrapped in verified TLS for ``https``, wrapped in the connect deadline.
    """

    def __init__(
        self,
        reactor: Any,
        policy: BrowserLikePolicyForHTTPS,
        connect_timeout: float,
    ) -> None:
        self._reactor = reactor
        self._policy = policy
        self._connect_timeout = connect_timeout
        self._endpoints: dict[tuple[bytes, Any, int], IStreamClientEndpoint] = {}

    def endpointForURI(self, uri: Any) -> IStreamClientEndpoint:
        # The Agent asks for an endpoint on every request, even when the pool already has
        # a connection; building one encodes the host with idna each time. Endpoints are
        # reusable, and the daemon talks to one origin, so keep them.
        key = (uri.scheme, uri.host, uri.port)
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            endpoint = self._endpoints[key] = self._build(uri)
        return endpoint

    def _build(self, uri: Any) -> IStreamClientEndpoint:
        host = uri.host.decode("ascii") if isinstance(uri.host, bytes) else uri.host
        tcp = HostnameEndpoint(
            self._reactor, host, uri.port, timeout=max(1, int(self._connect_timeout + 1))
        )
        endpoint: IStreamClientEndpoint
        if uri.scheme == b"https":
            endpoint = wrapClientTLS(self._policy.creatorForNetloc(uri.host, uri.port), tcp)
        elif uri.scheme == b"http":
            endpoint = tcp
        else:
            raise neterror.ConnectError(string=f"unsupported scheme {uri.scheme!r}")
        return _DeadlineEndpoint(endpoint, self._reactor, self._connect_timeout)


_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


def load_trust_root(ca_bundle: str) -> Any:
    """
    A trust root holding exactly the certificates in the PEM file ``ca_bundle``.

    :raises ValueError: when the file holds no certificate.
    """
    pem = Path(ca_bundle).read_bytes()
    certificates = [Certificate.loadPEM(block) for block in _PEM_CERT.findall(pem)]
    if not certificates:
        raise ValueError(f"{ca_bundle}: no PEM certificate found")
    return trustRootFromCertificates(certificates)


class _QuietClientFactory(_HTTP11ClientFactory):
    """
    The pool's connection factory without the "Starting factory" log line that every
    new upstream connection would otherwise write (the pool has no public knob for it).

    Private Twisted API (``_HTTP11ClientFactory`` and ``HTTPConnectionPool._factory``),
    kept to this one use: at 50 pooled connections the chatter drowns the daemon's own
    log. ``tests/okx/test_twisted_private.py`` fails first if Twisted changes either.
    """

    noisy = False


def build_agent(
    reactor: Any,
    *,
    deadlines: Deadlines = Deadlines(),
    ca_bundle: str | None = None,
    max_per_host: int = 50,
    idle_timeout: float = 45.0,
) -> tuple[Agent, HTTPConnectionPool]:
    """
    The Agent and pool every OKX call goes through.

    :param ca_bundle: a PEM file of CA certificates to trust instead of the platform's.
    """
    pool = HTTPConnectionPool(reactor, persistent=True)
    pool._factory = _QuietClientFactory  # private: see the import of _HTTP11ClientFactory
    pool.maxPersistentPerHost = max_per_host
    pool.cachedConnectionTimeout = int(idle_timeout)
    pool.retryAutomatically = False
    if ca_bundle is not None:
        policy = BrowserLikePolicyForHTTPS(trustRoot=load_trust_root(ca_bundle))
    else:
        policy = BrowserLikePolicyForHTTPS()
    agent = Agent.usingEndpointFactory(
        reactor, _EndpointFactory(reactor, policy, deadlines.connect), pool=pool
    )
    return agent, pool


class _BodyCollector(Protocol):
    def __init__(
        self, finished: Deferred[bytes], clock: IReactorTime, idle: float, cap: int
    ) -> None:
        self._finished = finished
        self._clock = clock
        self._idle = idle
        self._cap = cap
        self._size = 0
        self._chunks: list[bytes] = []
        self._timer = clock.callLater(idle, self._stalled)

    def _fail(self, exc: BaseException) -> None:
        if self._timer.active():
            self._timer.cancel()
        if not self._finished.called:
            self._finished.errback(exc)
        if self.transport is not None:
            self.transport.stopProducing()  # type: ignore[attr-defined]

    def _stalled(self) -> None:
        self._fail(BodyStalled(f"no body data for {self._idle:g} s"))

    def refuse(self, exc: BaseException) -> None:
        """Stop reading and fail with ``exc``."""
        self._fail(exc)

    def abort(self) -> None:
        """Stop reading (the caller gave up)."""
        self._fail(CancelledError())

    def dataReceived(self, data: bytes) -> None:
        if self._finished.called:
            return
        self._size += len(data)
        if self._size > self._cap:
            self._fail(BodyTooLarge(f"body larger than {self._cap} bytes"))
            return
        self._chunks.append(data)
        self._timer.reset(self._idle)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._timer.active():
            self._timer.cancel()
        if self._finished.called:
            return
        if isinstance(reason.value, (ResponseDone, PotentialDataLoss)):
            self._finished.callback(b"".join(self._chunks))
        else:
            self._finished.errback(reason)


def read_body(
    response: IResponse, clock: IReactorTime, *, idle: float, cap: int
) -> Deferred[bytes]:
    """
    Read a response body with a silence timer (reset per chunk) and a size cap.

    Fails with :class:`BodyStalled`, :class:`BodyTooLarge`, or the connection's own
    failure; cancelling the Deferred drops the connection.
    """
    collector: list[_BodyCollector] = []
    finished: Deferred[bytes] = Deferred(lambda _: collector[0].abort() if collector else None)
    protocol = _BodyCollector(finished, clock, idle, cap)
    collector.append(protocol)
    response.deliverBody(protocol)
    length = response.length
    if length is not UNKNOWN_LENGTH and isinstance(length, int) and length > cap:
        protocol.refuse(BodyTooLarge(f"body of {length} bytes exceeds the {cap}-byte cap"))
    return finished


def _walk_reasons(exc: BaseException) -> list[BaseException]:
    found = [exc]
    reasons = getattr(exc, "reasons", None)
    if isinstance(reasons, list):
        for reason in reasons:
            if isinstance(reason, Failure) and reason.value is not None:
                found.extend(_walk_reasons(reason.value))
    return found


def _is_tls_error(exc: BaseException) -> bool:
    if isinstance(exc, SSL.Error):
        return True
    module = type(exc).__module__
    return module.startswith("service_identity")


def classify_transport_failure(exc: BaseException) -> TransportFailure:
    """
    Describe a failure raised by the Agent, and whether the request may have been sent.
    """
    chain = _walk_reasons(exc)
    tls = [e for e in chain if _is_tls_error(e)]
    if tls:
        detail = str(tls[0]) or type(tls[0]).__name__
        return TransportFailure(
            f"TLS verification or handshake with OKX failed ({detail})",
            maybe_sent=False,
            tls=True,
        )
    if isinstance(exc, (neterror.ConnectError, neterror.DNSLookupError)):
        return TransportFailure(
            f"could not connect to OKX: {type(exc).__name__}: {exc}", maybe_sent=False
        )
    if isinstance(exc, RequestGenerationFailed):
        return TransportFailure("could not generate the request to OKX", maybe_sent=False)
    if isinstance(exc, RequestTransmissionFailed):
        return TransportFailure(
            "the connection to OKX failed while sending the request", maybe_sent=True
        )
    if isinstance(exc, ResponseNeverReceived):
        return TransportFailure(
            "the connection to OKX was lost before a response arrived", maybe_sent=True
        )
    if isinstance(exc, ResponseFailed):
        return TransportFailure(
            "the connection to OKX was lost while receiving the response", maybe_sent=True
        )
    if isinstance(exc, (neterror.ConnectionLost, neterror.ConnectionDone)):
        return TransportFailure("the connection to OKX was lost", maybe_sent=True)
    return TransportFailure(
        f"unexpected transport failure talking to OKX: {type(exc).__name__}", maybe_sent=True
    )
