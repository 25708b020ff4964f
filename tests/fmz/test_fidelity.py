"""
The daemon against what OKX really does, through okxsim: account modes, demo keys,
suspended instruments and tick changes, spot market orders with banAmend, the expTime
refusal in each documented form, set-leverage refusals, and the 7-day history that holds
old orders completed lately.
"""

from __future__ import annotations

import json
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import pytest

from fmzokx.sim import DEFAULT_ACCOUNT, SimAccount
from tests.stack import Stack

ORDER = "/api/v5/trade/order"
DAY = 86_400


def sim_orders(stack: Stack) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = stack.sim.state()["orders"]
    return orders


def below_market(stack: Stack, symbol: str = "BTC_USDT") -> Decimal:
    last = Decimal(stack.ok("ticker", symbol=symbol)["data"]["last"])
    return (last * Decimal("0.5")).quantize(Decimal("0.1"))


# -- account modes and keys --------------------------------------------------------------


@pytest.mark.parametrize("mode", ["spot", "futures", "multi_currency"])
def test_accounts_free_follows_the_mode_s_fields(mode: str) -> None:
    """
    free is availEq where OKX fills it and availBal in Spot mode (availEq ""); frozen is
    what open orders hold, in every mode.
    """
    account = SimAccount(key=DEFAULT_ACCOUNT.key, secret=DEFAULT_ACCOUNT.secret,
                         passphrase=DEFAULT_ACCOUNT.passphrase, mode=mode)
    stack = Stack(accounts=(account,))
    stack.place("BTC_USDT", "buy", below_market(stack), "0.01")
    usdt = next(r for r in stack.ok("accounts")["data"] if r["currency"] == "USDT")
    (okx,) = stack.sim.exchange.balance(account.key, ["USDT"], stack.sim.now_ms())["details"]
    assert (okx["availEq"] == "") is (mode == "spot")
    assert Decimal(usdt["free"]) == Decimal(okx["availEq"] or okx["availBal"])
    assert Decimal(usdt["frozen"]) == Decimal(okx["ordFrozen"]) > 0


def test_a_demo_key_works_with_simulate_and_only_with_it() -> None:
    """A demo-trading key needs ',simulate' in the secret field; without it OKX says 50101
    and the error says what to change. A live key with ',simulate' is refused the same."""
    demo = SimAccount(key="demo-key-01", secret="demo-secret", passphrase="demo-pass", demo=True)
    stack = Stack(accounts=(demo, DEFAULT_ACCOUNT))

    def accounts(key: str, secret: str) -> Any:
        body = stack.envelope("accounts")
        body.update(access_key=key, secret_key=secret)
        return stack.post(body)

    assert "data" in accounts(demo.key, "demo-secret,demo-pass,simulate")
    refused = accounts(demo.key, "demo-secret,demo-pass")["error"]
    assert "50101" in refused and "',simulate'" in refused
    secret = f"{DEFAULT_ACCOUNT.secret},{DEFAULT_ACCOUNT.passphrase},simulate"
    assert "50101" in accounts(DEFAULT_ACCOUNT.key, secret)["error"]


# -- instruments that change under the daemon --------------------------------------------


def test_suspended_instrument_gives_a_clear_error() -> None:
    """
    Suspended after the daemon loaded the list: OKX's 51022 comes back naming the symbol,
    and the list is refreshed, so the next order is refused before it is sent.
    """
    stack = Stack()
    price = below_market(stack)
    stack.place("BTC_USDT", "buy", price, "0.01")
    stack.sim.patch_instrument("BTC-USDT", {"state": "suspend"})
    stack.advance(31)
    first = stack.error("trade", symbol="BTC_USDT", type="buy", price=str(price), amount="0.01")
    assert first.startswith("BTC_USDT: ") and "51022" in first and "suspended" in first
    sent = stack.sim.request_counts[ORDER]
    second = stack.error("trade", symbol="BTC_USDT", type="buy", price=str(price),
                         amount="0.01")
    assert second == (
        "BTC_USDT cannot be traded now: OKX lists BTC-USDT as 'suspend' (trading is suspended)"
    )
    assert stack.sim.request_counts[ORDER] == sent


def test_preopen_instrument_is_refused_before_sending() -> None:
    stack = Stack()
    stack.sim.patch_instrument("ETH-USDT-SWAP", {"state": "preopen"})
    message = stack.error("trade", symbol="ETH_USDT.swap", type="buy", price="-1", amount="1")
    assert "'preopen' (not trading yet)" in message
    assert stack.sim.request_counts[ORDER] == 0


def test_tick_size_change_is_picked_up_after_okx_refuses() -> None:
    """
    OKX retunes BTC-USDT's tick from 0.1 to 1: the first order on the old grid is refused
    (51000 px) and the list refreshed; the next is rounded to the new tick and accepted.
    """
    stack = Stack()
    price = below_market(stack) + Decimal("0.5")
    stack.place("BTC_USDT", "buy", price, "0.01")
    stack.sim.patch_instrument("BTC-USDT", {"tickSz": "1"})
    stack.advance(31)
    refused = stack.error("trade", symbol="BTC_USDT", type="buy", price=str(price),
                          amount="0.01")
    assert "51000" in refused and "px" in refused
    order_id = stack.place("BTC_USDT", "buy", price, "0.01")
    placed = stack.ok("order", id=order_id)["data"]
    assert Decimal(placed["price"]) == price.to_integral_value(rounding=ROUND_FLOOR)


# -- spot market orders ------------------------------------------------------------------


def test_market_sell_beyond_the_balance_is_refused_not_shrunk() -> None:
    """The daemon sends banAmend=true: OKX refuses (51008) what it would otherwise shrink."""
    stack = Stack()
    message = stack.error("trade", symbol="BTC_USDT", type="sell", price="-1", amount="12")
    assert "51008" in message
    assert sim_orders(stack) == []
    (seen,) = stack.sim.requests(ORDER)
    assert b'"banAmend":true' in seen.body


def test_big_market_sell_of_a_cheap_coin_is_not_refused_locally() -> None:
    """maxMktSz of a spot pair is USDT: 1,000,000 DOGE (about 150,000 USDT) is under
    OKX's 1,000,000 USDT cap, so the daemon sends it and OKX fills it."""
    account = SimAccount(key=DEFAULT_ACCOUNT.key, secret=DEFAULT_ACCOUNT.secret,
                         passphrase=DEFAULT_ACCOUNT.passphrase,
                         balances={"USDT": "10", "DOGE": "1000000"})
    stack = Stack(accounts=(account,))
    order_id = stack.place("DOGE_USDT", "sell", -1, "1000000")
    assert stack.ok("order", id=order_id)["data"]["status"] == "filled"


# -- expTime -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "placement"),
    [("50036", "top"), ("50037", "top"), ("50037", "item"), ("50036", "item")],
)
def test_an_order_reaching_okx_after_its_exptime_is_resent_once(
    code: str, placement: str
) -> None:
    """
    OKX's clock jumps 6 s ahead after the daemon measured it, so the order's 5 s expTime
    has passed on arrival: whichever documented code and placement OKX uses, OKX refuses
    it without placing it, the daemon measures OKX's clock and sends it once more with
    the same clOrdId and a fresh expTime, and exactly one order exists.
    """
    stack = Stack()
    stack.sim.configure(expired_code=code, expired_placement=placement)
    stack.run(stack.client.sync_clock())
    stack.sim.set_clock_offset(6_000)
    order_id = stack.place("BTC_USDT", "buy", -1, 20)
    posts = stack.sim.requests("/api/v5/trade/order")
    sent = [json.loads(seen.body) for seen in posts if seen.method == "POST"]
    assert len(sent) == 2 and sent[0]["clOrdId"] == sent[1]["clOrdId"]
    assert [order["ordId"] for order in sim_orders(stack)] == [order_id.split(",")[1]]


# -- set-leverage ------------------------------------------------------------------------


@pytest.mark.parametrize(("refusal", "refused"), [("orders", True), ("never", False)])
def test_set_leverage_with_an_open_order(refusal: str, refused: bool) -> None:
    """Where OKX refuses a leverage change over open orders, the strategy hears why."""
    stack = Stack()
    stack.sim.configure(leverage_refusal=refusal)
    stack.place("BTC_USDT.swap", "buy", below_market(stack, "BTC_USDT.swap"), "1")
    reply = stack.call("setmarginlevel", symbol="BTC_USDT.swap", margin_level="5")
    if refused:
        assert "59107" in reply["error"] and "cancel all pending" in reply["error"]
    else:
        assert reply["data"] is True


# -- history -----------------------------------------------------------------------------


def test_historyorders_finds_old_orders_completed_lately_and_the_archive() -> None:
    """
    An order placed 8 days ago and cancelled today is in OKX's 7-day history, with the
    lowest ordId of a full page of it; the archive must still be read from its newest
    order, or a fill from 7 days ago (newer than that order, older than the window) would
    be missed.
    """
    stack = Stack()
    first_fill = stack.place("BTC_USDT", "buy", -1, "20")
    old_resting = stack.place("BTC_USDT", "buy", below_market(stack), "0.01")
    stack.advance(DAY, step=60)
    later_fill = stack.place("BTC_USDT", "buy", -1, "20")
    stack.advance(7 * DAY + 3600, step=600)
    recent = [stack.place("BTC_USDT", "buy", -1, "11") for _ in range(99)]
    assert stack.ok("cancel", id=old_resting)["data"] is True
    ids = [o["id"] for o in stack.ok("historyorders", symbol="BTC_USDT", limit=200)["data"]]
    assert ids == [*reversed(recent), later_fill, old_resting, first_fill]


# -- OKX's edge on reads ------------------------------------------------------------------


def test_an_edge_error_page_on_a_read_is_named_not_dumped() -> None:
    """A CDN's maintenance page on every try: the strategy hears the status, not HTML."""
    stack = Stack()
    stack.sim.add_fault("/api/v5/market/ticker", "html", status=503, count=-1)
    message = stack.error("ticker", symbol="BTC_USDT")
    assert message.startswith("BTC_USDT: GET /api/v5/market/ticker: HTTP 503 without an OKX "
                              "reply (an HTML page of ")
    assert "maintenance or overload" in message and "<" not in message


def test_an_empty_429_on_a_read_is_waited_out() -> None:
    stack = Stack()
    stack.sim.add_fault("/api/v5/market/ticker", "empty", count=2)
    assert stack.ok("ticker", symbol="BTC_USDT")["data"]["symbol"] == "BTC_USDT"
    assert stack.sim.request_counts["/api/v5/market/ticker"] == 3
