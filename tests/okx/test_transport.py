"""
The transport layer: pool settings, body producer, failure classification, and what a
refused or lost connection becomes for reads and writes. Also: nothing secret is ever
logged.
"""

from __future__ import annotations

import pytest
from OpenSSL import SSL
from treq.client import HTTPClient
from twisted.internet import error as neterror
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived

from fmzokx.okx.errors import OkxTransportError
from fmzokx.okx.rest.client import OkxClient
from fmzokx.okx.rest.retry import RetryPolicy
from fmzokx.okx.rest.transport import BytesProducer, build_agent, classify_transport_failure
from tests.helpers import LogEvents

from .support import CREDS, DEMO, KEY, NOW, PASSPHRASE, SECRET, Harness, outcome_of


def test_pool_is_persistent_bounded_and_drops_idle_connections() -> None:
    """The pool keeps connections alive, caps them per host, drops idle ones before 50 s,
    and never retries on its own."""
    agent, pool = build_agent(MemoryReactorClock())
    assert pool.persistent is True
    assert pool.maxPersistentPerHost == 50
    assert pool.cachedConnectionTimeout < 50
    assert pool.retryAutomatically is False


def test_bytes_producer_writes_exact_bytes() -> None:
    """The body producer writes the signed bytes unchanged and declares their length."""
    body = '{"note":"中文"}'.encode()
    producer = BytesProducer(body)
    transport = StringTransport()
    done = outcome_of(producer.startProducing(transport))
    assert transport.value() == body
    assert producer.length == len(body)
    assert done == [None]


@pytest.mark.parametrize(
    ("exc", "maybe_sent", "tls"),
    [
        (neterror.ConnectionRefusedError(), False, False),
        (neterror.DNSLookupError(), False, False),
        (ResponseNeverReceived([Failure(neterror.ConnectionLost())]), True, False),
        (ResponseFailed([Failure(neterror.ConnectionLost())]), True, False),
        (
            ResponseNeverReceived([Failure(SSL.Error([("SSL", "", "certificate verify failed")]))]),
            False,
            True,
        ),
        (RuntimeError("surprise"), True, False),
    ],
)
def test_transport_failures_are_classified(exc: BaseException, maybe_sent: bool, tls: bool) -> None:
    """Connect failures were never sent; lost connections may have been; TLS is flagged."""
    failure = classify_transport_failure(exc)
    assert (failure.maybe_sent, failure.tls) == (maybe_sent, tls)
    assert "OKX" in failure.message


def memory_client(reactor: MemoryReactorClock, attempts: int = 1) -> OkxClient:
    agent, pool = build_agent(reactor)
    return OkxClient(
        http=HTTPClient(agent, data_to_body_producer=BytesProducer),
        clock=reactor,
        base_url="https://www.okx.com",
        retry=RetryPolicy(max_attempts=attempts),
        pool=pool,
    )


def refuse_connection(reactor: MemoryReactorClock) -> None:
    host, port, factory, timeout, bind = reactor.tcpClients[-1]
    factory.clientConnectionFailed(None, Failure(neterror.ConnectionRefusedError()))


def test_refused_connection_write_is_known_not_sent() -> None:
    """A write whose connection was refused is a transport error with a known outcome."""
    reactor = MemoryReactorClock()
    reactor.advance(NOW)
    client = memory_client(reactor)
    box = outcome_of(
        Deferred.fromCoroutine(
            client.post("/api/v5/trade/order", {"instId": "BTC-USDT"}, credentials=CREDS)
        )
    )
    reactor.advance(0.01)
    refuse_connection(reactor)
    reactor.advance(1)
    error = box[0].value
    assert isinstance(error, OkxTransportError)
    assert error.outcome_unknown is False
    assert "could not connect" in str(error)


def test_read_retried_after_refused_connection() -> None:
    """A read whose connection is refused is retried on a new connection."""
    reactor = MemoryReactorClock()
    reactor.advance(NOW)
    client = memory_client(reactor, attempts=2)
    box = outcome_of(Deferred.fromCoroutine(client.get("/api/v5/public/time")))
    reactor.advance(0.01)
    refuse_connection(reactor)
    for _ in range(100):
        reactor.advance(0.01)
    assert len(reactor.tcpClients) == 2
    assert box == []
    refuse_connection(reactor)
    reactor.advance(0.01)
    assert isinstance(box[0].value, OkxTransportError)


def test_no_secret_reaches_the_log(captured: LogEvents) -> None:
    """
    Signed reads and writes, a demo key, a refusal and a retry, captured at every level:
    no event contains the key, secret, passphrase or a signature.
    """
    h = Harness()
    balance = "/api/v5/account/balance"
    h.sim.add_fault(balance, "reply", status=503, body=b"busy", content_type="text/plain")
    with captured.during() as events:
        h.run(h.client.get(balance, {"a": "1"}, credentials=CREDS))
        h.run(h.client.post("/api/v5/account/set-position-mode", {"posMode": "net_mode"},
                            credentials=DEMO))
        h.failure(
            h.client.get(balance, {}, credentials=type(CREDS)(KEY, "bad-secret-0123", PASSPHRASE))
        )
    signatures = [
        seen.headers["ok-access-sign"] for seen in h.requests() if "ok-access-sign" in seen.headers
    ]
    assert len(signatures) == 4
    assert events, "the client should log its calls"
    text = "\n".join(repr(event) for event in events)
    for secret in (KEY, SECRET, PASSPHRASE, "bad-secret-0123", *signatures):
        assert secret not in text
    assert CREDS.fingerprint in text


def test_endpoints_are_reused_per_origin() -> None:
    """The agent's endpoint factory builds one endpoint per origin and reuses it."""
    from twisted.web.client import URI

    agent, _ = build_agent(MemoryReactorClock())
    factory = agent._endpointFactory  # type: ignore[attr-defined]
    first = factory.endpointForURI(URI.fromBytes(b"https://www.okx.com/api/v5/public/time"))
    again = factory.endpointForURI(URI.fromBytes(b"https://www.okx.com/api/v5/market/ticker"))
    other = factory.endpointForURI(URI.fromBytes(b"https://eea.okx.com/api/v5/public/time"))
    assert first is again
    assert other is not first


def test_production_client_keeps_no_cookies() -> None:
    """OKX's stateless API gets no cookie state shared across keys."""
    from http.cookiejar import CookieJar

    from fmzokx.okx.rest.transport import NoCookies

    jar = NoCookies()
    jar.extract_cookies(object(), object())
    jar.add_cookie_header(object())
    assert isinstance(jar, CookieJar)
    assert list(jar) == []
