"""
Order safety under faults, through the daemon's RPC against okxsim's fault injection:
no duplicate order, no lost order, a bounded answer whatever OKX does.
"""

from __future__ import annotations

import json
import random
import string
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import Deferred, DeferredList

from fmzokx.fmz.identity import RequestIdentity
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.placement import orders
from tests.stack import KEY, Stack

ORDER = "/api/v5/trade/order"


def client_order_id(
    credentials: Credentials, nonce: int | None, method: str, params: dict[str, Any]
) -> str:
    """The clOrdId the OKX side derives for a docker request's identity."""
    return orders.client_order_id(credentials, RequestIdentity.of(nonce, method, params).token)


def sim_orders(stack: Stack) -> list[dict[str, Any]]:
    state = stack.sim.state()
    orders: list[dict[str, Any]] = state["orders"]
    return orders


def trade_body(stack: Stack, nonce: int | None = None, amount: str = "20") -> dict[str, Any]:
    return stack.envelope(
        "trade", {"symbol": "BTC_USDT", "type": "buy", "price": "-1", "amount": amount},
        nonce=nonce,
    )


def timed_post(stack: Stack, body: dict[str, Any]) -> tuple[dict[str, Any], float]:
    started = stack.clock.seconds()
    reply = stack.post(body, limit=300)
    return reply, stack.clock.seconds() - started


def test_drop_after_commit_gives_the_real_id() -> None:
    """OKX places the order then drops the connection: one order, and the caller gets its id."""
    stack = Stack()
    stack.sim.add_fault(ORDER, "drop-after-commit", count=1)
    reply, elapsed = timed_post(stack, trade_body(stack))
    orders = sim_orders(stack)
    assert len(orders) == 1
    assert reply["data"]["id"] == f"BTC-USDT,{orders[0]['ordId']}"
    assert elapsed < 15


def test_hang_gives_a_bounded_definite_answer() -> None:
    """OKX never answers: the caller hears 'not placed' within the deadline plus the window."""
    stack = Stack()
    stack.sim.add_fault(ORDER, "hang", count=1)
    reply, elapsed = timed_post(stack, trade_body(stack))
    assert "order not placed" in reply["error"]
    assert sim_orders(stack) == []
    placer = stack.okx.placer
    assert elapsed <= stack.client.timeout + placer.ttl + placer.margin + 1


def test_http_500_on_place_is_reconciled() -> None:
    """A 5xx on the POST is ambiguous: reconciliation finds no order and says so."""
    stack = Stack()
    stack.sim.add_fault(ORDER, "http-500", count=1)
    reply, _ = timed_post(stack, trade_body(stack))
    assert "order not placed" in reply["error"]
    assert sim_orders(stack) == []


def test_malformed_reply_after_placing_is_reconciled() -> None:
    """An unparsable reply is ambiguous; the order is found by clOrdId."""
    stack = Stack()
    stack.sim.add_fault(ORDER, "malformed", count=1)
    reply, _ = timed_post(stack, trade_body(stack))
    orders = sim_orders(stack)
    if orders:
        assert reply["data"]["id"] == f"BTC-USDT,{orders[0]['ordId']}"
    else:
        assert "order not placed" in reply["error"]


@pytest.mark.parametrize("mode", ["http-500", "http-503", "malformed", "rate-limit"])
def test_read_faults_are_retried_to_success(mode: str) -> None:
    """Reads survive 5xx, malformed bodies and 50011 by retrying."""
    stack = Stack()
    stack.sim.add_fault("/api/v5/market/ticker", mode, count=2)
    assert stack.ok("ticker", symbol="BTC_USDT")["data"]["symbol"] == "BTC_USDT"
    assert stack.sim.state()["requests"]["/api/v5/market/ticker"] == 3


def test_expired_timestamp_resyncs_and_succeeds() -> None:
    """A 50102 makes the client resync its clock and the call still succeeds."""
    stack = Stack()
    stack.sim.add_fault("/api/v5/account/balance", "expired-timestamp", count=1)
    assert stack.ok("accounts")["data"]
    assert stack.sim.state()["requests"]["/api/v5/public/time"] >= 1


def test_unreachable_okx_gives_bounded_outcome_unknown() -> None:
    """If OKX answers neither the POST nor any query, the caller still hears in bounded time."""
    stack = Stack()
    stack.sim.add_fault(ORDER, "hang", count=-1)
    reply, elapsed = timed_post(stack, trade_body(stack))
    assert "order outcome unknown" in reply["error"]
    # GetOrders never lists a filled order: the advice names GetOrder with the clOrdId id.
    assert "GetOrders" not in reply["error"]
    assert 'GetOrder("BTC-USDT,cl:' in reply["error"]
    assert elapsed <= stack.okx.placer.bounds.trade


def test_same_request_twice_places_one_order() -> None:
    """The same docker request (same nonce and params) sent twice maps to one order."""
    stack = Stack()
    body = trade_body(stack, nonce=42)
    first = stack.post(body)
    second = stack.post(body)
    assert first["data"]["id"] == second["data"]["id"]
    assert len(sim_orders(stack)) == 1


def test_same_request_after_restart_hits_51016_and_is_looked_up() -> None:
    """Without the journal (a new daemon), a pending duplicate clOrdId is found, not refused."""
    stack = Stack()
    last = Decimal(stack.ok("ticker", symbol="BTC_USDT")["data"]["last"])
    body = stack.envelope(
        "trade",
        {"symbol": "BTC_USDT", "type": "buy", "price": str((last / 2).quantize(Decimal("0.1"))),
         "amount": "0.01"},
        nonce=7,
    )
    first = stack.post(body)
    stack.okx.placer._recent.clear()
    second = stack.post(body)
    assert first["data"]["id"] == second["data"]["id"]
    assert len(sim_orders(stack)) == 1


def test_docker_disconnect_does_not_abandon_an_order() -> None:
    """
    The docker gives up and drops its connection mid-trade: the placement still finishes
    (and is journalled), so the docker's retry gets the same order, not a second one.
    """
    stack = Stack()
    stack.sim.add_fault(ORDER, "delay", count=1, delay_ms=3000)
    body = trade_body(stack, nonce=5)
    dropped = stack.rpc.post("http://127.0.0.1:6666/OKX", data=json.dumps(body).encode())
    outcome: list[Any] = []
    dropped.addBoth(outcome.append)
    stack.advance(1)
    dropped.cancel()
    stack.advance(15)
    assert len(outcome) == 1 and len(sim_orders(stack)) == 1
    retry = stack.post(body)
    assert retry["data"]["id"] == f"BTC-USDT,{sim_orders(stack)[0]['ordId']}"
    assert len(sim_orders(stack)) == 1
    assert stack.sim.state()["requests"][ORDER] == 1


def test_concurrent_duplicates_share_one_placement() -> None:
    """Two copies of a request in flight at once wait for one POST."""
    stack = Stack()
    stack.sim.add_fault(ORDER, "delay", count=1, delay_ms=500)
    body = trade_body(stack, nonce=99)

    async def send() -> Any:
        response = await stack.rpc.post("http://127.0.0.1:6666/OKX", data=json.dumps(body).encode())
        return json.loads(await response.content())

    both = DeferredList([Deferred.fromCoroutine(send()), Deferred.fromCoroutine(send())])
    results = stack.run(both)
    ids = {result[1]["data"]["id"] for result in results}
    assert len(ids) == 1 and len(sim_orders(stack)) == 1
    assert stack.sim.state()["requests"][ORDER] == 1


def test_cancel_of_final_order_answers_its_state() -> None:
    """Cancel twice: the second answers true from the order's final state."""
    stack = Stack()
    last = Decimal(stack.ok("ticker", symbol="BTC_USDT")["data"]["last"])
    order_id = stack.place("BTC_USDT", "buy", (last / 2).quantize(Decimal("0.1")), "0.01")
    assert stack.ok("cancel", id=order_id)["data"] is True
    assert stack.ok("cancel", id=order_id)["data"] is True


@pytest.mark.parametrize(
    ("mode", "status"),
    [
        ("html", 403), ("html", 429), ("html", 502), ("empty", 429), ("empty", 200),
        ("busy-50004", None), ("busy-50013", None), ("order-timeout-51149", None),
        ("order-timeout-51149", 200), ("timeout-51054", None),
    ],
)
@pytest.mark.parametrize("commit", [True, False])
def test_unclear_order_replies_are_reconciled(
    mode: str, status: int | None, commit: bool
) -> None:
    """
    An order answered by an edge's HTML page or empty body (any status), or by a code OKX
    calls unknown or busy, may have been placed: it is looked up by clOrdId. Placed, the
    caller gets its id; not placed, a definite "not placed" -- never "OKX refused".
    """
    stack = Stack()
    stack.sim.add_fault(ORDER, mode, status=status, commit=commit)
    reply, _ = timed_post(stack, trade_body(stack))
    orders = sim_orders(stack)
    if commit:
        assert len(orders) == 1
        assert reply["data"]["id"] == f"BTC-USDT,{orders[0]['ordId']}"
    else:
        assert orders == []
        assert "order not placed" in reply["error"]
        assert "<" not in reply["error"]
    assert [seen.method for seen in stack.sim.requests(ORDER)].count("POST") == 1


@pytest.mark.parametrize("lag_ms", [500, 2500])
def test_reconciliation_waits_out_the_read_after_write_lag(lag_ms: int) -> None:
    """
    OKX places the order, the reply is lost, and for a while OKX's reads do not show it
    (51603): reconciliation keeps asking until expTime plus its margin, and finds it.
    """
    stack = Stack()
    stack.sim.configure(lag_ms=lag_ms)
    stack.sim.add_fault(ORDER, "drop-after-commit", count=1)
    reply, _ = timed_post(stack, trade_body(stack))
    orders = sim_orders(stack)
    assert len(orders) == 1
    assert reply["data"]["id"] == f"BTC-USDT,{orders[0]['ordId']}"
    misses = [seen for seen in stack.sim.requests("/api/v5/trade/order") if seen.method == "GET"]
    assert len(misses) >= 2


def test_lag_does_not_turn_a_lost_order_into_a_found_one() -> None:
    """Under the lag an order never placed is still "not placed" once expTime has passed."""
    stack = Stack()
    stack.sim.configure(lag_ms=2500)
    stack.sim.add_fault(ORDER, "hang", count=1)
    reply, _ = timed_post(stack, trade_body(stack))
    assert "order not placed" in reply["error"]
    assert sim_orders(stack) == []


def resting_order(stack: Stack, nonce: int | None = None) -> str:
    last = Decimal(stack.ok("ticker", symbol="BTC_USDT")["data"]["last"])
    return stack.place("BTC_USDT", "buy", (last / 2).quantize(Decimal("0.1")), "0.01")


CANCEL = "/api/v5/trade/cancel-order"


@pytest.mark.parametrize(
    ("mode", "status"), [("html", 403), ("empty", 429), ("http-500", None), ("busy-50004", None)]
)
@pytest.mark.parametrize("commit", [True, False])
def test_unclear_cancel_is_answered_from_the_order(
    mode: str, status: int | None, commit: bool
) -> None:
    """
    A cancel whose reply is unclear: the order is read back. Cancelled, the answer is true
    at once; still live, the cancel (idempotent) is sent once more. Either way one answer,
    true, and the order is cancelled.
    """
    stack = Stack()
    order_id = resting_order(stack)
    stack.sim.add_fault(CANCEL, mode, status=status, commit=commit)
    assert stack.ok("cancel", id=order_id)["data"] is True
    assert sim_orders(stack)[0]["state"] == "canceled"
    assert stack.sim.request_counts[CANCEL] == (1 if commit else 2)


def test_unclear_cancel_of_a_filled_order_says_so() -> None:
    """The reply is lost, the order read back is filled: the caller hears it is filled."""
    stack = Stack()
    order_id = stack.place("BTC_USDT", "buy", -1, "20")
    stack.sim.add_fault(CANCEL, "html", status=502)
    message = stack.error("cancel", id=order_id)
    assert "already filled" in message
    assert stack.sim.request_counts[CANCEL] == 1


def test_cancel_under_the_lag_is_true_and_takes_effect() -> None:
    """A cancel OKX accepted but has not applied yet, sent again, is 51410: still true."""
    stack = Stack()
    stack.sim.configure(lag_ms=1000)
    order_id = resting_order(stack)
    stack.advance(2)
    assert stack.ok("cancel", id=order_id)["data"] is True
    assert stack.ok("cancel", id=order_id)["data"] is True
    stack.advance(2)
    assert sim_orders(stack)[0]["state"] == "canceled"


LEVERAGE = "/api/v5/account/set-leverage"


@pytest.mark.parametrize("commit", [True, False])
def test_unclear_set_leverage_is_read_back(commit: bool) -> None:
    """
    set-leverage answered by an edge's page: leverage-info is read. Applied, that is the
    answer (one POST); not applied, it is set once more. The leverage is what was asked.
    """
    stack = Stack()
    stack.sim.add_fault(LEVERAGE, "html", status=403, commit=commit)
    assert stack.ok("setmarginlevel", symbol="BTC_USDT.swap", margin_level="7")["data"] is True
    assert stack.sim.request_counts[LEVERAGE] == (1 if commit else 2)
    assert stack.sim.request_counts["/api/v5/account/leverage-info"] == 1
    info = stack.sim.exchange.leverage_info(KEY, "cross", ["BTC-USDT-SWAP"], stack.sim.now_ms())
    assert info[0]["lever"] == "7"


def test_set_leverage_refused_outright_is_not_read_back() -> None:
    """OKX's own refusal (59102, too high) is an answer: nothing to reconcile."""
    stack = Stack()
    message = stack.error("setmarginlevel", symbol="BTC_USDT.swap", margin_level="500")
    assert "59102" in message
    assert stack.sim.request_counts["/api/v5/account/leverage-info"] == 0


FAULT_MODES = [
    ("drop-after-commit", False), ("hang", False), ("http-500", False), ("http-503", False),
    ("malformed", False), ("rate-limit", False), ("expired-timestamp", False), ("delay", False),
    ("html", True), ("html", False), ("empty", True), ("empty", False),
    ("busy-50004", True), ("busy-50013", False), ("order-timeout-51149", True),
    ("timeout-51054", True),
]


def test_many_orders_with_random_faults_are_all_accounted_for() -> None:
    """
    1000 orders with seeded random faults: every order in the simulator has its id
    returned to exactly one caller, and nothing was placed twice.
    """
    rng = random.Random(20261125)
    stack = Stack()
    returned: list[str] = []
    not_placed = 0
    for index in range(1000):
        if rng.random() < 0.2:
            mode, commit = rng.choice(FAULT_MODES)
            stack.sim.add_fault(ORDER, mode, count=1, delay_ms=rng.choice([100, 500, 3000]),
                                commit=commit)
        reply = stack.post(trade_body(stack, amount=str(rng.choice([11, 12, 13]))), limit=300)
        if "data" in reply:
            returned.append(reply["data"]["id"])
        else:
            # Either reconciliation proved it absent, or OKX refused it outright (50011).
            definite = "not placed" in reply["error"] or "code 50011" in reply["error"]
            assert definite, reply
            not_placed += 1
        if index % 50 == 0:
            stack.advance(1)
    placed = {f"{o['instId']},{o['ordId']}" for o in sim_orders(stack)}
    assert len(returned) == len(set(returned)), "an id was returned twice"
    assert set(returned) == placed, "an order exists that no caller was told about"
    assert len(placed) + not_placed == 1000


@given(
    key=st.text(min_size=1, max_size=40),
    nonce=st.integers(min_value=0, max_value=2**63),
    params=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5),
)
def test_client_order_id_is_valid_and_stable(key: str, nonce: int, params: dict[str, str]) -> None:
    """clOrdIds are 1-32 alphanumerics, and the same request gives the same id."""
    credentials = Credentials(key=key, secret="s", passphrase="p")
    first = client_order_id(credentials, nonce, "trade", params)
    assert 1 <= len(first) <= 32
    assert set(first) <= set(string.ascii_letters + string.digits)
    assert client_order_id(credentials, nonce, "TRADE", dict(params)) == first


@given(
    nonces=st.lists(st.integers(min_value=0, max_value=2**63), min_size=2, max_size=20,
                    unique=True),
)
def test_client_order_ids_differ_for_different_requests(nonces: list[int]) -> None:
    """Distinct nonces (distinct docker requests) give distinct clOrdIds."""
    credentials = Credentials(key="k", secret="s", passphrase="p")
    ids = {client_order_id(credentials, n, "trade", {"amount": "1"}) for n in nonces}
    assert len(ids) == len(nonces)


def test_client_order_id_depends_on_params_and_key() -> None:
    """The same nonce with other params or another key is another order."""
    a = Credentials(key="a", secret="s", passphrase="p")
    b = Credentials(key="b", secret="s", passphrase="p")
    base = client_order_id(a, 1, "trade", {"amount": "1"})
    assert client_order_id(a, 1, "trade", {"amount": "2"}) != base
    assert client_order_id(b, 1, "trade", {"amount": "1"}) != base


def test_no_nonce_means_fresh_ids() -> None:
    """Without a nonce, identical calls cannot be told apart: each gets a fresh id."""
    credentials = Credentials(key="a", secret="s", passphrase="p")
    assert client_order_id(credentials, None, "trade", {}) != client_order_id(
        credentials, None, "trade", {}
    )
