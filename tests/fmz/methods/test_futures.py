"""
Contracts end to end against okxsim: leverage, open/inspect/close long and short in net
and long/short modes, coin-margined swaps, futures aliases, fundings, io, error paths.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.stack import Stack


@pytest.fixture
def stack() -> Stack:
    return Stack()


def positions(stack: Stack, symbol: str | None = None) -> list[dict[str, Any]]:
    params = {"symbol": symbol} if symbol else {}
    rows: list[dict[str, Any]] = stack.ok("positions", **params)["data"]
    return rows


def set_mode(stack: Stack, mode: str) -> None:
    reply = stack.call("__api_/api/v5/account/set-position-mode",
                       headers={"Http-Method": "POST"}, posMode=mode)
    assert reply["data"]["code"] == "0", reply


def test_open_inspect_close_long_net_mode(stack: Stack) -> None:
    """buy opens a long, positions shows it, closebuy reduces it to nothing."""
    assert stack.ok("setmarginlevel", symbol="BTC_USDT.swap", margin_level="5")["data"] is True
    stack.ok("trade", symbol="BTC_USDT.swap", type="buy", price="-1", amount="2")
    (position,) = positions(stack)
    assert position["symbol"] == "BTC_USDT.swap" and position["type"] == "long"
    assert position["amount"] == 2 and position["margin_level"] == 5
    assert position["contract_type"] == "swap"
    last = Decimal(stack.ok("ticker", symbol="BTC_USDT.swap")["data"]["last"])
    notional = 2 * Decimal("0.01") * position["price"]
    assert abs(position["margin"] - notional / 5) < notional / 50
    assert position["price"] == pytest.approx(last, rel=Decimal("0.001"))

    closing = stack.ok("trade", symbol="BTC_USDT.swap", type="closebuy", price="-1", amount="2")
    order = stack.ok("order", id=closing["data"]["id"])["data"]
    assert (order["type"], order["offset"], order["contract_type"]) == ("sell", "close", "swap")
    assert positions(stack) == []


def test_open_and_close_short_net_mode(stack: Stack) -> None:
    """sell opens a short; closesell buys it back with reduceOnly."""
    stack.ok("trade", symbol="ETH_USDT.swap", type="sell", price="-1", amount="3")
    (position,) = positions(stack, "ETH_USDT.swap")
    assert (position["type"], position["amount"]) == ("short", 3)
    reply = stack.ok("trade", symbol="ETH_USDT.swap", type="closesell", price="-1", amount="3")
    raw = stack.ok("order", id=reply["data"]["id"])["raw"]["data"][0]
    assert raw["side"] == "buy" and raw["reduceOnly"] == "true"
    assert positions(stack, "ETH_USDT.swap") == []


def test_long_short_mode_holds_both_sides(stack: Stack) -> None:
    """In long/short mode both directions coexist, read from posSide."""
    set_mode(stack, "long_short_mode")
    stack.ok("trade", symbol="BTC_USDT.swap", type="buy", price="-1", amount="1")
    stack.ok("trade", symbol="BTC_USDT.swap", type="sell", price="-1", amount="2")
    by_type = {p["type"]: p for p in positions(stack, "BTC_USDT.swap")}
    assert by_type["long"]["amount"] == 1 and by_type["short"]["amount"] == 2
    reply = stack.ok("trade", symbol="BTC_USDT.swap", type="closesell", price="-1", amount="2")
    raw = stack.ok("order", id=reply["data"]["id"])["raw"]["data"][0]
    assert (raw["side"], raw["posSide"]) == ("buy", "short")
    assert [p["type"] for p in positions(stack, "BTC_USDT.swap")] == ["long"]


def test_profit_sign_follows_price(stack: Stack) -> None:
    """A long's unrealised profit has the sign of (mark - entry)."""
    stack.ok("trade", symbol="BTC_USDT.swap", type="buy", price="-1", amount="10")
    stack.advance(3600, step=60)
    (position,) = positions(stack)
    last = Decimal(stack.ok("ticker", symbol="BTC_USDT.swap")["data"]["last"])
    expected = (last - position["price"]) * 10 * Decimal("0.01")
    assert position["profit"] == pytest.approx(expected, abs=abs(expected) / 20 + Decimal("1"))
    if expected:
        assert (position["profit"] > 0) == (expected > 0)


def test_leverage_change_reflected_in_positions(stack: Stack) -> None:
    """setmarginlevel before opening shows in the position's margin_level."""
    stack.ok("setmarginlevel", symbol="BTC_USDT.swap", margin_level="20")
    stack.ok("trade", symbol="BTC_USDT.swap", type="buy", price="-1", amount="1")
    assert positions(stack)[0]["margin_level"] == 20


def test_leverage_refused_passes_okx_code(stack: Stack) -> None:
    """An impossible leverage comes back with OKX's 59xxx/51xxx code."""
    message = stack.error("setmarginlevel", symbol="BTC_USDT.swap", margin_level="1000")
    assert "OKX refused" in message


def test_leverage_on_spot_is_refused_locally(stack: Stack) -> None:
    """Leverage needs a contract."""
    message = stack.error("setmarginlevel", symbol="BTC_USDT", margin_level="3")
    assert "is a spot pair" in message


def test_coin_margined_swap(stack: Stack) -> None:
    """BTC_USD.swap: contracts of 100 USD, margin in BTC."""
    stack.ok("trade", symbol="BTC_USD.swap", type="sell", price="-1", amount="5")
    (position,) = positions(stack, "USD.swap")
    assert position["symbol"] == "BTC_USD.swap"
    assert (position["type"], position["amount"]) == ("short", 5)
    assert 0 < position["margin"] < 1  # BTC, not USD


def test_futures_alias_trade(stack: Stack) -> None:
    """BTC_USD.quarter resolves to the dated contract and reports contract_type quarter."""
    reply = stack.ok("trade", symbol="BTC_USD.quarter", type="buy", price="-1", amount="1")
    assert reply["data"]["id"].startswith("BTC-USD-2")
    (position,) = positions(stack, "BTC_USD.quarter")
    assert (position["contract_type"], position["symbol"]) == ("quarter", "BTC_USD.quarter")


def test_unknown_contract(stack: Stack) -> None:
    """An unlisted contract is a clear error."""
    assert "unknown symbol DOGE_USDT.swap" in stack.error("positions", symbol="DOGE_USDT.swap")


def test_reduce_only_beyond_position_refused(stack: Stack) -> None:
    """closebuy without a long position is refused by OKX with its code."""
    message = stack.error("trade", symbol="BTC_USDT.swap", type="closebuy", price="-1", amount="1")
    assert "OKX refused" in message and "sCode" in message


def test_contract_amount_checked_against_lot(stack: Stack) -> None:
    """Contracts below the lot/minimum are refused locally."""
    message = stack.error("trade", symbol="BTC_USD.swap", type="buy", price="-1", amount="0.5")
    assert "minimum order size" in message and "contracts" in message


def test_fundings(stack: Stack) -> None:
    """fundings: rate, next settlement in the future, 8 h interval; ranges filter."""
    (one,) = stack.ok("fundings", symbol="BTC_USDT.swap")["data"]
    now_ms = int(stack.clock.seconds() * 1000)
    assert one["symbol"] == "BTC_USDT.swap"
    assert one["time"] > now_ms and one["interval"] == 8 * 3600 * 1000
    assert abs(one["rate"]) < Decimal("0.01")
    usdt = stack.ok("fundings", symbol="USDT.swap")["data"]
    assert usdt and all(f["symbol"].endswith("_USDT.swap") for f in usdt)
    assert "perpetual swaps only" in stack.error("fundings", symbol="BTC_USD.quarter")


def test_contract_orders_and_ranges(stack: Stack) -> None:
    """orders on a range lists contract orders with offset and contract type."""
    last = Decimal(stack.ok("ticker", symbol="BTC_USDT.swap")["data"]["last"])
    price = (last * Decimal("0.8")).quantize(Decimal("0.1"))
    order_id = stack.ok("trade", symbol="BTC_USDT.swap", type="buy", price=str(price),
                        amount="1")["data"]["id"]
    listed = stack.ok("orders", symbol="USDT.swap")["data"]
    assert [o["id"] for o in listed] == [order_id]
    assert listed[0]["offset"] == "open" and listed[0]["contract_type"] == "swap"
    assert stack.ok("orders", symbol="USD.swap")["data"] == []
    assert stack.ok("cancel", id=order_id)["data"] is True


def test_aliases(stack: Stack) -> None:
    """position, leverage/marginlevel and funding are accepted names."""
    assert stack.ok("position")["data"] == []
    assert stack.ok("leverage", symbol="BTC_USDT.swap", margin_level="3")["data"] is True
    assert stack.ok("marginlevel", symbol="BTC_USDT.swap", margin_level="4")["data"] is True
    assert stack.ok("funding", symbol="BTC_USDT.swap")["data"]


def test_io_transport(stack: Stack) -> None:
    """io op codes 2, 0, 1, 3 drive a legacy futures strategy end to end."""
    contract = stack.ok("io", code="2", args='["swap"]', symbol="BTC_USDT")["data"]
    assert contract == {"InstrumentID": "BTC-USDT-SWAP", "instrument": "BTC-USDT-SWAP"}
    assert stack.ok("io", code="0", args="[7]")["data"] is True
    assert stack.ok("io", code="1", args='["sell"]')["data"] is True
    stack.ok("trade", symbol="BTC_USDT.swap", type="sell", price="-1", amount="1")
    (position,) = stack.ok("io", code="3")["data"]
    assert (position["type"], position["margin_level"]) == ("short", 7)
    assert stack.ok("io", code="1", args='["closesell"]')["data"] is True
    mismatch = stack.error("trade", symbol="BTC_USDT.swap", type="sell", price="-1", amount="1")
    assert "does not match the direction closesell" in mismatch
    stack.ok("trade", symbol="BTC_USDT.swap", type="buy", price="-1", amount="1")
    assert stack.ok("io", code="3")["data"] == []


def test_io_top_level_code_and_args(stack: Stack) -> None:
    """io's code and args may sit at the top level of the envelope."""
    body = stack.envelope("io", {"symbol": "ETH_USDT"})
    body.update(code=2, args=["swap"])
    assert stack.post(body)["data"]["InstrumentID"] == "ETH-USDT-SWAP"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, "io needs a code"),
        ({"code": "9"}, "op code 9 is not supported"),
        ({"code": "1", "args": '["up"]'}, "SetDirection needs one of"),
        ({"code": "3"}, "no contract selected"),
        ({"code": "\u0661"}, "io code must be an integer 0-3"),
        ({"code": "1\n"}, "io code contains a control character (U+000A"),
        ({"code": "1", "args": '["buy\\n"]'}, "io SetDirection argument contains a control "
         "character (U+000A"),
        ({"code": "2", "args": '["swap\\r"]', "symbol": "BTC_USDT"},
         "io SetContractType argument contains a control character (U+000D"),
        ({"code": "0", "args": '["\u0661\u0660"]', "symbol": "BTC_USDT.swap"},
         "io SetMarginLevel leverage must be a decimal number"),
    ],
)
def test_io_errors(stack: Stack, params: dict[str, str], expected: str) -> None:
    """Bad io calls say what is expected."""
    assert expected in stack.error("io", **params)


def test_accounts_frozen_is_what_orders_hold(stack: Stack) -> None:
    """
    Position margin lowers free (availEq) but is not frozen; an open order's reserve is
    (ordFrozen), as in FMZ's own OKX plugin.
    """
    before = {r["currency"]: r for r in stack.ok("accounts")["data"]}["USDT"]
    stack.ok("trade", symbol="BTC_USDT.swap", type="buy", price="-1", amount="5")
    after = {r["currency"]: r for r in stack.ok("accounts")["data"]}["USDT"]
    assert Decimal(after["free"]) < Decimal(before["free"])
    assert Decimal(after["frozen"]) == 0
    last = Decimal(stack.ok("ticker", symbol="BTC_USDT.swap")["data"]["last"])
    stack.ok("trade", symbol="BTC_USDT.swap", type="buy", price=str(last * Decimal("0.9")),
             amount="5")
    held = {r["currency"]: r for r in stack.ok("accounts")["data"]}["USDT"]
    assert Decimal(held["frozen"]) > 0


def test_io_state_is_kept_for_a_bounded_number_of_keys(stack: Stack) -> None:
    """
    SetDirection from a stream of distinct keys cannot grow the per-key io state past
    IO_STATE_KEYS (no OKX call is needed to set a direction, so each costs nothing
    upstream); the most recent keys keep their selection.
    """
    from fmzokx.fmz.context import IO_STATE_KEYS
    from fmzokx.lru import LruDict

    assert stack.context.io_state.capacity == IO_STATE_KEYS
    stack.context.io_state = state = LruDict(50)
    for n in range(300):
        body = stack.envelope("io", {"code": "1", "args": '["sell"]'},
                              secret_key=f"secret-{n:05d},pass-{n:05d}")
        body["access_key"] = f"key-{n:05d}"
        assert stack.post(body)["data"] is True
    assert len(state) == 50 and state.evictions == 250
    assert {entry["direction:"] for entry in state.values()} == {"sell"}
