"""
A key's private session over its life, on the whole stack against okxsim: opened by the
first read, kept while the key is read, closed after minutes without a read; an order the
copy does not know is looked up over REST; ``/status`` lists each session by its key's
fingerprint.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fmzokx.okx.credentials import fingerprint
from fmzokx.sim import DEFAULT_ACCOUNT, SimAccount
from fmzokx.status.history import History
from fmzokx.status.view import StatusView
from tests.stream.private_support import KEY, PrivateStack

PRIVATE = "/ws/v5/private"


def below_market(stack: PrivateStack) -> Decimal:
    last = Decimal(stack.ok("ticker", symbol="BTC_USDT")["data"]["last"])
    return (last * Decimal("0.9")).quantize(Decimal("0.1"))


def okxsim_sessions(stack: PrivateStack) -> list[Any]:
    """The private connections okxsim has open now."""
    return list(stack.sim.ws.sessions[PRIVATE])


def test_an_order_the_copy_does_not_know_is_asked_of_rest() -> None:
    """
    An order finished before the session opened: the copy never saw it, so ``order`` asks
    REST (never "missing"); REST's answer is kept, so the next ``order`` is the copy's.
    """
    stack = PrivateStack()
    order = stack.place("BTC_USDT", "buy", below_market(stack), "0.01")  # opens no session
    assert stack.ok("cancel", id=order)["data"] is True
    assert stack.private is not None and stack.private.sessions == {}
    stack.warm()
    assert stack.session.copy.order(order.split(",")[1]) is None
    before = dict(stack.private.stats.answers)
    assert stack.ok("order", id=order)["data"]["status"] == "canceled"
    answers = stack.private.stats.answers
    assert answers.get(("order", "rest", "unknown"), 0) == before.get(
        ("order", "rest", "unknown"), 0
    ) + 1
    assert stack.from_copy("order", id=order)["data"]["status"] == "canceled"
    assert stack.from_copy("order", id=order) == stack.rest("order", id=order)


def test_a_session_is_kept_while_read_and_closed_minutes_after_the_last_read() -> None:
    """
    Reads a minute apart keep the one session (and its one connection) for five minutes;
    three minutes without a read close it, at okxsim too; the next read opens a new one.
    """
    stack = PrivateStack()
    stack.warm()
    assert stack.private is not None
    first = stack.session
    (connection,) = okxsim_sessions(stack)
    for _ in range(5):
        stack.advance(60.0, step=0.5)
        stack.from_copy("accounts")
    assert stack.session is first
    assert okxsim_sessions(stack) == [connection]  # never reconnected
    stack.advance(170.0, step=0.5)
    assert stack.session is first  # not yet: 3 minutes
    stack.advance(15.0, step=0.5)
    assert stack.private.sessions == {}
    assert first.state == "closed"
    assert okxsim_sessions(stack) == []
    stack.ok("accounts")  # over REST, and opens the key's session again
    stack.advance(1.0)
    assert stack.session is not first
    assert stack.session.state == "live"


def test_status_lists_each_session_by_key_fingerprint() -> None:
    """Two keys, one whose login okxsim refuses: a row each, by fingerprint, saying why."""
    other = SimAccount(key="status-key-2", secret="status-secret-2", passphrase="pass-2",
                       balances={"USDT": "500"})
    stack = PrivateStack(accounts=(DEFAULT_ACCOUNT, other),
                         private_options={"retry_refused": 600.0})
    stack.sim.ws.add_fault(PRIVATE, "refuse-login", 1, 0, key=other.key)
    stack.ok("accounts")
    envelope = stack.envelope("accounts")
    envelope.update(access_key=other.key, secret_key=f"{other.secret},{other.passphrase}")
    assert "error" not in stack.post(envelope)
    stack.advance(2.0)
    assert stack.private is not None
    page = StatusView(
        history=History(stack.clock), version="test", started=0.0, health=lambda: None,
        private=stack.private.health,
    ).render()
    section = page[page.index('id="private-stream"'):].split("</section>")[0]
    sessions = section.split("<table>")[-1]  # after the answers and differences tables
    rows = sessions.split("<tr")[2:]  # after the header row
    assert len(rows) == 2
    by_key = {key: next(row for row in rows if key in row)
              for key in (fingerprint(KEY), fingerprint(other.key))}
    assert ">live<" in by_key[fingerprint(KEY)]
    refused = by_key[fingerprint(other.key)]
    assert ">refused<" in refused and "60009" in refused and "login failed" in refused
    for secret in (KEY, other.key, other.secret, other.passphrase):
        assert secret not in page

