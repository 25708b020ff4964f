"""
Private budgets are paced per OKX account (User ID), not per API key.

OKX counts private limits per User ID: two keys of one account share ``account/balance``'s
10 per 2 s. Two FMZ exchange configurations with two keys of one account, polling
together, must not draw twice the budget (okxsim counts by account too, see
``tests/sim/test_account_keys.py``).
"""

from __future__ import annotations

from typing import Any

from treq.client import HTTPClient
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from fmzokx.okx.credentials import Credentials
from fmzokx.okx.pacing.accounts import AccountBudgets, account_tag
from fmzokx.okx.pacing.shared.script import budget_redis_key
from fmzokx.okx.pacing.shared.slots import SharedSlots
from fmzokx.okx.rest.client import OkxClient
from fmzokx.okx.rest.transport import BytesProducer
from fmzokx.sim import DEFAULT_ACCOUNT, SimAccount
from tests.okx.sharedbudget.fakestore import FakeStore
from tests.stack import Stack

SECOND = SimAccount(key="second-key", secret="second-secret", passphrase="second-pass",
                    account_of=DEFAULT_ACCOUNT.key)
BALANCE = "/api/v5/account/balance"
ONE = Credentials("k1", "s1", "p1")


def test_a_key_is_its_own_budget_until_its_account_is_known() -> None:
    budgets = AccountBudgets(Clock(), lambda credentials: succeed("4711"))
    assert budgets.identity(ONE) == ONE.fingerprint
    assert budgets.needs_lookup(ONE)
    Deferred.fromCoroutine(budgets.learn(ONE))
    assert budgets.identity(ONE) == account_tag("4711")
    assert not budgets.needs_lookup(ONE)


def test_a_failed_lookup_is_tried_again_after_a_while() -> None:
    clock = Clock()
    answers: list[Any] = [fail(RuntimeError("down")), succeed("")]
    budgets = AccountBudgets(clock, lambda credentials: answers.pop(0), retry_after=60)
    Deferred.fromCoroutine(budgets.learn(ONE))
    assert budgets.identity(ONE) == ONE.fingerprint
    assert not budgets.needs_lookup(ONE)
    clock.advance(60)
    assert budgets.needs_lookup(ONE)
    Deferred.fromCoroutine(budgets.learn(ONE))  # an empty uid is no answer either
    assert budgets.identity(ONE) == ONE.fingerprint and not budgets.needs_lookup(ONE)


def test_concurrent_first_calls_share_one_lookup() -> None:
    asked: list[Credentials] = []
    answer: Deferred[str] = Deferred()

    def lookup(credentials: Credentials) -> Deferred[str]:
        asked.append(credentials)
        return answer

    budgets = AccountBudgets(Clock(), lookup)
    first = Deferred.fromCoroutine(budgets.learn(ONE))
    second = Deferred.fromCoroutine(budgets.learn(ONE))
    answer.callback("9")
    assert asked == [ONE] and first.called and second.called


def test_the_account_tag_names_no_uid_and_is_a_safe_redis_key_part() -> None:
    tag = account_tag("374579799097793561")
    assert "374579799097793561" not in tag
    key = budget_redis_key("fmzokx", ("GET", BALANCE, tag))
    assert key.endswith(":" + tag)


def _balance_envelope(stack: Stack, account: SimAccount) -> dict[str, Any]:
    envelope = stack.envelope("accounts")
    envelope["access_key"] = account.key
    envelope["secret_key"] = f"{account.secret},{account.passphrase}"
    return envelope


def _burst(stack: Stack, count: int) -> list[Any]:
    return stack.at_once(
        _balance_envelope(stack, DEFAULT_ACCOUNT if index % 2 else SECOND)
        for index in range(count)
    )


def test_two_keys_of_one_account_stay_within_the_accounts_budget() -> None:
    """30 balance reads from two keys of one account: no 50011 at okxsim."""
    stack = Stack(rate_limits=True, accounts=(DEFAULT_ACCOUNT, SECOND), learn_accounts=True)
    replies = _burst(stack, 30)
    assert not any(isinstance(reply, Failure) for reply in replies)
    assert all("error" not in reply for reply in replies), [
        reply for reply in replies if "error" in reply
    ]
    assert stack.sim.limiter.rejections() == {}


def test_keyed_per_key_pacing_would_meet_50011() -> None:
    """The same burst paced per key (the old way) is refused by an OKX that counts per account."""
    stack = Stack(rate_limits=True, accounts=(DEFAULT_ACCOUNT, SECOND), learn_accounts=False)
    _burst(stack, 30)
    assert BALANCE in str(stack.sim.limiter.rejections())


def _shared_slots(stack: Stack, store: FakeStore) -> SharedSlots:
    slots = SharedSlots(stack.clock, store, hosts=2, where="redis://fake:6379/0")
    slots.start()
    stack.advance(0.6)  # the first probe pings the fake Redis, which answers
    assert not slots.degraded
    return slots


def test_two_daemons_with_a_key_each_share_the_accounts_redis_budget() -> None:
    """
    Two daemons sharing a Redis budget (``--shared-state``), each with one key of the same
    account: their balance reads draw from one Redis budget, the account's, so together
    they stay within OKX's 10 per 2 s per User ID (no 50011 at okxsim).
    """
    stack = Stack(rate_limits=True, accounts=(DEFAULT_ACCOUNT, SECOND))
    store = FakeStore(stack.clock)
    daemons = [
        (
            OkxClient(
                http=HTTPClient(stack.okx_agent, data_to_body_producer=BytesProducer),
                clock=stack.clock, base_url="https://www.okx.com", learn_accounts=True,
                shared_budget=_shared_slots(stack, store),
                coalesce=False,  # each read its own request, as from different strategies
            ),
            Credentials(account.key, account.secret, account.passphrase),
        )
        for account in (DEFAULT_ACCOUNT, SECOND)
    ]
    calls = [
        Deferred.fromCoroutine(client.get(BALANCE, credentials=credentials))
        for _ in range(12) for client, credentials in daemons
    ]
    boxes: list[list[Any]] = [[] for _ in calls]
    for call, box in zip(calls, boxes, strict=True):
        call.addBoth(box.append)
    waited = 0.0
    while not all(boxes):
        assert waited < 30, "some calls were never answered"
        stack.advance(0.05)
        waited += 0.05
    assert not [box[0] for box in boxes if isinstance(box[0], Failure)]
    assert stack.sim.limiter.rejections() == {}
    assert len(stack.sim.requests(BALANCE)) == 24  # none refused and sent again
    balance_keys = {key for key in store.windows if "account/balance" in key}
    assert len(balance_keys) == 1 and "acct-" in balance_keys.pop(), store.windows.keys()
