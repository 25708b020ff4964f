"""
Every docker call answers within the bound ``fmzokx.okx.bounds.AnswerBounds`` computes from
``--timeout`` (and ``docs/reliability.rst`` documents), whatever OKX does: measured through
the whole daemon in memory, on a fake clock, for several timeouts.

Also here: a cancel or a leverage change whose answer is lost is answered with what OKX
did, found out by reading the order or the leverage back.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fmzokx.okx.bounds import AnswerBounds
from fmzokx.sim import DEFAULT_ACCOUNT
from tests.stack import Stack

ORDER = "/api/v5/trade/order"
CANCEL = "/api/v5/trade/cancel-order"
PENDING = "/api/v5/trade/orders-pending"
HISTORY = "/api/v5/trade/orders-history"
ARCHIVE = "/api/v5/trade/orders-history-archive"
CANDLES = "/api/v5/market/candles"
HISTORY_CANDLES = "/api/v5/market/history-candles"
LEVERAGE = "/api/v5/account/set-leverage"
LEVERAGE_INFO = "/api/v5/account/leverage-info"


def timed(stack: Stack, method: str, **params: Any) -> tuple[dict[str, Any], float]:
    started = stack.clock.seconds()
    reply = stack.post(stack.envelope(method, {k: str(v) for k, v in params.items()}),
                       limit=600)
    return reply, stack.clock.seconds() - started


def test_bounds_formulas() -> None:
    """The documented formulas, for a few timeouts (docs/reliability.rst shows this table)."""
    table = {
        timeout: (b.read, b.placement, b.trade, b.cancel, b.leverage(1), b.leverage(2))
        for timeout in (2.0, 4.0, 10.0, 30.0)
        for b in [AnswerBounds(timeout)]
    }
    assert table == {
        2.0: (6, 18, 22, 12, 12, 18),
        4.0: (12, 18, 26, 22, 22, 32),
        10.0: (30, 20, 40, 52, 52, 74),
        30.0: (90, 40, 100, 152, 152, 214),
    }


def test_documented_table_matches_the_formulas() -> None:
    """docs/reliability.rst's table of bounds is what AnswerBounds computes."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "reliability.rst").read_text()
    section = text[text.index("Answer bounds\n"):]
    rows = re.findall(r"   \* - (.+)\n(?:     - .+\n){1}((?:     - [0-9]+ s\n){4})", section)
    documented = {
        name: [float(cell) for cell in re.findall(r"([0-9]+) s", cells)] for name, cells in rows
    }
    computed = {
        "any read call, lists included": lambda b: b.read,
        "an order, from its intent": lambda b: b.placement,
        "``trade``": lambda b: b.trade,
        "``cancel``": lambda b: b.cancel,
        "``setmarginlevel``": lambda b: b.leverage(1),
    }
    assert set(documented) == set(computed)
    for name, bound in computed.items():
        assert documented[name] == [bound(AnswerBounds(t)) for t in (2.0, 4.0, 10.0, 30.0)]


# -- trade -------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [1.0, 2.0, 4.0, 10.0, 30.0])
def test_trade_under_a_persistent_hang_answers_at_the_placement_bound(timeout: float) -> None:
    """
    OKX answers neither the order nor any query: the trade answers "outcome unknown" when
    the placement's window ends -- not a query or a wait later (27.8 s at T = 4 before,
    against the documented 22 s).
    """
    stack = Stack(timeout=timeout)
    stack.ok("ticker", symbol="BTC_USDT")  # the instrument list, as a running daemon has it
    stack.sim.add_fault(ORDER, "hang", count=-1)
    bounds = stack.okx.placer.bounds
    reply, elapsed = timed(stack, "trade", symbol="BTC_USDT", type="buy", price="-1",
                           amount="20")
    assert "order outcome unknown" in reply["error"]
    assert bounds.placement - 0.5 <= elapsed <= bounds.placement + 0.1
    assert elapsed <= bounds.trade


@pytest.mark.parametrize("timeout", [2.0, 4.0, 8.0])
def test_trade_with_slow_reads_first_stays_within_the_trade_bound(timeout: float) -> None:
    """
    The worst case the formula allows for: the instrument list and the position mode each
    arrive just inside T, then the order hangs for good. The answer still comes within
    2T + placement.
    """
    stack = Stack(timeout=timeout)
    slow = (timeout - 0.5) * 1000
    stack.sim.add_fault("/api/v5/public/instruments", "delay", count=1, delay_ms=slow)
    stack.sim.add_fault("/api/v5/account/config", "delay", count=1, delay_ms=slow)
    stack.sim.add_fault(ORDER, "hang", count=-1)
    bounds = stack.okx.placer.bounds
    reply, elapsed = timed(stack, "trade", symbol="BTC_USDT.swap", type="buy", price="-1",
                           amount="1")
    assert "order outcome unknown" in reply["error"]
    assert 2 * timeout - 1 + bounds.placement - 0.5 <= elapsed <= bounds.trade


# -- reads -------------------------------------------------------------------------------


def many_open_orders(stack: Stack, count: int) -> None:
    order = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "post_only",
             "px": "1000", "sz": "0.001"}
    for i in range(count):
        item = stack.sim.exchange.place(
            DEFAULT_ACCOUNT.key, {**order, "clOrdId": f"rest{i}"}, stack.sim.now_ms()
        )
        assert item["sCode"] == "0", item


@pytest.mark.parametrize("timeout", [2.0, 4.0])
def test_orders_list_too_slow_to_finish_is_an_error_within_three_timeouts(
    timeout: float
) -> None:
    """
    1,000 open orders at 3.5 s a page with --timeout 4 (38.9 s before): after 3T the
    call answers that the list could not be fetched whole in time -- never a short list.
    """
    stack = Stack(timeout=timeout)
    stack.ok("ticker", symbol="BTC_USDT")
    many_open_orders(stack, 1000)
    stack.sim.add_fault(PENDING, "delay", count=-1, delay_ms=timeout * 875)
    reply, elapsed = timed(stack, "orders", symbol="BTC_USDT")
    assert set(reply) == {"error"}
    assert f"could not fetch the whole list within {3 * timeout:g} s" in reply["error"]
    assert elapsed <= stack.okx.placer.bounds.read + 0.05


def test_orders_list_that_fits_is_complete() -> None:
    """The same list at a pace that fits the bound comes back whole."""
    stack = Stack(timeout=4)
    stack.ok("ticker", symbol="BTC_USDT")
    many_open_orders(stack, 1000)
    stack.sim.add_fault(PENDING, "delay", count=-1, delay_ms=1000)
    reply, elapsed = timed(stack, "orders", symbol="BTC_USDT")
    assert len(reply["data"]) == 1000
    assert elapsed <= 12


def test_history_over_several_instrument_types_shares_one_deadline() -> None:
    """
    historyorders without a symbol reads spot, swap and futures history: six requests
    at 0.9 T each would take 5.4 T, but the call's reads share 3 T and it says so.
    """
    stack = Stack(timeout=4)
    for path in (HISTORY, ARCHIVE):
        stack.sim.add_fault(path, "delay", count=-1, delay_ms=3600)
    reply, elapsed = timed(stack, "historyorders")
    assert "could not fetch the whole list within 12 s" in reply["error"], reply
    assert elapsed <= 12.05


def test_records_paging_is_bounded_too() -> None:
    """Candle history over many pages fails whole at 3 T rather than answering late."""
    stack = Stack(timeout=2)
    stack.ok("ticker", symbol="BTC_USDT")
    for path in (CANDLES, HISTORY_CANDLES):
        stack.sim.add_fault(path, "delay", count=-1, delay_ms=1500)
    reply, elapsed = timed(stack, "records", symbol="BTC_USDT", period=1, limit=2000)
    assert "could not fetch the whole list within 6 s" in reply["error"], reply
    assert elapsed <= 6.05


# -- cancel ------------------------------------------------------------------------------


def resting_order(stack: Stack) -> str:
    reply = stack.ok("trade", symbol="BTC_USDT", type="buy", price="1000", amount="0.001")
    order_id: str = reply["data"]["id"]
    return order_id


def order_state(stack: Stack, order_id: str) -> str:
    state: str = stack.ok("order", id=order_id)["data"]["status"]
    return state


@pytest.mark.parametrize("mode", ["drop-after-commit", "stall"])
def test_cancel_done_but_unanswered_is_true(mode: str) -> None:
    """OKX cancelled the order but its answer was lost: the read-back says so."""
    stack = Stack(timeout=4)
    order_id = resting_order(stack)
    stack.sim.add_fault(CANCEL, mode, count=1)
    reply = stack.ok("cancel", id=order_id)
    assert reply["data"] is True
    assert order_state(stack, order_id) == "canceled"
    assert stack.sim.state()["requests"][CANCEL] == 1


@pytest.mark.parametrize("mode", ["hang", "http-500", "http-503"])
def test_cancel_lost_before_okx_is_sent_again(mode: str) -> None:
    """OKX never got (or never did) the cancel: the order is still live, so it is cancelled."""
    stack = Stack(timeout=4)
    order_id = resting_order(stack)
    stack.sim.add_fault(CANCEL, mode, count=1)
    assert stack.ok("cancel", id=order_id)["data"] is True
    assert order_state(stack, order_id) == "canceled"
    assert stack.sim.state()["requests"][CANCEL] == 2


def test_cancel_of_a_filled_order_with_a_lost_answer_names_the_fill() -> None:
    stack = Stack(timeout=4)
    order_id = stack.ok("trade", symbol="BTC_USDT", type="buy", price="-1",
                        amount="20")["data"]["id"]
    stack.sim.add_fault(CANCEL, "hang", count=-1)
    message = stack.error("cancel", id=order_id)
    assert "cannot be canceled: it is already filled" in message
    assert stack.sim.state()["requests"][CANCEL] == 1


@pytest.mark.parametrize("timeout", [2.0, 4.0, 10.0])
def test_cancel_never_answered_is_bounded_and_says_what_is_known(timeout: float) -> None:
    stack = Stack(timeout=timeout)
    order_id = resting_order(stack)
    stack.sim.add_fault(CANCEL, "hang", count=-1)
    reply, elapsed = timed(stack, "cancel", id=order_id)
    assert "did not answer the cancel" in reply["error"]
    assert "still live when read back" in reply["error"]
    assert elapsed <= stack.okx.placer.bounds.cancel
    assert order_state(stack, order_id) == "pending"


# -- leverage ----------------------------------------------------------------------------


def lever_of(stack: Stack) -> Decimal:
    rows = stack.sim.exchange.leverage_info(DEFAULT_ACCOUNT.key, "cross", ["BTC-USDT-SWAP"],
                                            stack.sim.now_ms())
    return Decimal(rows[0]["lever"])


def test_leverage_set_but_unanswered_is_read_back() -> None:
    stack = Stack(timeout=4)
    stack.sim.add_fault(LEVERAGE, "drop-after-commit", count=1)
    reply = stack.ok("setmarginlevel", symbol="BTC_USDT.swap", margin_level="7")
    assert reply["data"] is True and lever_of(stack) == 7
    assert reply["raw"]["data"][0]["lever"] == "7"
    assert stack.sim.state()["requests"][LEVERAGE] == 1
    assert stack.sim.state()["requests"][LEVERAGE_INFO] == 1


def test_leverage_lost_before_okx_is_set_again() -> None:
    stack = Stack(timeout=4)
    stack.sim.add_fault(LEVERAGE, "http-500", count=1)
    assert stack.ok("setmarginlevel", symbol="BTC_USDT.swap", margin_level="7")["data"] is True
    assert lever_of(stack) == 7
    assert stack.sim.state()["requests"][LEVERAGE] == 2


@pytest.mark.parametrize("timeout", [2.0, 4.0])
def test_leverage_never_answered_is_bounded_and_says_what_is_known(timeout: float) -> None:
    stack = Stack(timeout=timeout)
    before = lever_of(stack)
    stack.sim.add_fault(LEVERAGE, "hang", count=-1)
    reply, elapsed = timed(stack, "setmarginlevel", symbol="BTC_USDT.swap", margin_level="7")
    assert "did not answer setting leverage 7" in reply["error"]
    assert f"still {before}" in reply["error"]
    assert elapsed <= stack.okx.placer.bounds.leverage(1)


@pytest.mark.parametrize("timeout", [0.5, 2, 4, 10, 30, 120])
def test_an_order_sent_late_by_pacing_still_expires_within_the_placement_bound(
    timeout: float,
) -> None:
    """
    An order may wait up to ``--timeout`` for a rate-limit slot, and its ``expTime`` then
    counts from the slot: the latest it can still arrive at OKX is ``timeout + ttl`` after
    it was queued. The journal's reconciler calls "not found" definite only
    ``placement + margin`` after that, so the placement bound must cover it.
    """
    bounds = AnswerBounds(timeout)
    assert bounds.placement >= timeout + bounds.ttl
