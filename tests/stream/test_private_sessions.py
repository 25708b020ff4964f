"""
A key's private session over its life, on the whole stack against okxsim: opened by the
first read or write, kept while the key is used, closed after minutes without a call; an order the
copy does not know is looked up over REST; ``/status`` lists each session by its key's
fingerprint.
"""

from __future__ import annotations

from typing import Any

from fmzokx.okx.credentials import fingerprint
from fmzokx.okx.endpoints import CANCEL_ORDER
from fmzokx.sim import DEFAULT_ACCOUNT, SimAccount
from fmzokx.status.history import History
from fmzokx.status.view import StatusView
from tests.stream.private_support import KEY, PrivateStack

PRIVATE = "/ws/v5/private"


def okxsim_sessions(stack: PrivateStack) -> list[Any]:
    """The private connections okxsim has open now."""
    return list(stack.sim.ws.sessions[PRIVATE])


def test_an_order_the_copy_does_not_know_is_asked_of_rest() -> None:
    """
    An order finished before the session opened: the copy never saw it, so ``order`` asks
    REST (never "missing"); REST's answer is kept, so the next ``order`` is the copy's.
    """
    stack = PrivateStack()
    # Placed and cancelled at okxsim by someone else (not through the daemon's calls,
    # which would open the key's session and show the order in it).
    ord_id = stack.place_directly(stack.resting_buy())
    stack.direct(CANCEL_ORDER.path, {"instId": "BTC-USDT", "ordId": ord_id})
    order = f"BTC-USDT,{ord_id}"
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



def test_an_order_placed_while_the_session_opens_is_in_the_copy_despite_okxs_lag() -> None:
    """
    A ``Buy`` sent right after the read that opened the session, before it subscribed: no
    push for it reaches the session, and OKX's open-order list (1.5 s behind here) may not
    show it to the seed. ``GetOrders`` still lists it, long after the 5 s in which the
    daemon remembers its own placements, and from the copy.
    """
    stack = PrivateStack()
    price = stack.below_market()
    stack.sim.configure(lag_ms=1500)
    stack.ok("accounts")  # over REST; opens the key's session
    order = stack.place("BTC_USDT", "buy", price, "0.01")
    stack.advance(10.0)
    assert stack.session.state == "live"
    listed = [item["id"] for item in stack.from_copy("orders", symbol="BTC_USDT")["data"]]
    assert listed == [order]
    assert stack.from_copy("order", id=order)["data"]["status"] == "pending"
    assert stack.private is not None and stack.private.stats.differences == {}


def test_a_first_trade_opens_the_session_and_the_next_reads_see_it() -> None:
    """
    A key whose first private call is ``Buy``: that call opens its session (as a first
    read would), and once the session is live the order and the balance it froze are
    answered from the copy, the same as REST's.
    """
    stack = PrivateStack()
    price = stack.below_market()
    assert stack.private is not None and stack.private.sessions == {}
    order = stack.place("BTC_USDT", "buy", price, "0.01")
    assert len(stack.private.sessions) == 1
    stack.advance(3.0)
    assert stack.session.state == "live"
    assert [item["id"] for item in stack.from_copy("orders")["data"]] == [order]
    assert stack.from_copy("order", id=order) == stack.rest("order", id=order)
    assert stack.from_copy("accounts")["data"] == stack.rest("accounts")["data"]
