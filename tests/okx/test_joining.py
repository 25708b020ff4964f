"""
Bursts within OKX's budget: identical reads that are still waiting for a rate-limit slot
share one upstream call; a read that arrives after an identical one was sent gets its
own (read-your-writes); writes are never shared and leave in their order of arrival; a
call whose slot lies past its deadline fails at once, naming OKX's limit, unsent.

Reactor-free: the pacer on a :class:`Clock`, the client over okxsim in memory
(:class:`~tests.okx.support.Harness`), whose journal shows which calls went upstream and
whose replies carry the time okxsim made them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from fmzokx.metrics import Metrics
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.errors import OkxApiError, OkxAuthError, OkxTimeout
from fmzokx.okx.pacing.limits import RateRule, Scope, rule_for
from fmzokx.okx.pacing.pacer import Pacer, budget_key, describe_limit
from fmzokx.okx.rest.retry import RetryPolicy

from .support import CREDS, NOW, RESTING_BUY, Harness, envelope, outcome_of

BALANCE = "/api/v5/account/balance"
POSITIONS = "/api/v5/account/positions"
PENDING = "/api/v5/trade/orders-pending"
TICKER = "/api/v5/market/ticker"
PLACE = "/api/v5/trade/order"
BTC = {"instId": "BTC-USDT"}
#: The demo key with a secret that is not its own: okxsim refuses its signature (50113).
WRONG_SECRET = Credentials(CREDS.key, "another-secret-0123456789", CREDS.passphrase)


def setup(**options: Any) -> tuple[Harness, Metrics]:
    metrics = Metrics.create()
    return Harness(metrics=metrics, **options), metrics


def arrivals_ms(h: Harness, path: str) -> list[str]:
    """When okxsim received each request to ``path``, as the ms timestamps it answers with."""
    return [str(int(at * 1000)) for at in h.times(path)]


def made_at(reply: Any, field: str) -> str:
    """The time okxsim made ``reply`` (its first row's ``field``, in ms)."""
    return str(reply.data[0][field])


def joined(metrics: Metrics, path: str) -> float:
    value = metrics.registry.get_sample_value("fmzokx_upstream_joined_total", {"path": path})
    return 0.0 if value is None else value


def results(boxes: list[list[Any]]) -> list[Any]:
    assert all(boxes), "some calls never finished"
    return [box[0] for box in boxes]


def distinct(replies: list[Any]) -> int:
    """How many different reply objects: callers joined to one call share one object."""
    return len({id(reply) for reply in replies})


# -- the joining rule, through the client ---------------------------------------------


def test_a_burst_of_identical_signed_reads_shares_the_waiting_call() -> None:
    """
    40 balance reads for one key (OKX: 10 per 2 s per account): the first 10 go at once,
    each its own call; the 11th waits for the next window and the other 29 join it. 11
    upstream calls, every caller answered, the 30 waiting ones with the 11th call's reply.
    """
    h, metrics = setup()
    boxes = [outcome_of(h.start(h.client.get(BALANCE, credentials=CREDS))) for _ in range(40)]
    assert h.count(BALANCE) == 10
    assert joined(metrics, BALANCE) == 29
    h.advance(2.2)
    replies = results(boxes)
    assert not any(isinstance(r, Failure) for r in replies)
    assert h.count(BALANCE) == 11
    sent = arrivals_ms(h, BALANCE)
    assert sent[:10] == [str(int(NOW * 1000))] * 10 and sent[10] > sent[0]
    assert [made_at(r, "uTime") for r in replies] == sent[:10] + [sent[10]] * 30
    assert distinct(replies[:10]) == 10
    assert all(r is replies[10] for r in replies[10:])
    assert replies[10] not in replies[:10]


def test_a_read_arriving_after_an_identical_one_was_sent_gets_its_own_call() -> None:
    """
    Read-your-writes: the first read is on the wire (okxsim answers after 0.5 s) when the
    caller places an order and then sends an identical second read. The second does not
    take the first's answer, which okxsim made before the order: it sends its own call
    and lists the order. Unsigned reads follow the same rule: each ticker reply is the one
    okxsim made when its own request arrived.
    """
    h, metrics = setup()
    h.sim.add_fault(PENDING, "delay", delay_ms=500)
    first = outcome_of(h.start(h.client.get(PENDING, credentials=CREDS)))
    h.advance(0.05)
    placed = h.run(h.client.post(PLACE, RESTING_BUY, credentials=CREDS))
    order_id = placed.items[0].data["ordId"]
    second = outcome_of(h.start(h.client.get(PENDING, credentials=CREDS)))
    h.advance(1.0)
    assert h.count(PENDING) == 2
    assert first[0].data == []
    assert [row["ordId"] for row in second[0].data] == [order_id]
    assert joined(metrics, PENDING) == 0

    h, metrics = setup()
    h.sim.add_fault(TICKER, "delay", delay_ms=500)
    first = outcome_of(h.start(h.client.get(TICKER, BTC)))
    h.advance(0.1)
    second = outcome_of(h.start(h.client.get(TICKER, BTC)))
    h.advance(1.0)
    assert h.count(TICKER) == 2
    sent = arrivals_ms(h, TICKER)
    assert sent[0] != sent[1]
    assert [made_at(box[0], "ts") for box in (first, second)] == sent
    assert joined(metrics, TICKER) == 0


def test_unsigned_reads_join_only_while_waiting() -> None:
    """
    Public reads follow the same rule: 25 identical ticker reads (20 per 2 s per IP)
    with the budget free are each sent (nothing is waiting to be joined): 20 calls. Once
    the budget is spent the next one waits and the rest join it: 21 calls in all.
    """
    h, metrics = setup()
    boxes = [outcome_of(h.start(h.client.get(TICKER, BTC))) for _ in range(25)]
    assert h.count(TICKER) == 20
    h.advance(2.2)
    replies = results(boxes)
    assert h.count(TICKER) == 21
    assert joined(metrics, TICKER) == 4
    sent = arrivals_ms(h, TICKER)
    assert [made_at(r, "ts") for r in replies] == sent[:20] + [sent[20]] * 5
    assert distinct(replies[:20]) == 20
    assert all(r is replies[20] for r in replies[20:])


def test_reads_differing_in_query_or_credentials_never_join() -> None:
    """
    Joining needs the same path, query and credentials: a different query is another
    call, and the same API key with a different secret is too (its caller must get
    OKX's refusal, never the answer to someone else's signature).
    """
    h, metrics = setup()
    for _ in range(10):
        h.start(h.client.get(BALANCE, credentials=CREDS))
    assert h.count(BALANCE) == 10
    waiting = outcome_of(h.start(h.client.get(BALANCE, credentials=CREDS)))
    other_query = outcome_of(h.start(h.client.get(BALANCE, {"ccy": "BTC"}, credentials=CREDS)))
    wrong_secret = outcome_of(h.start(h.client.get(BALANCE, credentials=WRONG_SECRET)))
    h.advance(5.0)
    assert joined(metrics, BALANCE) == 0
    assert h.count(BALANCE) == 13
    assert sorted(seen.query for seen in h.requests(BALANCE)[10:]) == [b"", b"", b"ccy=BTC"]
    assert {d["ccy"] for d in waiting[0].data[0]["details"]} >= {"BTC", "USDT"}
    assert [d["ccy"] for d in other_query[0].data[0]["details"]] == ["BTC"]
    assert isinstance(wrong_secret[0], Failure)
    assert isinstance(wrong_secret[0].value, OkxAuthError)
    assert wrong_secret[0].value.code == "50113"


def test_a_caller_giving_up_leaves_the_others_joined() -> None:
    """Cancelling one joiner (or the first caller) does not cancel the call for the rest."""
    h, _ = setup()
    for _ in range(10):
        h.start(h.client.get(BALANCE, credentials=CREDS))
    leader: Deferred[Any] = Deferred.fromCoroutine(h.client.get(BALANCE, credentials=CREDS))
    joiner: Deferred[Any] = Deferred.fromCoroutine(h.client.get(BALANCE, credentials=CREDS))
    last: Deferred[Any] = Deferred.fromCoroutine(h.client.get(BALANCE, credentials=CREDS))
    gave_up = outcome_of(leader)
    leader.cancel()
    joiner.cancel()
    box = outcome_of(last)
    assert gave_up and gave_up[0].check(CancelledError)
    h.advance(2.5)
    assert box and box[0].data
    assert h.count(BALANCE) == 11


def test_joining_can_be_switched_off() -> None:
    """``coalesce=False``: every waiting read sends its own call."""
    h, metrics = setup(coalesce=False)
    boxes = [outcome_of(h.start(h.client.get(BALANCE, credentials=CREDS))) for _ in range(15)]
    h.advance(2.5)
    replies = results(boxes)
    assert not any(isinstance(r, Failure) for r in replies)
    assert h.count(BALANCE) == 15
    assert distinct(replies) == 15
    assert joined(metrics, BALANCE) == 0


def test_identical_writes_are_never_shared_and_keep_their_order() -> None:
    """
    130 place-order bodies for one instrument (OKX: 60 per 2 s per account and
    instrument), identical but for a tag with their arrival number: every one is sent,
    in exactly the order they arrived, although 70 of them had to wait, and okxsim holds
    130 orders.
    """
    h, metrics = setup()
    boxes = [
        outcome_of(
            h.start(h.client.post(PLACE, {**RESTING_BUY, "clOrdId": f"n{i}"}, credentials=CREDS))
        )
        for i in range(130)
    ]
    h.advance(5.0)
    replies = results(boxes)
    assert not any(isinstance(r, Failure) for r in replies)
    assert all(r.items[0].ok for r in replies)
    sent = [json.loads(seen.body)["clOrdId"] for seen in h.requests(PLACE)]
    assert sent == [f"n{i}" for i in range(130)]
    assert len(h.sim.state()["orders"]) == 130
    assert joined(metrics, PLACE) == 0


# -- deadlines -------------------------------------------------------------------------


def test_a_burst_larger_than_the_deadline_allows_fails_fast() -> None:
    """
    50 different position reads for one key (10 per 2 s per account) with a 5 s
    deadline: 30 fit (at 0, 2.1 and 4.2 s, each leaving 0.5 s for the reply); the other
    20 fail at once, before any time passes, naming the limit, and are never sent.
    """
    h, _ = setup(timeout=5.0)
    boxes = [
        outcome_of(h.start(h.client.get(POSITIONS, {"posId": str(i)}, credentials=CREDS)))
        for i in range(50)
    ]
    refused = [box[0].value for box in boxes if box and isinstance(box[0], Failure)]
    assert len(refused) == 20
    for error in refused:
        assert isinstance(error, OkxTimeout) and error.phase == "pacing"
        assert error.limit == "10 per 2 s per account"
        assert str(error) == (
            f"GET {POSITIONS} timed out before it was sent: OKX allows 10 per 2 s per "
            "account, and the next free slot is 6.3 s away, past this call's deadline "
            "(5.0 s away); nothing was sent"
        )
        assert not error.outcome_unknown
    h.advance(6.0)
    assert h.count(POSITIONS) == 30
    assert [seen.query for seen in h.requests(POSITIONS)] == [
        f"posId={i}".encode() for i in range(30)
    ]
    assert not any(isinstance(r, Failure) for r in results(boxes[:30]))
    assert h.clock.getDelayedCalls() == []


def test_a_retry_without_a_slot_in_time_reports_the_failure_it_retried() -> None:
    """
    A read refused with 50011 would be retried after 1 s, but its budget's next slot
    (2.1 s) leaves no time for a reply before the 2.5 s deadline: the caller gets the
    50011 failure at once, not a pacing error, and nothing more is sent.
    """
    h, _ = setup(timeout=2.5, retry=RetryPolicy(max_attempts=4, base=0.01, cap=0.01))
    h.sim.add_fault(
        POSITIONS, "reply", status=429, body=envelope([], code="50011", msg="busy")
    )
    first = outcome_of(h.start(h.client.get(POSITIONS, {"posId": "A"}, credentials=CREDS)))
    for i in range(9):
        h.start(h.client.get(POSITIONS, {"posId": f"B{i}"}, credentials=CREDS))
    h.advance(1.2)
    assert first and isinstance(first[0], Failure)
    assert isinstance(first[0].value, OkxApiError) and first[0].value.code == "50011"
    assert h.count(POSITIONS) == 10
    assert h.requests(POSITIONS)[0].query == b"posId=A"


# -- the pacer on its own ----------------------------------------------------------------


def rule(limit: int, scope: Scope = Scope.USER_INST_ID) -> RateRule:
    return RateRule("POST", "/api/v5/x", limit, scope)


def test_the_pacer_lets_one_budget_through_first_come_first_served() -> None:
    """
    Callers of one budget leave in arrival order, even one that arrives (from a
    released caller's code) at a moment its own slot is free: it still queues behind
    the callers already waiting. One timer per budget, however many wait.
    """
    clock = Clock()
    pacer = Pacer(clock)
    limit = rule(3)
    key = budget_key(limit, identity="k", body={"instId": "BTC-USDT"})
    order: list[str] = []

    async def call(name: str, then: str | None = None) -> None:
        await pacer.acquire(limit, key, deadline=clock.seconds() + 10)
        order.append(name)
        if then is not None:
            Deferred.fromCoroutine(call(then))

    for name, then in [("a", None), ("b", None), ("c", None), ("d", "f"), ("e", None)]:
        Deferred.fromCoroutine(call(name, then))
    assert order == ["a", "b", "c"]
    assert pacer.waiting(key) == 2
    assert len(clock.getDelayedCalls()) == 1
    clock.advance(2.1)
    assert order == ["a", "b", "c", "d", "e", "f"]
    assert clock.getDelayedCalls() == []


def test_a_refused_call_takes_no_slot_and_leaves_no_timer() -> None:
    """Failing fast gives the slot back: the next caller with more time gets it."""
    clock = Clock()
    pacer = Pacer(clock)
    limit = rule(1, Scope.USER)
    key = budget_key(limit, identity="k")
    first = outcome_of(Deferred.fromCoroutine(pacer.acquire(limit, key, deadline=10.0)))
    refused = outcome_of(Deferred.fromCoroutine(pacer.acquire(limit, key, deadline=2.0)))
    assert first == [0.0]
    assert isinstance(refused[0].value, OkxTimeout)
    assert refused[0].value.limit == describe_limit(limit) == "1 per 2 s per account"
    assert clock.getDelayedCalls() == []
    later = outcome_of(Deferred.fromCoroutine(pacer.acquire(limit, key, deadline=10.0)))
    assert later == []
    clock.advance(2.1)
    assert later == [pytest.approx(2.1)]


def test_a_cancelled_waiter_leaves_the_queue() -> None:
    """A waiter that gives up is dropped; the one behind it still leaves on time."""
    clock = Clock()
    pacer = Pacer(clock)
    limit = rule(1, Scope.USER)
    key = budget_key(limit, identity="k")
    Deferred.fromCoroutine(pacer.acquire(limit, key, deadline=60.0))
    gives_up = Deferred.fromCoroutine(pacer.acquire(limit, key, deadline=60.0))
    stays = outcome_of(Deferred.fromCoroutine(pacer.acquire(limit, key, deadline=60.0)))
    gone = outcome_of(gives_up)
    gives_up.cancel()
    assert gone[0].check(CancelledError)
    assert pacer.waiting(key) == 1
    clock.advance(4.2)
    assert stays == [pytest.approx(4.2)]
    alone = Deferred.fromCoroutine(pacer.acquire(limit, key, deadline=60.0))
    alone.addErrback(lambda f: None)
    alone.cancel()
    assert clock.getDelayedCalls() == []


def test_every_scope_has_words() -> None:
    """Each of OKX's scopes reads as a sentence in the refusal."""
    assert describe_limit(rule_for("GET", TICKER, signed=False)) == "20 per 2 s per IP address"
    assert describe_limit(rule_for("POST", PLACE, signed=True)) == (
        "60 per 2 s per account and instrument"
    )
    for scope in Scope:
        assert describe_limit(rule(5, scope)).startswith("5 per 2 s per ")


@settings(max_examples=60, deadline=None)
@example(
    arrivals=[(0.0, 1.0), (0.375, 1.0), (0.34375, 1.0), (0.125, 1.0), (0.15625, 1.0),
              (0.21875, 1.0), (0.0625, 2.0), (0.125, 4.0), (0.0625, 1.0), (0.03125, 1.0),
              (0.28125, 5.03125)],
    limit=1,
)
@given(
    arrivals=st.lists(
        st.tuples(st.floats(min_value=0, max_value=0.4), st.floats(min_value=0.1, max_value=8)),
        min_size=1,
        max_size=80,
    ),
    limit=st.integers(min_value=1, max_value=12),
)
def test_waiting_callers_keep_order_limit_and_deadline(
    arrivals: list[tuple[float, float]], limit: int
) -> None:
    """
    For any arrivals (gap, time allowed): callers leave in arrival order, no window holds
    more than the limit, and each either gets a slot at least ``reply_time`` before its
    deadline (or goes at once) or is refused at once, before any time passes.

    Every timer fires exactly when due (the clock goes from one to the next). A timer the
    reactor runs late lets its caller through late, counted from then, which moves those
    queued behind it by as much: their ``reply_time`` to spare absorbs a reactor's
    milliseconds, not the 50 ms steps this test once took (the example below).
    """
    clock = Clock()
    pacer = Pacer(clock)
    budget_rule = rule(limit, Scope.USER)
    key = budget_key(budget_rule, identity="k")
    released: list[int] = []
    slots: dict[int, float] = {}
    refused: list[int] = []
    deadlines: list[float] = []
    arrived: list[float] = []

    async def call(index: int, arrived: float, deadline: float) -> None:
        try:
            wait = await pacer.acquire(budget_rule, key, deadline=deadline)
        except OkxTimeout:
            assert clock.seconds() == arrived
            refused.append(index)
            return
        released.append(index)
        slots[index] = arrived + wait
        assert clock.seconds() >= slots[index] - 1e-6

    def arrive(index: int, allowed: float) -> None:
        arrived.append(clock.seconds())
        deadlines.append(clock.seconds() + allowed)
        Deferred.fromCoroutine(call(index, clock.seconds(), deadlines[-1]))

    at = 0.0
    for index, (gap, allowed) in enumerate(arrivals):
        at += gap
        clock.callLater(at, arrive, index, allowed)
    for _ in range(10 * len(arrivals) + 10):  # each caller arrives and leaves once
        due = [call.getTime() for call in clock.getDelayedCalls()]
        if not due:
            break
        clock.advance(max(0.0, min(due) - clock.seconds()))
    assert sorted(released + refused) == list(range(len(arrivals)))
    assert released == sorted(released)
    times = sorted(slots.values())
    window = budget_rule.window
    assert all(sum(1 for o in times if t - window < o <= t + 1e-9) <= limit for t in times)
    assert all(
        slots[i] == arrived[i] or slots[i] + pacer.reply_time <= deadlines[i] + 1e-9
        for i in released
    )
    assert clock.getDelayedCalls() == []
