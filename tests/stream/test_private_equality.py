"""
The private copy answers exactly as REST does: a scripted trading session (a resting
order, a partial fill, a fill, a cancel, a position opened, its leverage changed, the
position closed) and after every step each read is asked of the copy and of a REST-only
twin on the same okxsim state, and the FMZ replies compared field for field.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

from fmzokx.okx.stream.privatesession import PrivateSession
from tests.stream.private_support import READS, PrivateStack, same_reply


def _compare(stack: PrivateStack, order_ids: list[str]) -> None:
    stack.settled()
    for method, params in READS:
        same_reply(stack.from_copy(method, **params), stack.rest(method, **params))
    for order_id in order_ids:
        same_reply(stack.from_copy("order", id=order_id), stack.rest("order", id=order_id))


def test_copy_answers_as_rest_through_a_trading_session() -> None:
    # The partial fill may be minutes away: the session must outlive the wait.
    stack = PrivateStack(private_options={"linger": 3600.0})
    # okxsim closes a connection whose client said nothing for 30 s, as OKX may.
    stack.sim.configure(private_idle="client")
    stack.warm()
    ids: list[str] = []
    _compare(stack, ids)

    # A resting buy that one later trade fills partly (that trade is smaller than it), and
    # that no trade of the next 30 s goes under, so it stays partly filled.
    market = stack.sim.market
    inst = stack.sim.exchange.instrument("BTC-USDT", stack.sim.now_ms())
    assert inst is not None
    now = int(stack.clock.seconds())
    lowest = min(market.trade(inst, s).px for s in range(now, now + 8))
    second = now + 8
    while market.trade(inst, second).px >= lowest or any(
        market.trade(inst, later).px < market.trade(inst, second).px
        for later in range(second + 1, second + 30)
    ):
        lowest = min(lowest, market.trade(inst, second).px)
        second += 1
    touch = market.trade(inst, second)
    resting = stack.place("BTC_USDT", "buy", touch.px, touch.sz + Decimal("0.5"))
    ids.append(resting)
    assert stack.rest("order", id=resting)["data"]["status"] == "pending"
    _compare(stack, ids)

    # The partial fill.
    if stack.clock.seconds() < second + 0.6:
        stack.advance(second + 0.6 - stack.clock.seconds())
    assert stack.rest("order", id=resting)["data"]["status"] == "partial-filled"
    _compare(stack, ids)

    # A fill: a buy above the market fills at once.
    last = Decimal(stack.ok("ticker", symbol="BTC_USDT")["data"]["last"])
    filled = stack.place("BTC_USDT", "buy", (last * Decimal("1.01")).quantize(Decimal("0.1")),
                         "0.01")
    ids.append(filled)
    assert stack.rest("order", id=filled)["data"]["status"] == "filled"
    _compare(stack, ids)

    # The partly filled order cancelled.
    assert stack.ok("cancel", id=resting)["data"] is True
    assert stack.rest("order", id=resting)["data"]["status"] == "partial-canceled"
    _compare(stack, ids)

    # A position opened, its leverage changed, and closed.
    opened = stack.place("BTC_USDT.swap", "buy", -1, 2)
    ids.append(opened)
    assert len(stack.rest("positions")["data"]) == 1
    _compare(stack, ids)
    assert stack.ok("setmarginlevel", symbol="BTC_USDT.swap", margin_level="7")["data"] is True
    assert stack.rest("positions")["data"][0]["margin_level"] == 7
    _compare(stack, ids)
    closed = stack.place("BTC_USDT.swap", "closebuy", -1, 2)
    ids.append(closed)
    assert stack.rest("positions")["data"] == []
    _compare(stack, ids)
    assert stack.private is not None
    assert stack.private.stats.differences == {}


def test_a_busy_session_without_faults_reconciles_without_a_difference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    Orders placed and cancelled, contracts bought and sold, leverage changed, each read
    after every step, for two minutes with a reconciliation every 7 s: not one
    difference (none is real: no fault is injected).
    """
    compared: list[float] = []
    real_compare = PrivateSession._compare

    def counting(session: PrivateSession, *args: Any) -> None:
        compared.append(session.clock.seconds())
        real_compare(session, *args)

    monkeypatch.setattr(PrivateSession, "_compare", counting)
    rng = random.Random(7)
    stack = PrivateStack(private_options={"reconcile_every": 7.0, "linger": 3600.0})
    stack.sim.configure(private_idle="client")
    stack.warm()
    resting: list[str] = []
    for _ in range(150):
        last = Decimal(stack.ok("ticker", symbol="BTC_USDT")["data"]["last"])
        draw = rng.random()
        if draw < 0.25:
            price = (last * Decimal(str(rng.uniform(0.95, 0.999)))).quantize(Decimal("0.1"))
            resting.append(stack.place("BTC_USDT", "buy", price, "0.01"))
        elif draw < 0.4 and resting:
            stack.call("cancel", id=resting.pop(rng.randrange(len(resting))))
        elif draw < 0.5:
            stack.place("BTC_USDT.swap", rng.choice(["buy", "sell"]), -1, rng.randint(1, 3))
        elif draw < 0.55:
            stack.ok("setmarginlevel", symbol="BTC_USDT.swap",
                     margin_level=str(rng.randint(2, 20)))
        for method in ("orders", "positions", "accounts"):
            stack.ok(method)
        stack.advance(rng.uniform(0.05, 1.5))
    assert len(compared) >= 10
    assert stack.private is not None
    assert stack.private.stats.differences == {}
