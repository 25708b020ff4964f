"""
The RPC site's connection guard, on in-memory transports and a fake clock: the cap closes
the oldest idle connection first (so a new docker call is served), then the oldest
incomplete request, never a request being answered; and a whole request must arrive
within the request timeout, however slowly its bytes trickle.
"""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from fmzokx.fmz.connections import ACCEPT_SLACK, GuardedChannel, bound_accepts
from fmzokx.fmz.site import RpcSite, rpc_site
from fmzokx.metrics import Metrics

CALL = (
    b"POST /OKX HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
)
SLOW_CALL = (
    b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
)


class Answers(Resource):
    """``/OKX`` answers at once; ``/slow`` only when the test says so."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[Any] = []

    def render_POST(self, request: Any) -> Any:
        if request.path == b"/slow":
            self.pending.append(request)
            return NOT_DONE_YET
        return b'{"data": "ok"}'


class Harness:
    def __init__(self, max_connections: int = 3, request_timeout: float = 10.0,
                 idle_timeout: float = 60.0) -> None:
        self.clock = Clock()
        self.resource = Answers()
        self.metrics = Metrics.create()
        self.site: RpcSite = rpc_site(
            self.resource, max_connections=max_connections, request_timeout=request_timeout,
            idle_timeout=idle_timeout, clock=self.clock, metrics=self.metrics,
        )
        self.port = 40000

    def connect(self) -> tuple[GuardedChannel, StringTransport]:
        self.port += 1
        channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", self.port))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", self.port))
        channel.makeConnection(transport)
        return channel, transport

    @property
    def guard(self) -> Any:
        return self.site.guard


def served(transport: StringTransport) -> bool:
    return b'{"data": "ok"}' in transport.value()


def lose(channel: GuardedChannel) -> None:
    """What the reactor does once a closed transport's descriptor is released."""
    channel.connectionLost(Failure(ConnectionDone()))


def metric(harness: Harness, name: str, **labels: str) -> float:
    value = harness.metrics.registry.get_sample_value(name, labels or None)
    return 0.0 if value is None else value


def test_the_oldest_idle_connection_makes_room_and_the_new_call_is_served() -> None:
    harness = Harness(max_connections=3)
    idle = [harness.connect() for _ in range(3)]
    assert harness.guard.open == 3
    channel, transport = harness.connect()
    assert idle[0][1].disconnecting
    assert not any(t.disconnecting for _, t in idle[1:])
    assert harness.guard.open == 3
    channel.dataReceived(CALL)
    assert served(transport)
    assert not transport.disconnecting
    assert harness.guard.closed_counts == {"evicted-idle": 1}
    assert metric(harness, "fmzokx_rpc_connections_closed_total", reason="evicted-idle") == 1
    assert metric(harness, "fmzokx_rpc_connections") == 3


def test_a_flood_of_idle_connections_never_locks_out_a_docker_call() -> None:
    """1,100 idle connections against a cap of 896: the 1,101st call is still answered."""
    harness = Harness(max_connections=896)
    flood = [harness.connect() for _ in range(1100)]
    assert harness.guard.open == 896
    channel, transport = harness.connect()
    channel.dataReceived(CALL)
    assert served(transport)
    assert sum(1 for _, t in flood if t.disconnecting) == 1100 - 895


def test_idle_goes_before_incomplete_and_answers_in_progress_are_never_cut() -> None:
    harness = Harness(max_connections=3)
    answering, answering_t = harness.connect()
    answering.dataReceived(SLOW_CALL)           # being answered
    partial, partial_t = harness.connect()
    partial.dataReceived(b"POST /OKX HTTP/1.1\r\n")  # incomplete request
    idle, idle_t = harness.connect()             # idle
    assert harness.guard.counts() == {"idle": 1, "receiving": 1, "handling": 1}

    docker, docker_t = harness.connect()
    assert idle_t.disconnecting and not partial_t.disconnecting
    assert not answering_t.disconnecting
    docker.dataReceived(SLOW_CALL)  # the newcomer's call is being answered

    _, last_t = harness.connect()  # nothing idle: the incomplete request goes
    assert partial_t.disconnecting
    assert not answering_t.disconnecting and not docker_t.disconnecting
    assert not last_t.disconnecting
    assert harness.guard.closed_counts == {"evicted-idle": 1, "evicted-incomplete": 1}


def test_when_every_connection_is_being_answered_the_newcomer_is_refused() -> None:
    harness = Harness(max_connections=2)
    busy = [harness.connect() for _ in range(2)]
    for channel, _ in busy:
        channel.dataReceived(SLOW_CALL)
    _, newcomer_t = harness.connect()
    assert newcomer_t.disconnecting
    assert not any(t.disconnecting for _, t in busy)
    assert harness.guard.closed_counts == {"refused": 1}
    # The answers in progress complete.
    for request in harness.resource.pending:
        request.write(b'{"data": "ok"}')
        request.finish()
    assert all(served(t) for _, t in busy)


def test_a_trickled_request_is_closed_at_the_deadline_not_kept_by_each_byte() -> None:
    """One header line every 3 s resets Twisted's idle timer; the deadline still holds."""
    harness = Harness(request_timeout=10.0, idle_timeout=60.0)
    channel, transport = harness.connect()
    channel.dataReceived(b"POST /OKX HTTP/1.1\r\n")
    for second in range(3, 30, 3):
        harness.clock.advance(3)
        if transport.disconnecting:
            break
        channel.dataReceived(b"X-Trickle-%d: y\r\n" % second)
    assert transport.disconnecting
    assert harness.clock.seconds() == pytest.approx(12.0)  # the first tick past 10 s
    assert transport.value().startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"not received whole within 10 s" in transport.value()
    assert harness.guard.open == 0
    assert harness.guard.closed_counts == {"request-timeout": 1}


def test_a_silent_connection_is_closed_at_the_deadline_without_a_reply() -> None:
    harness = Harness(request_timeout=5.0)
    _, transport = harness.connect()
    harness.clock.advance(4.9)
    assert not transport.disconnecting
    harness.clock.advance(0.2)
    assert transport.disconnecting
    assert transport.value() == b""


def test_the_deadline_counts_from_connecting_for_the_first_request() -> None:
    harness = Harness(request_timeout=10.0)
    channel, transport = harness.connect()
    harness.clock.advance(8)
    channel.dataReceived(b"POST /OKX HTTP/1.1\r\n")
    harness.clock.advance(2.5)
    assert transport.disconnecting


def test_a_request_received_whole_is_answered_however_long_it_takes() -> None:
    harness = Harness(request_timeout=10.0)
    channel, transport = harness.connect()
    channel.dataReceived(SLOW_CALL)
    harness.clock.advance(45)
    assert not transport.disconnecting
    (request,) = harness.resource.pending
    request.write(b'{"data": "ok"}')
    request.finish()
    assert served(transport)


def test_keep_alive_idles_between_requests_and_each_request_gets_its_own_deadline() -> None:
    harness = Harness(request_timeout=10.0, idle_timeout=60.0)
    channel, transport = harness.connect()
    channel.dataReceived(CALL)
    assert served(transport)
    transport.clear()
    harness.clock.advance(30)  # idle between calls: only the idle timeout applies
    assert not transport.disconnecting
    channel.dataReceived(CALL)
    assert served(transport)
    transport.clear()
    harness.clock.advance(5)
    channel.dataReceived(b"POST /OKX HTTP/1.1\r\n")  # the next request starts
    harness.clock.advance(9.9)
    assert not transport.disconnecting
    harness.clock.advance(0.2)
    assert transport.disconnecting
    assert transport.value().startswith(b"HTTP/1.1 408")


def test_the_idle_timeout_still_closes_an_idle_kept_alive_connection() -> None:
    harness = Harness(request_timeout=10.0, idle_timeout=60.0)
    channel, transport = harness.connect()
    channel.dataReceived(CALL)
    harness.clock.advance(61)
    assert transport.disconnecting


def test_pipelined_requests_are_each_answered() -> None:
    harness = Harness()
    channel, transport = harness.connect()
    channel.dataReceived(CALL + CALL)
    assert transport.value().count(b'{"data": "ok"}') == 2
    assert harness.guard.counts()["idle"] == 1


def test_closed_connections_stop_counting() -> None:
    harness = Harness(max_connections=2)
    first, _ = harness.connect()
    harness.connect()
    lose(first)
    assert harness.guard.open == 1
    _, transport = harness.connect()
    assert not transport.disconnecting
    assert harness.guard.closed_counts == {}
    assert metric(harness, "fmzokx_rpc_connections") == 2


def test_accepts_per_turn_leave_room_for_descriptors_still_coming_back() -> None:
    """
    Past the cap, each newcomer closes an idle connection whose descriptor comes back a
    turn later: the accept budget counts those, so at most ACCEPT_SLACK of them are out
    at once; it never drops below one.
    """
    harness = Harness(max_connections=100)
    assert harness.guard.accept_budget() == 100 + ACCEPT_SLACK
    flood = [harness.connect() for _ in range(100)]
    assert harness.guard.accept_budget() == ACCEPT_SLACK
    more = [harness.connect() for _ in range(ACCEPT_SLACK)]
    assert harness.guard.open == 100
    assert harness.guard.accept_budget() == 1
    for channel, transport in flood[:ACCEPT_SLACK]:
        assert transport.disconnecting
        lose(channel)  # the reactor released them
    assert harness.guard.accept_budget() == ACCEPT_SLACK
    for channel, _ in flood[ACCEPT_SLACK:] + more:
        lose(channel)
    assert harness.guard.accept_budget() == 100 + ACCEPT_SLACK


class FakePort:
    """Twisted's tcp.Port accept loop, as far as bound_accepts sees it."""

    def __init__(self) -> None:
        self.numberAccepts = 100
        self.seen: list[int] = []

    def doRead(self) -> None:  # noqa: N802 - Twisted's name
        self.seen.append(self.numberAccepts)
        self.numberAccepts += 20  # what tcp.Port does after a full turn


def test_the_port_accepts_no_more_per_turn_than_the_budget() -> None:
    harness = Harness(max_connections=100)
    port = FakePort()
    assert bound_accepts(port, harness.guard)
    port.doRead()
    assert port.seen == [100]  # 132 allowed: Twisted's own number stands
    flood = [harness.connect() for _ in range(100 + ACCEPT_SLACK)]
    port.doRead()
    assert port.seen[-1] == 1
    for channel, _ in flood[:10]:
        lose(channel)
    port.doRead()
    assert port.seen[-1] == 10
    assert not bound_accepts(object(), harness.guard)
