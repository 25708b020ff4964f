"""OKX's WebSocket limits on our side, and the reconnect backoff."""

from __future__ import annotations

import random

from twisted.internet.task import Clock

from fmzokx.okx.stream.limits import Backoff, ConnectLimiter, OpBudget


def test_connect_limiter_allows_three_per_window() -> None:
    clock = Clock()
    limiter = ConnectLimiter(clock)
    for _ in range(3):
        assert limiter.wait() == 0
        limiter.record()
    assert limiter.wait() == limiter.window
    clock.advance(limiter.window - 0.01)
    assert 0 < limiter.wait() <= 0.011
    clock.advance(0.01)
    assert limiter.wait() == 0


def test_op_budget_is_480_an_hour() -> None:
    clock = Clock()
    budget = OpBudget(clock)
    for _ in range(480):
        assert budget.wait() == 0
        budget.spend()
        clock.advance(1)
    assert budget.wait() == 3600 - 480
    clock.advance(3600 - 480)
    assert budget.wait() == 0


def test_backoff_doubles_with_jitter_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(base=0.5, cap=30.0, rng=random.Random(1))
    delays = [backoff.next() for _ in range(10)]
    ceilings = [min(30.0, 0.5 * 2**n) for n in range(10)]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(delays)) == len(delays)  # jittered, not lockstep
    backoff.reset()
    assert 0.25 <= backoff.next() <= 0.5


def test_two_daemons_do_not_retry_in_lockstep() -> None:
    one, two = Backoff(rng=random.Random(1)), Backoff(rng=random.Random(2))
    assert [one.next() for _ in range(5)] != [two.next() for _ in range(5)]


def test_a_refused_handshake_pauses_every_new_connection_until_one_opens() -> None:
    clock = Clock()
    limiter = ConnectLimiter(clock, backoff=Backoff(base=1.0, cap=60.0, rng=random.Random(2)))
    limiter.refused()
    first = limiter.wait()
    assert 0.5 <= first <= 1.0  # the upper half of 1 s
    clock.advance(first)
    assert limiter.wait() == 0
    limiter.refused()
    second = limiter.wait()
    assert 1.0 <= second <= 2.0  # longer after each refusal in a row
    clock.advance(second)
    limiter.opened()
    limiter.refused()
    assert limiter.wait() <= 1.0  # an open connection ended the streak
