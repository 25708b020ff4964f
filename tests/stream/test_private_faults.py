"""
The private copy through okxsim's private-WebSocket faults, on the whole stack: every
answer stays what REST says; while the copy cannot be trusted the reads go to REST (and
say why in the counters); the copy takes over again once it can.

Read-your-writes: after ``trade``, ``cancel`` and ``setmarginlevel`` return, every read
shows the write, whether the push comes late, out of order or never.
"""

from __future__ import annotations

from typing import Any

from twisted.logger import formatEvent

from fmzokx.sim import SimAccount
from tests.helpers import LogEvents
from tests.stream.private_support import PrivateStack, same_reply

PRIVATE = "/ws/v5/private"


def fault(stack: PrivateStack, mode: str, count: int = 1, delay_ms: float = 0) -> None:
    stack.sim.ws.add_fault(PRIVATE, mode, count, delay_ms)


def rest_reasons(stack: PrivateStack) -> set[str]:
    assert stack.private is not None
    return {why for (_, source, why) in stack.private.stats.answers if source == "rest"}


def open_ids(reply: dict[str, Any]) -> list[str]:
    return [order["id"] for order in reply["data"]]


def agree(stack: PrivateStack) -> None:
    """
    Every read the daemon answers equals the REST twin's, whichever path answered: the
    FMZ data exactly (between two regular pushes the copy's raw balance carries the
    mark-to-market values, ``eqUsd``/``totalEq``, of the last push; the equality test
    compares raw too, right after a push).
    """
    for method in ("accounts", "orders"):
        mine, theirs = stack.ok(method), stack.rest(method)
        assert "error" not in theirs, theirs
        assert mine["data"] == theirs["data"], method


def test_read_your_writes_with_the_push_delayed() -> None:
    """Pushes 3 s late: reads after the trade and the cancel show them (over REST)."""
    stack = PrivateStack()
    stack.warm()
    fault(stack, "delay", count=50, delay_ms=3000)
    order = stack.place("BTC_USDT", "buy", stack.below_market(), "0.01")
    assert open_ids(stack.ok("orders")) == [order]
    assert any(row["frozen"] != "0" for row in stack.ok("accounts")["data"])
    agree(stack)
    assert "write" in rest_reasons(stack)
    assert stack.ok("cancel", id=order)["data"] is True
    assert open_ids(stack.ok("orders")) == []
    assert stack.ok("order", id=order)["data"]["status"] == "canceled"
    agree(stack)
    # The late pushes arrive (the "live" one after the cancel): nothing rolls back.
    stack.advance(4.0)
    assert stack.session.barriers == []
    assert open_ids(stack.from_copy("orders")) == []
    assert stack.from_copy("order", id=order)["data"]["status"] == "canceled"
    agree(stack)


def test_late_push_never_rolls_an_order_back() -> None:
    """The order's first push held back until after its cancel's: the copy stays cancelled."""
    stack = PrivateStack()
    stack.warm()
    fault(stack, "out-of-order", count=1)
    order = stack.place("BTC_USDT", "buy", stack.below_market(), "0.01")
    stack.ok("cancel", id=order)
    stack.advance(1.0)
    assert stack.from_copy("order", id=order)["data"]["status"] == "canceled"
    assert open_ids(stack.from_copy("orders")) == []


def test_read_your_writes_with_the_push_lost() -> None:
    """Pushes lost: REST answers, then the copy is re-seeded and answers again, right."""
    stack = PrivateStack()
    stack.warm()
    fault(stack, "lose-push", count=20)
    order = stack.place("BTC_USDT", "buy", stack.below_market(), "0.01")
    assert open_ids(stack.ok("orders")) == [order]
    agree(stack)
    positions_reads = stack.sim.request_counts["/api/v5/account/positions"]
    stack.advance(4.0)  # past the settle time: re-seeded from REST
    assert stack.session.barriers == []
    # A spot order moves no position: only the balance was read again.
    assert stack.sim.request_counts["/api/v5/account/positions"] == positions_reads
    assert open_ids(stack.from_copy("orders")) == [order]
    agree(stack)


def test_leverage_change_shows_at_once() -> None:
    """After setmarginlevel returns, positions show the new leverage."""
    stack = PrivateStack()
    stack.warm()
    stack.place("BTC_USDT.swap", "buy", -1, 2)
    stack.advance(0.5)
    fault(stack, "delay", count=50, delay_ms=3000)
    stack.ok("setmarginlevel", symbol="BTC_USDT.swap", margin_level="9")
    assert stack.ok("positions")["data"][0]["margin_level"] == 9
    stack.advance(4.0)
    assert stack.from_copy("positions")["data"][0]["margin_level"] == 9


def test_dropped_connection_falls_back_and_recovers() -> None:
    stack = PrivateStack()
    stack.warm()
    order = stack.place("BTC_USDT", "buy", stack.below_market(), "0.01")
    stack.advance(0.5)
    stack.sim.ws.add_fault(PRIVATE, "disconnect", 1, 0)
    stack.flush()
    assert open_ids(stack.ok("orders")) == [order]
    assert rest_reasons(stack) & {"connecting", "logging_in", "subscribing", "seeding"}
    agree(stack)
    stack.advance(3.0)
    assert open_ids(stack.from_copy("orders")) == [order]
    assert stack.from_copy("order", id=order)["data"]["status"] == "pending"


def test_stalled_connection_falls_back_within_the_freshness_budget() -> None:
    """A frozen server: after 1 s without a pong reads go to REST; then reconnect."""
    stack = PrivateStack()
    stack.warm()
    stack.sim.ws.add_fault(PRIVATE, "stall", 1, 0)
    stack.advance(1.2)
    order = stack.place("BTC_USDT", "buy", stack.below_market(), "0.01")
    assert open_ids(stack.ok("orders")) == [order]
    assert "stale" in rest_reasons(stack)
    agree(stack)
    stack.advance(10.0)  # the pong timeout drops it; a new connection is healthy
    assert open_ids(stack.from_copy("orders")) == [order]


def test_refused_login_answers_over_rest_and_says_why(info_events: LogEvents) -> None:
    stack = PrivateStack(private_options={"retry_refused": 5.0})
    fault(stack, "refuse-login", count=1)
    stack.ok("accounts")
    stack.advance(1.0)
    assert stack.session.state == "refused"
    same_reply(stack.ok("accounts"), stack.rest("accounts"))
    assert "refused" in rest_reasons(stack)
    lines = [formatEvent(event) for event in info_events]
    assert any("60009" in line and "login failed" in line and "REST" in line for line in lines)
    stack.advance(6.0)  # retried
    assert stack.session.state == "live"
    stack.from_copy("accounts")


def test_external_order_shows_within_one_push() -> None:
    """An order placed at okxsim by someone else (not through the daemon)."""
    stack = PrivateStack()
    stack.warm()
    ord_id = stack.place_directly(stack.resting_buy())
    stack.advance(0.1)  # one push's way
    assert open_ids(stack.from_copy("orders")) == [f"BTC-USDT,{ord_id}"]
    assert stack.from_copy("accounts")["data"] == stack.rest("accounts")["data"]


def test_lost_push_of_an_external_change_is_found_by_reconciliation() -> None:
    stack = PrivateStack(private_options={"reconcile_every": 10.0})
    stack.warm()
    fault(stack, "lose-push", count=3)
    ord_id = stack.place_directly(stack.resting_buy())
    stack.advance(0.2)
    assert open_ids(stack.from_copy("orders")) == []  # the push was lost: not known yet
    stack.advance(11.0)
    assert stack.private is not None
    assert stack.private.stats.differences.get("orders") == 1
    assert open_ids(stack.from_copy("orders")) == [f"BTC-USDT,{ord_id}"]


def test_many_keys_each_their_own_copy() -> None:
    """Six keys (one a demo key), one refused: each answered with its own account."""
    accounts = tuple(
        SimAccount(key=f"many-key-{n}", secret=f"many-secret-{n}", passphrase=f"pass-{n}",
                   balances={"USDT": str(1000 * (n + 1))}, demo=n == 5)
        for n in range(6)
    )
    stack = PrivateStack(accounts=accounts, private_options={"retry_refused": 600.0})
    stack.sim.ws.add_fault(PRIVATE, "refuse-login", 1, 0, key="many-key-2")

    def call(n: int, method: str, **params: str) -> Any:
        envelope = stack.envelope(method, params)
        envelope["access_key"] = f"many-key-{n}"
        envelope["secret_key"] = f"many-secret-{n},pass-{n}" + (",simulate" if n == 5 else "")
        reply = stack.post(envelope)
        assert "error" not in reply, reply
        return reply

    for n in range(6):
        call(n, "accounts")
    stack.advance(3.0)
    assert stack.private is not None
    health = stack.private.health()
    assert (health["count"], health["live"]) == (6, 5)
    assert [s["demo"] for s in health["sessions"] if s["state"] == "refused"] == [False]
    before = stack.private.stats.from_copy("balance")
    for n in range(6):
        (row,) = call(n, "accounts")["data"]
        assert (row["currency"], row["free"]) == ("USDT", str(1000 * (n + 1)))
    assert stack.private.stats.from_copy("balance") == before + 5  # key 2 over REST


def test_read_your_writes_through_the_raw_api() -> None:
    """An order placed with a pass-through POST shows at once, its push 3 s late."""
    stack = PrivateStack()
    stack.warm()
    fault(stack, "delay", count=50, delay_ms=3000)
    reply = stack.call("__api_/api/v5/trade/order", headers={"Http-Method": "POST"},
                       instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                       px=str(stack.below_market()), sz="0.01")
    ord_id = reply["data"]["data"][0]["ordId"]
    assert open_ids(stack.ok("orders")) == [f"BTC-USDT,{ord_id}"]
    agree(stack)
    stack.advance(4.0)
    assert open_ids(stack.from_copy("orders")) == [f"BTC-USDT,{ord_id}"]


def test_a_lost_push_nobody_read_around_is_reseeded_after_settling() -> None:
    """No read after the write: 2 s later the copy re-reads what the write changed."""
    stack = PrivateStack()
    stack.warm()
    fault(stack, "lose-push", count=20)
    reads = dict(stack.sim.request_counts)
    order = stack.place("BTC_USDT", "buy", stack.below_market(), "0.01")
    stack.advance(3.0)
    assert stack.session.barriers == []
    counts = stack.sim.request_counts
    assert counts["/api/v5/account/balance"] == reads.get("/api/v5/account/balance", 0) + 1
    assert counts["/api/v5/trade/orders-pending"] == (
        reads.get("/api/v5/trade/orders-pending", 0) + 1
    )
    # A spot order moves no position: positions were not read again.
    assert counts["/api/v5/account/positions"] == reads.get("/api/v5/account/positions", 0)
    assert open_ids(stack.from_copy("orders")) == [order]
    agree(stack)


def test_an_order_rest_does_not_show_yet_stays_in_the_copy() -> None:
    """okxsim's read-after-write lag: REST hides a new order for 1 s; the copy does not."""
    stack = PrivateStack()
    stack.warm()
    stack.sim.configure(lag_ms=1000)
    order = stack.place("BTC_USDT", "buy", stack.below_market(), "0.01")
    stack.ok("orders")  # over REST (the write's barrier): okxsim does not list it yet
    stack.advance(0.2)
    assert open_ids(stack.from_copy("orders")) == [order]
    stack.advance(2.0)
    same_reply(stack.from_copy("orders"), stack.rest("orders"))


def test_an_idle_account_stays_fresh_by_its_heartbeat() -> None:
    """
    Nothing happens on the account for 10 s (okxsim's regular pushes come every 5 s, the
    freshness budget is 1 s): a strategy polling every 100 ms is answered from the copy
    every time, kept fresh by pings, and REST is not read.
    """
    stack = PrivateStack()
    stack.warm()
    stack.ok("accounts")
    reads = sum(stack.sim.request_counts[path] for path in (
        "/api/v5/account/balance", "/api/v5/account/positions", "/api/v5/trade/orders-pending"
    ))
    for _ in range(100):
        stack.from_copy("accounts")
        stack.from_copy("orders")
        stack.advance(0.1)
    assert sum(stack.sim.request_counts[path] for path in (
        "/api/v5/account/balance", "/api/v5/account/positions", "/api/v5/trade/orders-pending"
    )) == reads


def test_a_reconnect_while_the_seed_is_read_still_goes_live() -> None:
    """The connection drops while its seed's REST reads are slow: the next one seeds."""
    stack = PrivateStack()
    stack.ok("accounts")  # opens the session
    stack.sim.add_fault("/api/v5/account/balance", "delay", count=1, delay_ms=3000)
    stack.advance(0.5)  # subscribed; the seed's balance read is waiting
    assert stack.session.state == "seeding"
    stack.sim.ws.add_fault(PRIVATE, "disconnect", 1, 0)
    for _ in range(100):
        stack.advance(0.1)
        if stack.session.state == "live":
            break
    assert stack.session.state == "live"
    stack.advance(0.5)  # its heartbeat confirmed
    assert stack.from_copy("accounts")["data"] == stack.rest("accounts")["data"]


def test_read_your_cancel_with_the_push_lost() -> None:
    """The cancel's pushes lost: reads after it returns show it; the copy catches up."""
    stack = PrivateStack()
    stack.warm()
    order = stack.place("BTC_USDT", "buy", stack.below_market(), "0.01")
    stack.advance(0.5)
    assert open_ids(stack.from_copy("orders")) == [order]
    fault(stack, "lose-push", count=20)
    assert stack.ok("cancel", id=order)["data"] is True
    assert open_ids(stack.ok("orders")) == []
    assert stack.ok("order", id=order)["data"]["status"] == "canceled"
    agree(stack)
    stack.advance(3.0)  # past the settle time: what the cancel changed is read again
    assert stack.session.barriers == []
    assert open_ids(stack.from_copy("orders")) == []
    assert stack.from_copy("order", id=order)["data"]["status"] == "canceled"
    assert stack.from_copy("accounts")["data"] == stack.rest("accounts")["data"]


def test_read_your_leverage_change_with_the_push_lost() -> None:
    """setmarginlevel's pushes lost: positions and the balance show it at once and after."""
    stack = PrivateStack()
    stack.warm()
    stack.place("BTC_USDT.swap", "buy", -1, 2)
    stack.advance(3.0)
    assert stack.from_copy("positions")["data"][0]["margin_level"] != 9
    fault(stack, "lose-push", count=20)
    stack.ok("setmarginlevel", symbol="BTC_USDT.swap", margin_level="9")
    assert stack.ok("positions")["data"][0]["margin_level"] == 9
    assert stack.ok("accounts")["data"] == stack.rest("accounts")["data"]
    stack.advance(3.0)
    assert stack.session.barriers == []
    assert stack.from_copy("positions")["data"][0]["margin_level"] == 9


def test_external_fill_shows_within_one_push() -> None:
    """
    A market order sent to okxsim directly (not through the daemon) fills at once: the
    order, the new position and the balance are in the copy one push later.
    """
    stack = PrivateStack()
    stack.warm()
    ord_id = stack.place_directly({"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy",
                                   "ordType": "market", "sz": "2"})
    stack.advance(0.1)  # one push's way
    order = f"BTC-USDT-SWAP,{ord_id}"
    assert stack.from_copy("order", id=order)["data"] == stack.rest("order", id=order)["data"]
    assert stack.from_copy("order", id=order)["data"]["status"] == "filled"
    stable = ("symbol", "type", "amount", "price", "margin_level")
    mine = stack.from_copy("positions")["data"]
    theirs = stack.rest("positions")["data"]
    assert len(mine) == len(theirs) == 1
    assert {k: mine[0][k] for k in stable} == {k: theirs[0][k] for k in stable}
    assert stack.from_copy("accounts")["data"] == stack.rest("accounts")["data"]


def test_a_leverage_change_half_done_is_read_over_rest() -> None:
    """
    Long/short mode, isolated: the long side's leverage is set, the short side's refused,
    so setmarginlevel fails -- yet the long position changed: with its push late, reads
    show the new leverage anyway (the copy is not trusted until it shows the write).
    """
    stack = PrivateStack()
    reply = stack.call("__api_/api/v5/account/set-position-mode",
                       headers={"Http-Method": "POST"}, posMode="long_short_mode")
    assert reply["data"]["code"] == "0", reply
    stack.warm()
    stack.place("BTC_USDT.swap", "buy", -1, 2, margin_mode="isolated")
    stack.advance(3.0)
    assert stack.from_copy("positions")["data"][0]["margin_level"] != 9
    fault(stack, "delay", count=50, delay_ms=3000)
    stack.sim.add_fault("/api/v5/account/set-leverage", "reply", skip=1, body={
        "code": "51000", "msg": "Parameter posSide error", "data": []})
    assert "error" in stack.call("setmarginlevel", symbol="BTC_USDT.swap", margin_level="9",
                                 margin_mode="isolated")
    assert stack.rest("positions")["data"][0]["margin_level"] == 9
    assert stack.ok("positions")["data"][0]["margin_level"] == 9
    stack.advance(4.0)
    assert stack.from_copy("positions")["data"][0]["margin_level"] == 9


def test_a_leverage_change_whose_outcome_is_unknown_is_read_over_rest() -> None:
    """OKX made the change but its answer was lost, and reading it back failed too."""
    stack = PrivateStack()
    stack.warm()
    stack.place("BTC_USDT.swap", "buy", -1, 2)
    stack.advance(3.0)
    assert stack.from_copy("positions")["data"][0]["margin_level"] != 9
    fault(stack, "delay", count=50, delay_ms=3000)
    stack.sim.add_fault("/api/v5/account/set-leverage", "drop-after-commit")
    stack.sim.add_fault("/api/v5/account/leverage-info", "http-500", count=20)
    assert "error" in stack.call("setmarginlevel", symbol="BTC_USDT.swap", margin_level="9")
    assert stack.rest("positions")["data"][0]["margin_level"] == 9
    assert stack.ok("positions")["data"][0]["margin_level"] == 9


def test_an_order_rest_does_not_list_yet_is_no_difference() -> None:
    """
    OKX's REST may not list an order for seconds after it was placed (okxsim's
    ``lag_ms``): a reconciliation in that window finds the copy ahead of REST, not wrong.
    """
    stack = PrivateStack(private_options={"reconcile_every": 10.0})
    stack.warm()
    stack.sim.configure(lag_ms=3000)
    session = stack.session
    stack.advance(session.next_reconcile - stack.clock.seconds() - 1.0)
    body = stack.resting_buy()
    reads = stack.sim.request_counts["/api/v5/trade/orders-pending"]
    ord_id = stack.place_directly(body)
    order = stack.place("BTC_USDT", "buy", stack.below_market(), "0.01")  # and the daemon's
    stack.advance(2.0)  # the reconciliation ran while REST listed neither
    assert stack.sim.request_counts["/api/v5/trade/orders-pending"] == reads + 1
    assert stack.private is not None
    assert stack.private.stats.differences == {}
    assert sorted(open_ids(stack.from_copy("orders"))) == sorted([f"BTC-USDT,{ord_id}", order])


def test_a_copy_ahead_of_reconciliations_rest_read_is_no_difference() -> None:
    """
    A reconciliation's REST read is answered with an order live; before it is compared,
    the daemon cancels that order and its own read (over REST: the cancel's push comes
    later, as OKX's often does) takes the order out of the copy. The copy is newer than
    the reconciliation's read, not wrong: no difference.
    """
    stack = PrivateStack(private_options={"reconcile_every": 10.0})
    stack.warm()
    order = stack.place("BTC_USDT", "buy", stack.below_market(), "0.01")
    stack.advance(3.0)
    session = stack.session
    stack.advance(session.next_reconcile - stack.clock.seconds() - 0.3)
    # The reconciliation's open-order list is made now and arrives 1 s later.
    stack.sim.add_fault("/api/v5/trade/orders-pending", "delay", count=1, delay_ms=1000)
    reads = stack.sim.request_counts["/api/v5/trade/orders-pending"]
    stack.advance(0.5)
    assert stack.sim.request_counts["/api/v5/trade/orders-pending"] == reads + 1
    fault(stack, "delay", count=50, delay_ms=3000)
    assert stack.ok("cancel", id=order)["data"] is True
    assert open_ids(stack.ok("orders")) == []
    stack.advance(4.0)
    assert stack.private is not None
    assert stack.private.stats.differences == {}
    assert open_ids(stack.from_copy("orders")) == []
