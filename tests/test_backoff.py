"""The daemon's one backoff schedule, and the places that wait on it."""

from __future__ import annotations

import random

import pytest
from twisted.internet.task import Clock

from fmzokx.backoff import Backoff, ceiling
from fmzokx.okx.errors import OkxTimeout
from fmzokx.okx.pacing.shared.connection import RedisConnection
from fmzokx.okx.pacing.shared.url import parse_redis_url
from fmzokx.okx.rest.retry import RetryPolicy
from fmzokx.okx.stream.limits import ConnectLimiter


def test_ceiling_doubles_from_base_after_each_failure_up_to_the_cap() -> None:
    assert [ceiling(n, 0.5, 30.0) for n in range(1, 9)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0,
    ]
    assert ceiling(0, 0.5, 30.0) == 0.5  # no failure yet counts as the first
    assert ceiling(10_000, 0.1, 2.0) == 2.0  # a long outage neither overflows nor grows


def test_reconnect_delays_are_drawn_from_the_ceilings_upper_half() -> None:
    """Equal jitter, from the injected Random: exactly the draws a seeded Random gives."""
    backoff = Backoff(base=1.0, cap=8.0, rng=random.Random(7))
    delays = [backoff.next() for _ in range(6)]
    rng = random.Random(7)
    tops = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert delays == [top / 2 + rng.uniform(0, top / 2) for top in tops]
    assert backoff.failures == 6
    backoff.reset()
    assert 0.5 <= backoff.next() <= 1.0


def test_counting_and_drawing_are_separate_steps() -> None:
    """``failed`` draws nothing; ``delay`` counts nothing and may be asked for a count."""
    rng = random.Random(3)
    backoff = Backoff(base=1.0, cap=60.0, rng=rng)
    backoff.failed()
    backoff.failed()
    state = rng.getstate()
    assert backoff.failures == 2
    assert 1.0 <= backoff.delay() <= 2.0
    assert rng.getstate() != state
    assert backoff.failures == 2
    assert 8.0 <= backoff.delay(5) <= 16.0
    assert backoff.failures == 2


def test_read_retries_draw_full_jitter_under_the_same_ceiling() -> None:
    """RetryPolicy's wait after attempt n is uniform in [0, ceiling(n)]: same schedule."""
    policy = RetryPolicy(base=0.25, cap=4.0, rng=random.Random(11))
    error = OkxTimeout("headers", 2.0)
    waits = [policy.delay(n, error) for n in range(1, 8)]
    rng = random.Random(11)
    assert waits == [rng.uniform(0.0, ceiling(n, 0.25, 4.0)) for n in range(1, 8)]


def test_the_connect_limiter_pauses_on_the_reconnect_schedule() -> None:
    clock = Clock()
    limiter = ConnectLimiter(clock, backoff=Backoff(base=1.0, cap=60.0, rng=random.Random(5)))
    rng = random.Random(5)
    limiter.refused()
    assert limiter.wait() == pytest.approx(0.5 + rng.uniform(0, 0.5))


def test_redis_reconnects_on_the_same_schedule() -> None:
    """
    The shared-budget Redis connection's retry policy (handed to ClientService) draws
    from the upper half of ``min_backoff * 2**(n-1)`` capped at ``max_backoff``, counting
    every failure in a row: failed connects and connections that failed their set-up.
    """
    connection = RedisConnection(
        Clock(), parse_redis_url("redis://127.0.0.1:1"), min_backoff=0.1, max_backoff=2.0,
        rng=random.Random(9),
    )
    rng = random.Random(9)
    expected = [ceiling(n, 0.1, 2.0) for n in range(1, 8)]
    delays = [connection._retry_delay(n) for n in range(1, 8)]
    assert delays == [top / 2 + rng.uniform(0, top / 2) for top in expected]
    assert all(top / 2 <= delay <= top for top, delay in zip(expected, delays, strict=True))
    # Three set-ups failed after their TCP connects succeeded (ClientService counts 1).
    for _ in range(3):
        connection._abort(_Unconnected())
    assert 0.2 <= connection._retry_delay(1) <= 0.4


class _Unconnected:
    """A protocol whose transport is already gone."""

    transport = None
