"""
The pacer with a shared budget (``--shared-state``): which scopes go to it, the queue
order kept while the shared budget answers out of order, the deadline passed on as the
longest acceptable wait, a refused slot failing fast and unsent, cancellation.
"""

from __future__ import annotations

from typing import Any

import pytest
from attrs import define, field, frozen
from twisted.internet.defer import CancelledError, Deferred, ensureDeferred
from twisted.internet.task import Clock

from fmzokx.okx.errors import OkxTimeout
from fmzokx.okx.pacing.limits import RateRule, Scope
from fmzokx.okx.pacing.pacer import Pacer
from tests.helpers import failure_result_of, success_result_of

BALANCE = RateRule("GET", "/api/v5/account/balance", 10, Scope.USER)
ORDER = RateRule("POST", "/api/v5/trade/order", 60, Scope.USER_INST_ID)
TICKER = RateRule("GET", "/api/v5/market/ticker", 20, Scope.IP)
KEY = ("GET", "/api/v5/account/balance", "key-0123abcd")
ORDER_KEY = ("POST", "/api/v5/trade/order", "key-0123abcd", "BTC-USDT")


@frozen
class Slot:
    taken: bool
    wait: float


@define
class Source:
    """A shared budget whose answers the test hands out, in any order."""

    asked: list[tuple[RateRule, tuple[str, ...], float, Deferred[Slot]]] = field(factory=list)

    async def reserve(self, rule: RateRule, key: tuple[str, ...], *, max_wait: float) -> Slot:
        answer: Deferred[Slot] = Deferred()
        self.asked.append((rule, key, max_wait, answer))
        return await answer

    def answer(self, index: int, wait: float, taken: bool = True) -> None:
        self.asked[index][3].callback(Slot(taken, wait))


def rig() -> tuple[Clock, Source, Pacer]:
    clock = Clock()
    clock.advance(1_000)
    source = Source()
    return clock, source, Pacer(clock, shared=source)


def acquire(pacer: Pacer, rule: RateRule, key: tuple[str, ...], deadline: float) -> Deferred[Any]:
    return ensureDeferred(pacer.acquire(rule, key, deadline=deadline, method="GET", path="/p"))


def test_private_scopes_go_to_the_shared_budget() -> None:
    clock, source, pacer = rig()
    first = acquire(pacer, BALANCE, KEY, deadline=1_010)
    order = acquire(pacer, ORDER, ORDER_KEY, deadline=1_010)
    ticker = acquire(pacer, TICKER, ("GET", "/api/v5/market/ticker", "ip"), deadline=1_010)
    assert success_result_of(ticker) == 0.0  # per IP: this process's own window
    assert [(r, k) for r, k, _, _ in source.asked] == [(BALANCE, KEY), (ORDER, ORDER_KEY)]
    assert source.asked[0][2] == pytest.approx(10 - 0.5)  # deadline minus reply_time
    source.answer(0, 0.0)
    source.answer(1, 0.0)
    assert success_result_of(first) == 0.0 and success_result_of(order) == 0.0
    assert pacer.waiting(KEY) == 0


def test_ip_scopes_too_when_the_address_is_shared() -> None:
    clock = Clock()
    source = Source()
    pacer = Pacer(clock, shared=source, shared_scopes=frozenset(Scope))
    acquire(pacer, TICKER, ("GET", "/api/v5/market/ticker", "ip"), deadline=10)
    assert len(source.asked) == 1


def test_queue_order_holds_when_answers_come_out_of_order() -> None:
    """
    A asks first, B second; B's answer (a free slot) arrives before A's (a slot 1 s
    away): B still goes after A, because A holds the first place in the queue.
    """
    clock, source, pacer = rig()
    released: list[tuple[str, float]] = []
    a = acquire(pacer, ORDER, ORDER_KEY, deadline=1_010)
    a.addCallback(lambda waited: released.append(("A", waited)))
    b = acquire(pacer, ORDER, ORDER_KEY, deadline=1_010)
    b.addCallback(lambda waited: released.append(("B", waited)))
    source.answer(1, 0.0)
    clock.advance(0.1)
    assert released == [] and pacer.waiting(ORDER_KEY) == 2
    source.answer(0, 1.0)
    clock.advance(0.99)
    assert released == []
    clock.advance(0.01)
    assert released == [("A", pytest.approx(1.1)), ("B", pytest.approx(1.1))]


def test_refused_slot_fails_fast_unsent_and_frees_the_queue() -> None:
    clock, source, pacer = rig()
    a = acquire(pacer, BALANCE, KEY, deadline=1_003)
    b = acquire(pacer, BALANCE, KEY, deadline=1_010)
    source.answer(0, 6.3, taken=False)
    error = failure_result_of(a, OkxTimeout).value
    assert error.phase == "pacing" and error.limit == "10 per 2 s per account"
    assert "6.3 s away" in str(error) and "nothing was sent" in str(error)
    source.answer(1, 0.0)
    assert success_result_of(b) == 0.0  # B was behind A; A left, B goes at once
    assert pacer.waiting(KEY) == 0


def test_cancelled_while_asking_leaves_the_queue() -> None:
    clock, source, pacer = rig()
    a = acquire(pacer, BALANCE, KEY, deadline=1_010)
    b = acquire(pacer, BALANCE, KEY, deadline=1_010)
    a.cancel()
    failure_result_of(a, CancelledError)
    assert pacer.waiting(KEY) == 1
    source.answer(1, 0.0)
    assert success_result_of(b) == 0.0


def test_a_failing_shared_budget_fails_the_call_and_frees_the_queue() -> None:
    clock, source, pacer = rig()
    a = acquire(pacer, BALANCE, KEY, deadline=1_010)
    source.asked[0][3].errback(RuntimeError("bug"))
    failure_result_of(a, RuntimeError)
    assert pacer.waiting(KEY) == 0


def test_rate_limits_off_asks_nobody() -> None:
    clock = Clock()
    source = Source()
    pacer = Pacer(clock, enabled=False, shared=source)
    assert success_result_of(acquire(pacer, BALANCE, KEY, deadline=10)) == 0.0
    assert source.asked == []


def test_status_page_sees_this_daemons_use_of_a_shared_budget() -> None:
    clock, source, pacer = rig()
    for i in range(3):
        acquire(pacer, BALANCE, KEY, deadline=1_010)
        source.answer(i, 0.0)
    (row,) = [r for r in pacer.usage() if r["path"] == "/api/v5/account/balance"]
    assert (row["used"], row["limit"], row["peak_5m"]) == (3, 10, 3)
