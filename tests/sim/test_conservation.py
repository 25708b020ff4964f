"""
Property tests: whatever orders are placed, cancelled or filled and however time passes,
no money is created or lost. Every currency's total over accounts, the house (the synthetic
counterparty) and the fee ledger is constant; spot balances never go negative; swap cash
moves by exactly the realised PnL plus fees.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fmzokx.sim.exchange import Exchange
from fmzokx.sim.market import Market
from fmzokx.sim.model import SimAccount

from .support import START

ALICE = SimAccount(key="alice", secret="a", passphrase="a")
BOB = SimAccount(key="bob", secret="b", passphrase="b")
SPOT = ["BTC-USDT", "ETH-USDT", "ETH-BTC"]
SWAPS = ["BTC-USDT-SWAP", "ETH-USDT-SWAP", "BTC-USD-SWAP"]

limits = st.tuples(
    st.just("limit"),
    st.sampled_from(["alice", "bob"]),
    st.integers(0, 5),
    st.sampled_from(["buy", "sell"]),
    st.sampled_from(["limit", "post_only", "ioc", "fok"]),
    st.integers(-300, 300),
    st.integers(1, 400),
)
markets = st.tuples(
    st.just("market"),
    st.sampled_from(["alice", "bob"]),
    st.integers(0, 5),
    st.sampled_from(["buy", "sell"]),
    st.sampled_from(["", "base_ccy", "quote_ccy"]),
    st.integers(1, 400),
)
cancels = st.tuples(st.just("cancel"), st.integers(0, 1000))
waits = st.tuples(st.just("wait"), st.integers(0, 3 * 3600))


def totals(exchange: Exchange) -> dict[str, Decimal]:
    result: dict[str, Decimal] = {}
    for ledger in [a.cash for a in exchange.accounts.values()] + [exchange.house, exchange.fees]:
        for ccy, amount in ledger.items():
            result[ccy] = result.get(ccy, Decimal(0)) + amount
    return {ccy: amount for ccy, amount in result.items() if amount != 0}


def run(actions: Iterable[tuple[Any, ...]], instruments: list[str], seed: int) -> Exchange:
    now = int(START * 1000)
    exchange = Exchange(Market(seed), [ALICE, BOB], now)
    start = totals(exchange)
    for action in actions:
        kind = action[0]
        if kind == "wait":
            now += action[1] * 1000
            exchange.advance(now)
        elif kind == "cancel":
            pending = sorted(o.ord_id for o in exchange.orders.values() if o.pending)
            if pending:
                order = exchange.orders[pending[action[1] % len(pending)]]
                exchange.cancel(order.account, {"instId": order.instrument.inst_id,
                                                "ordId": str(order.ord_id)}, now)
        else:
            inst_id = instruments[action[2] % len(instruments)]
            inst = exchange.instrument(inst_id, now)
            if inst is None:  # a futures contract that has expired
                continue
            # Bob trades derivatives on isolated margin (which can be liquidated).
            mode = ("isolated" if action[1] == "bob" else "cross") if inst.derivative else "cash"
            params: dict[str, Any] = {"instId": inst_id, "tdMode": mode, "side": action[3]}
            if kind == "limit":
                px = exchange.market.last(inst, now / 1000) + action[5] * inst.tick_sz
                params.update(ordType=action[4], px=str(px), sz=str(inst.min_sz * action[6]))
            elif inst.derivative:
                params.update(ordType="market", sz=str(inst.min_sz * action[5]))
            elif action[4] == "quote_ccy" or (action[4] == "" and action[3] == "buy"):
                quote = "1" if inst.quote == "USDT" else "0.0001"
                params.update(ordType="market", tgtCcy=action[4],
                              sz=str(Decimal(quote) * action[5]))
            else:
                params.update(ordType="market", tgtCcy=action[4],
                              sz=str(inst.min_sz * action[5]))
            exchange.place(action[1], params, now)
        assert totals(exchange) == start
    return exchange


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(limits, markets, cancels, waits), max_size=40), st.integers(1, 5))
def test_spot_flows_conserve_every_currency(actions: list[tuple[Any, ...]], seed: int) -> None:
    """Spot: totals per currency never change; no balance or available balance goes below
    zero; frozen funds equal what the pending orders reserve."""
    exchange = run(actions, SPOT, seed)
    now = exchange.timeline.clock_ms
    for account in exchange.accounts.values():
        for ccy in account.cash:
            figures = exchange.position_book.figures(account, ccy, now)
            assert figures["cash"] >= 0
            assert figures["availBal"] >= 0
            reserved = sum((o.frozen for o in account.pending.values() if o.frozen_ccy == ccy),
                           Decimal(0))
            assert figures["frozen"] == reserved
    assert all(fee >= 0 for fee in exchange.fees.values())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(limits, markets, cancels, waits), max_size=30), st.integers(1, 5))
def test_swap_flows_move_cash_by_pnl_and_fees(actions: list[tuple[Any, ...]], seed: int) -> None:
    """Swaps (before any funding settlement): each account's settlement-currency cash moved
    by exactly the sum of its orders' (liquidations included) realised PnL and fees; totals
    are conserved."""
    short = [a for a in actions if a[0] != "wait"] + [("wait", 3 * 3600)]
    exchange = run(short, SWAPS, seed)
    for key, account in exchange.accounts.items():
        for ccy, initial in (("USDT", Decimal(100000)), ("BTC", Decimal(10))):
            moved = sum(
                (o.pnl + o.fee for o in exchange.orders.values()
                 if o.account == key and o.instrument.settle == ccy),
                Decimal(0),
            )
            assert account.cash.get(ccy, Decimal(0)) == initial + moved


def test_flows_really_trade() -> None:
    """The generated flows are not vacuous: a fixed flow fills, rests and cancels orders."""
    actions: list[tuple[Any, ...]] = [
        ("market", "alice", 0, "buy", "", 50),
        ("limit", "bob", 1, "sell", "limit", 5, 10),
        ("limit", "alice", 3, "buy", "limit", -20, 30),
        ("limit", "bob", 2, "buy", "limit", -300, 10),
        ("market", "bob", 5, "sell", "", 3),
        ("wait", 7200),
        ("cancel", 0),
        ("market", "alice", 3, "sell", "", 30),
    ]
    exchange = run(actions, SPOT + SWAPS, 1)
    states = sorted(o.state for o in exchange.orders.values())
    assert states == ["canceled"] + ["filled"] * 5
    assert exchange.fees["USDT"] > 0 and exchange.fees["BTC"] > 0


@settings(max_examples=25, deadline=None)
@given(st.lists(st.one_of(limits, markets, cancels, waits), max_size=30), st.integers(1, 5))
def test_mixed_flows_over_days_conserve(actions: list[tuple[Any, ...]], seed: int) -> None:
    """Spot, swaps and futures with days of waiting (funding, delivery, liquidation)
    conserve totals, and every account's bills chain from its starting to its final cash."""
    stretched = [("wait", a[1] * 12) if a[0] == "wait" else a for a in actions]
    exchange = run(stretched, SPOT + SWAPS + ["BTC-USD-251128"], seed)
    assert exchange.fees.get("USDT", Decimal(0)) >= 0
    for account in exchange.accounts.values():
        running = {ccy: Decimal(amount) for ccy, amount in account.spec.balances}
        for bill in account.bills:
            running[bill.ccy] = running.get(bill.ccy, Decimal(0)) + bill.bal_chg
            assert bill.bal == running[bill.ccy]
        assert {k: v for k, v in running.items() if v} == {
            k: v for k, v in account.cash.items() if v
        }
