"""
Every deadline, proven by advancing a fake clock: connect, headers, body silence, the
per-call total and the body size cap. Each one ends as a typed error at the exact moment
it should, and leaves no timer behind.
"""

from __future__ import annotations

from typing import Any

import pytest
from treq.client import HTTPClient
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock

from fmzokx.okx.errors import OkxMalformedResponse, OkxTimeout
from fmzokx.okx.rest.client import OkxClient
from fmzokx.okx.rest.retry import RetryPolicy
from fmzokx.okx.rest.transport import BytesProducer, Deadlines, build_agent, with_deadline
from tests.helpers import LogEvents

from .support import CREDS, NOW, RESTING_BUY, Harness, outcome_of

ONE_ATTEMPT = RetryPolicy(max_attempts=1)
TIME = "/api/v5/public/time"
ORDER = "/api/v5/trade/order"


def expect_timeout_at(h: Harness, d: Deferred[Any], seconds: float) -> OkxTimeout:
    """Assert ``d`` is still waiting just before ``seconds`` and fails with OkxTimeout at it."""
    box = outcome_of(d)
    h.advance(seconds - 0.02)
    assert box == [], f"fired before {seconds} s: {box}"
    h.advance(0.02 + 1e-6)
    assert len(box) == 1, f"had not fired at {seconds} s"
    error = box[0].value
    assert isinstance(error, OkxTimeout), repr(error)
    return error


def test_connect_deadline() -> None:
    """
    An upstream that never accepts the TCP connection fails the call with
    OkxTimeout(phase="connect") after the connect deadline, with no timer left behind.
    """
    reactor = MemoryReactorClock()
    reactor.advance(NOW)
    agent, pool = build_agent(reactor, deadlines=Deadlines(connect=3.0))
    client = OkxClient(
        http=HTTPClient(agent, data_to_body_producer=BytesProducer),
        clock=reactor,
        base_url="https://www.okx.com",
        retry=ONE_ATTEMPT,
        pool=pool,
    )
    box = outcome_of(
        Deferred.fromCoroutine(client.post("/api/v5/trade/order", {}, credentials=CREDS))
    )
    assert len(reactor.tcpClients) == 0 or reactor.tcpClients[0][1] == 443
    reactor.advance(2.9)
    assert box == []
    assert reactor.tcpClients, "the agent should be trying to connect"
    reactor.advance(0.1)
    assert len(box) == 1
    error = box[0].value
    assert isinstance(error, OkxTimeout)
    assert error.phase == "connect"
    assert error.outcome_unknown is False
    assert "connecting to OKX" in str(error)
    assert reactor.getDelayedCalls() == []


def test_headers_deadline() -> None:
    """An upstream that accepts the request and never answers: phase "headers" at 8 s."""
    h = Harness(retry=ONE_ATTEMPT)
    h.sim.add_fault(TIME, "hang")
    error = expect_timeout_at(h, h.start(h.client.get(TIME)), 8.0)
    assert error.phase == "headers"
    assert error.outcome_unknown is False
    assert h.clock.getDelayedCalls() == []


def test_headers_deadline_leaves_write_outcome_unknown() -> None:
    """A write that got no answer is flagged outcome_unknown and is not retried."""
    h = Harness()
    h.sim.add_fault(ORDER, "hang")
    d = h.start(h.client.post(ORDER, RESTING_BUY, credentials=CREDS))
    error = expect_timeout_at(h, d, 8.0)
    assert error.phase == "headers"
    assert error.outcome_unknown is True
    assert "may or may not" in str(error)
    h.advance(5)
    assert h.count(ORDER) == 1


def test_body_deadline() -> None:
    """A body that stalls halfway: phase "body" after 5 s of silence."""
    h = Harness(retry=ONE_ATTEMPT)
    h.sim.add_fault(TIME, "stall")
    error = expect_timeout_at(h, h.start(h.client.get(TIME)), 5.0)
    assert error.phase == "body"
    assert h.clock.getDelayedCalls() == []


def test_body_deadline_custom_value() -> None:
    """The body silence limit is configurable through Deadlines."""
    h = Harness(retry=ONE_ATTEMPT, deadlines=Deadlines(body=1.5))
    h.sim.add_fault(TIME, "stall")
    error = expect_timeout_at(h, h.start(h.client.get(TIME)), 1.5)
    assert (error.phase, error.seconds) == ("body", 1.5)


def test_total_deadline_shorter_than_phase() -> None:
    """With ``--timeout 3`` a hung request fails as phase "total" at 3 s, not at 8 s."""
    h = Harness(timeout=3.0)
    h.sim.add_fault(TIME, "hang")
    error = expect_timeout_at(h, h.start(h.client.get(TIME)), 3.0)
    assert error.phase == "total"
    assert h.clock.getDelayedCalls() == []


def test_total_deadline_bounds_retries() -> None:
    """
    A read that keeps hanging is retried, but the whole call still ends at ``timeout``
    (10 s) as phase "total", cutting the attempt in flight.
    """
    h = Harness(deadlines=Deadlines(headers=4.0), retry=RetryPolicy(max_attempts=10))
    h.sim.add_fault(TIME, "hang", count=10)
    # Attempts end at 4 s and ~8.x s (backoffs are at most 0.25 s and 0.5 s), so the
    # third attempt is in flight when the 10 s total expires.
    error = expect_timeout_at(h, h.start(h.client.get(TIME)), 10.0)
    assert error.phase == "total"
    assert h.count(TIME) == 3
    assert h.clock.getDelayedCalls() == []


def test_body_size_cap() -> None:
    """A body larger than the cap is refused as OkxMalformedResponse, not buffered."""
    h = Harness(retry=ONE_ATTEMPT, deadlines=Deadlines(max_body=1000))
    h.sim.add_fault(TIME, "reply", body=b"x" * 5000)
    error = h.failure(h.client.get(TIME))
    assert isinstance(error, OkxMalformedResponse)
    assert "too large" in str(error)


def test_with_deadline_fires_even_if_canceller_raises(info_events: LogEvents) -> None:
    """
    twisted#9534: a Deferred whose canceller raises still yields the timeout error on
    time; the canceller's exception is logged, not propagated, and a late result is
    discarded.
    """
    clock = Clock()

    def canceller(d: Deferred[str]) -> None:
        raise RuntimeError("canceller bug")

    stubborn: Deferred[str] = Deferred(canceller)
    box = outcome_of(with_deadline(stubborn, clock, 2.0, lambda: OkxTimeout("headers", 2.0)))
    clock.advance(1.99)
    assert box == []
    with info_events.during() as events:
        clock.advance(0.01)
    assert isinstance(box[0].value, OkxTimeout)
    assert any(event.get("log_failure") is not None for event in events)
    stubborn.callback("late")
    assert len(box) == 1


def test_with_deadline_passes_result_and_cancels_timer() -> None:
    """A result in time is passed through and the timer is gone."""
    clock = Clock()
    d: Deferred[str] = Deferred()
    box = outcome_of(with_deadline(d, clock, 2.0, lambda: OkxTimeout("headers", 2.0)))
    d.callback("ok")
    assert box == ["ok"]
    assert clock.getDelayedCalls() == []


@pytest.mark.parametrize("phase", ["connect", "headers", "body", "total", "pacing"])
def test_timeout_messages_name_the_phase(phase: str) -> None:
    """Each phase has a plain-English description in the error message."""
    text = str(OkxTimeout(phase, 4.0, path="/api/v5/x", method="GET"))
    assert text.startswith("GET /api/v5/x timed out")
    assert "4 s" in text


def test_a_thousand_hung_calls_all_end_on_time() -> None:
    """
    1000 concurrent reads to an upstream that never answers: every one fails with
    OkxTimeout at the headers deadline (none earlier, none later) and no timer is left.
    """
    h = Harness(retry=ONE_ATTEMPT, rate_limits=False, coalesce=False)
    h.sim.add_fault(TIME, "hang", count=1000)
    boxes = [outcome_of(h.start(h.client.get(TIME, {"n": str(i)}))) for i in range(1000)]
    assert h.count(TIME) == 1000
    h.advance(7.9, step=0.5)
    assert not any(boxes)
    h.advance(0.1 + 1e-6)
    assert all(len(box) == 1 and isinstance(box[0].value, OkxTimeout) for box in boxes)
    assert {box[0].value.phase for box in boxes} == {"headers"}
    assert h.clock.getDelayedCalls() == []
