"""
Spot trading end to end against okxsim: trade, orders, order, historyorders, cancel,
balances moving by the fill, complete pagination and every error path.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.stack import Stack


@pytest.fixture
def stack() -> Stack:
    return Stack()


def balances(stack: Stack) -> dict[str, tuple[Decimal, Decimal]]:
    rows = stack.ok("accounts")["data"]
    return {r["currency"]: (Decimal(r["free"]), Decimal(r["frozen"])) for r in rows}


def resting_buy(stack: Stack, amount: str = "0.01", **extra: Any) -> str:
    """A limit buy far below the market (half the first price seen): it rests."""
    price = getattr(stack, "resting_price", None)
    if price is None:
        last = Decimal(stack.ok("ticker", symbol="BTC_USDT")["data"]["last"])
        price = stack.resting_price = (last * Decimal("0.5")).quantize(Decimal("0.1"))  # type: ignore[attr-defined]
    reply = stack.ok("trade", symbol="BTC_USDT", type="buy", price=str(price), amount=amount,
                     **extra)
    order_id: str = reply["data"]["id"]
    return order_id


def test_accounts_and_assets_shape(stack: Stack) -> None:
    """accounts/assets answer [{currency, free, frozen}] as OKX strings."""
    for method in ("accounts", "assets"):
        reply = stack.ok(method)
        assert {r["currency"] for r in reply["data"]} >= {"BTC", "USDT"}
        assert all(set(r) == {"currency", "free", "frozen"} for r in reply["data"])
        assert reply["raw"]["data"][0]["details"]


def test_accounts_need_keys(stack: Stack) -> None:
    """A private method without keys says how to configure them."""
    reply = stack.call("accounts", keys=False)
    assert "needs an OKX API key" in reply["error"]


def test_wrong_secret_is_a_clear_auth_error(stack: Stack) -> None:
    """OKX's 50113 comes back naming the secret as the thing to check."""
    body = stack.envelope("accounts", secret_key="wrong-secret-value,okxsim-demo-pass")
    reply = stack.post(body)
    assert "50113" in reply["error"] and "secret" in reply["error"]
    assert "wrong-secret-value" not in reply["error"]


def test_limit_order_lifecycle(stack: Stack) -> None:
    """An order placed appears in orders and order, then in historyorders after cancel."""
    before = balances(stack)
    order_id = resting_buy(stack)
    inst_id, ord_id = order_id.split(",")
    assert inst_id == "BTC-USDT" and ord_id.isdigit()

    open_orders = stack.ok("orders", symbol="BTC_USDT")["data"]
    assert [o["id"] for o in open_orders] == [order_id]
    order = stack.ok("order", id=order_id)["data"]
    assert order["status"] == "pending" and order["type"] == "buy"
    assert order["amount"] == Decimal("0.01") and order["deal_amount"] == 0
    assert order["symbol"] == "BTC_USDT" and order["contract_type"] == ""
    assert "offset" not in order
    frozen_usdt = balances(stack)["USDT"][1]
    assert frozen_usdt == order["price"] * order["amount"]

    assert stack.ok("cancel", id=order_id)["data"] is True
    assert stack.ok("orders", symbol="BTC_USDT")["data"] == []
    assert stack.ok("order", id=order_id)["data"]["status"] == "canceled"
    history = stack.ok("historyorders", symbol="BTC_USDT")["data"]
    assert [o["id"] for o in history] == [order_id]
    assert history[0]["status"] == "canceled"
    assert balances(stack) == before


def test_cancel_is_idempotent(stack: Stack) -> None:
    """Cancelling an already canceled order answers true again."""
    order_id = resting_buy(stack)
    assert stack.ok("cancel", id=order_id)["data"] is True
    reply = stack.ok("cancel", id=order_id)
    assert reply["data"] is True
    assert reply["raw"]["data"][0]["state"] == "canceled"


def test_cancel_filled_order_names_its_state(stack: Stack) -> None:
    """A filled order cannot be canceled: the error says it is filled and how."""
    order_id = stack.place("BTC_USDT", "buy", "-1", "50")
    message = stack.error("cancel", id=order_id)
    assert "already filled" in message and "deal_amount" in message


def test_cancel_unknown_order(stack: Stack) -> None:
    """Cancelling an order that never existed says it does not exist."""
    message = stack.error("cancel", id="BTC-USDT,123456789012345678")
    assert "does not exist" in message


def test_market_buy_moves_balances_by_the_fill(stack: Stack) -> None:
    """A market buy of 100 USDT spends about 100 USDT and adds the fill less fees."""
    before = balances(stack)
    order_id = stack.place("BTC_USDT", "buy", "-1", "100")
    order = stack.ok("order", id=order_id)["data"]
    assert order["status"] == "filled"
    after = balances(stack)
    spent = before["USDT"][0] - after["USDT"][0]
    gained = after["BTC"][0] - before["BTC"][0]
    assert Decimal("99") <= spent <= Decimal("100")
    fee = order["deal_amount"] - gained
    assert 0 < fee < order["deal_amount"] * Decimal("0.002")
    assert abs(order["deal_amount"] * order["avg_price"] - spent) < Decimal("0.01")
    raw_order = stack.ok("order", id=order_id)["raw"]["data"][0]
    assert raw_order["tgtCcy"] == "quote_ccy" and raw_order["sz"] == "100"


def test_market_sell_in_base(stack: Stack) -> None:
    """A market sell's amount is base currency (tgtCcy base_ccy)."""
    order_id = stack.place("BTC_USDT", "sell", "0", "0.01")
    raw = stack.ok("order", id=order_id)["raw"]["data"][0]
    assert (raw["tgtCcy"], raw["sz"], raw["state"]) == ("base_ccy", "0.01", "filled")


def test_resting_order_fills_when_market_crosses(stack: Stack) -> None:
    """A limit buy just under the market fills once the walk comes down to it."""
    last = Decimal(stack.ok("ticker", symbol="ETH_USDT")["data"]["last"])
    price = (last * Decimal("0.999")).quantize(Decimal("0.01"))
    order_id = stack.place("ETH_USDT", "buy", price, "0.1")
    for _ in range(48):
        if stack.ok("order", id=order_id)["data"]["status"] == "filled":
            break
        stack.advance(1800, step=60)
    order = stack.ok("order", id=order_id)["data"]
    assert order["status"] == "filled"
    assert order["avg_price"] <= price


def test_price_and_amount_rounding_never_more_aggressive(stack: Stack) -> None:
    """A buy price rounds down to the tick, an amount down to the lot."""
    last = Decimal(stack.ok("ticker", symbol="BTC_USDT")["data"]["last"])
    asked = (last * Decimal("0.5")).quantize(Decimal("0.1")) + Decimal("0.09")
    order_id = stack.ok("trade", symbol="BTC_USDT", type="buy", price=str(asked),
                        amount="0.0123456789")["data"]["id"]
    raw = stack.ok("order", id=order_id)["raw"]["data"][0]
    assert Decimal(raw["px"]) == asked - Decimal("0.09")
    assert raw["sz"] == "0.01234567"


def test_below_min_size_refused_locally(stack: Stack) -> None:
    """An amount below minSz is refused before any POST reaches OKX."""
    message = stack.error("trade", symbol="BTC_USDT", type="buy", price="1000",
                          amount="0.000001")
    assert "below BTC_USDT's minimum order size" in message
    assert stack.sim.state()["requests"].get("/api/v5/trade/order", 0) == 0


def test_insufficient_balance_passes_okx_refusal(stack: Stack) -> None:
    """OKX's 51008 comes back with its sCode and sMsg."""
    message = stack.error("trade", symbol="BTC_USDT", type="buy", price="60000", amount="100")
    assert "51008" in message


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"symbol": "BTC_USDT", "type": "long", "price": "1", "amount": "1"},
         "param 'type' must be buy or sell"),
        ({"symbol": "BTC_USDT", "type": "buy", "price": "x", "amount": "1"},
         "param 'price' must be a decimal number"),
        ({"symbol": "BTC_USDT", "type": "buy", "price": "1"}, "missing param 'amount'"),
        ({"symbol": "BTC_USDT", "type": "buy", "price": "1", "amount": "-2"},
         "amount must be positive"),
        ({"symbol": "USDT", "type": "buy", "price": "1", "amount": "1"}, "invalid symbol"),
    ],
)
def test_trade_bad_params(stack: Stack, params: dict[str, str], expected: str) -> None:
    """Bad trade params are refused with a clear message and nothing is sent."""
    assert expected in stack.error("trade", **params)
    assert stack.sim.state()["requests"].get("/api/v5/trade/order", 0) == 0


@pytest.mark.parametrize("count", [0, 1, 100, 101, 250])
def test_orders_returns_every_page(count: int) -> None:
    """orders returns all open orders whatever the count (ordId cursor walk)."""
    stack = Stack()
    placed = {resting_buy(stack, amount="0.0001") for _ in range(count)}
    listed = stack.ok("orders", symbol="BTC_USDT")
    assert {o["id"] for o in listed["data"]} == placed
    assert len(listed["data"]) == count
    assert len(listed["raw"]) == count // 100 + 1


def test_orders_page_failure_is_an_error_not_a_short_list() -> None:
    """A page that keeps failing surfaces as an error naming the endpoint, never a short list."""
    stack = Stack()
    for _ in range(150):
        resting_buy(stack, amount="0.0001")
    stack.sim.add_fault("/api/v5/trade/orders-pending", "http-500", count=1000)
    stack.ok("ticker", symbol="BTC_USDT")
    message = stack.error("orders", symbol="BTC_USDT")
    assert "orders-pending" in message


def test_order_needs_instrument(stack: Stack) -> None:
    """A bare ordId needs the symbol param; with it the order is found."""
    order_id = resting_buy(stack)
    bare = order_id.split(",")[1]
    assert "does not name its instrument" in stack.error("order", id=bare)
    assert stack.ok("order", id=bare, symbol="BTC_USDT")["data"]["id"] == order_id


def test_order_not_found(stack: Stack) -> None:
    """A nonexistent order is 'does not exist (OKX 51603)'."""
    assert "51603" in stack.error("order", id="BTC-USDT,1")


def test_historyorders_limit_and_since(stack: Stack) -> None:
    """historyorders is newest first, honours limit, and since filters by creation time."""
    ids = []
    for _ in range(5):
        ids.append(stack.place("BTC_USDT", "buy", "-1", "20"))
        stack.advance(60, step=5)
    history = stack.ok("historyorders", symbol="BTC_USDT", limit="3")["data"]
    assert [o["id"] for o in history] == list(reversed(ids))[:3]
    assert all(o["status"] == "filled" for o in history)
    since = stack.ok("order", id=ids[3])["data"]["time"]
    recent = stack.ok("historyorders", symbol="BTC_USDT", since=str(since))["data"]
    assert [o["id"] for o in recent] == [ids[4], ids[3]]


def test_historyorders_falls_back_to_archive() -> None:
    """Orders older than 7 days come from the archive; the list is complete up to limit."""
    stack = Stack()
    old = stack.place("BTC_USDT", "buy", "-1", "20")
    stack.advance(8 * 86400, step=3600)
    new = stack.place("BTC_USDT", "buy", "-1", "20")
    history = stack.ok("historyorders", symbol="BTC_USDT", limit="10")["data"]
    assert [o["id"] for o in history] == [new, old]
    counts = stack.sim.state()["requests"]
    assert counts["/api/v5/trade/orders-history-archive"] >= 1


def test_passthrough_get_and_post(stack: Stack) -> None:
    """__api_ passes GET params as the query and other verbs as the JSON body."""
    order_id = resting_buy(stack)
    reply = stack.call("__api_/api/v5/trade/orders-pending", instType="SPOT", instId="BTC-USDT")
    assert reply["data"]["code"] == "0"
    assert [o["ordId"] for o in reply["data"]["data"]] == [order_id.split(",")[1]]
    cancel = stack.call(
        "__api_/api/v5/trade/cancel-order", headers={"Http-Method": "POST"},
        instId="BTC-USDT", ordId=order_id.split(",")[1],
    )
    assert cancel["data"]["data"][0]["sCode"] == "0"


def test_passthrough_refusal_names_okx_code(stack: Stack) -> None:
    """A read OKX refuses is an error carrying OKX's code and message, as FMZ's plugin does."""
    message = stack.error("__api_/api/v5/trade/order", instId="BTC-USDT", ordId="1")
    assert message.startswith("OKX refused GET /api/v5/trade/order: code 51603 ")


@pytest.mark.parametrize(
    ("method", "headers", "expected"),
    [
        ("__api_trade/order", None, "invalid pass-through path"),
        ("__api_/api/v4/x", None, "invalid pass-through path"),
        ("__api_/api/v5/../x", None, "invalid pass-through path"),
        ("__api_/api/v5/trade/order", {"Http-Method": "DELETE"}, "use GET or POST"),
    ],
)
def test_passthrough_refusals(
    stack: Stack, method: str, headers: dict[str, str] | None, expected: str
) -> None:
    """Paths outside /api/v5/ and verbs OKX lacks are refused locally."""
    reply = stack.call(method, headers=headers)
    assert expected in reply["error"]


def test_passthrough_public_without_keys(stack: Stack) -> None:
    """A public endpoint through __api_ works with empty keys."""
    reply = stack.call("__api_/api/v5/public/time", keys=False)
    assert reply["data"]["data"][0]["ts"].isdigit()


def test_passthrough_refusal_is_an_error(stack: Stack) -> None:
    """A pass-through OKX refused outright is an error with OKX's code and message (a bad
    order's parameter error comes back in its item, as OKX answers it)."""
    message = stack.error("__api_/api/v5/trade/order", headers={"Http-Method": "POST"},
                          instId="BTC-USDT", side="buy", ordType="limit", px="1", sz="0")
    # OKX's reason first, in the words any other refused call uses (the order's sCode
    # before the envelope's "1 All operations failed").
    assert message == (
        "OKX refused POST /api/v5/trade/order: sCode 50014 'Parameter tdMode can not be "
        "empty' (item 0); code 1 'All operations failed'"
    )


def test_okx_errors_name_the_symbol_sent(stack: Stack) -> None:
    """OKX's 51001 names no instrument; the error names the symbol the strategy sent."""
    message = stack.error("ticker", symbol="NOPE-USDT")
    assert message.startswith("NOPE-USDT: ")
    assert "51001" in message


def test_historyorders_without_symbol_covers_every_type(stack: Stack) -> None:
    """No symbol: finished spot and swap orders both come back, newest first."""
    spot = stack.place("BTC_USDT", "buy", -1, 100)
    swap = stack.place("BTC_USDT.swap", "buy", -1, 1)
    stack.advance(1)
    ids = [order["id"] for order in stack.ok("historyorders")["data"]]
    assert spot in ids and swap in ids
    assert ids.index(swap) < ids.index(spot)


@pytest.mark.parametrize(("field", "value"), [
    ("price", "\u0662\u0660\u0660\u0660"),      # Arabic-Indic 2000: once placed an order
    ("price", "\uff12\uff10\uff10\uff10"),      # fullwidth
    ("amount", "\u0660.\u0660\u0660\u0661"),
    ("amount", "NaN"),
    ("amount", "1_000"),
    ("price", "1e999999"),                      # once an internal error (Overflow)
    ("amount", "0.001\n"),
])
def test_trade_with_a_malformed_number_places_nothing(
    stack: Stack, field: str, value: str
) -> None:
    """A clear error naming the param, and no order request reaches OKX."""
    params = {"symbol": "BTC_USDT", "type": "buy", "price": "1000", "amount": "0.001"}
    params[field] = value
    message = stack.error("trade", **params)
    assert message.startswith(f"param '{field}' ")
    assert not any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in message)
    assert stack.sim.request_counts["/api/v5/trade/order"] == 0


@pytest.mark.parametrize("control", ["\r", "\n", "\t", "\x00", "\x1b", "\x7f", "\x85"])
def test_control_characters_are_refused_not_stripped(stack: Stack, control: str) -> None:
    """Symbol, type, method and id with a control character: refused, nothing sent."""
    order_id = resting_buy(stack)
    before = stack.sim.request_counts.copy()
    cases = [
        (("ticker", {"symbol": "BTC_USDT" + control}), "param 'symbol'"),
        (("trade", {"symbol": "BTC_USDT", "type": "buy" + control, "price": "1000",
                    "amount": "0.001"}), "param 'type'"),
        (("cancel", {"id": order_id + control}), "param 'id'"),
        (("order", {"id": control + order_id}), "param 'id'"),
        (("ticker" + control, {"symbol": "BTC_USDT"}), "field 'method'"),
    ]
    for (method, params), named in cases:
        message = stack.error(method, **params)
        assert message.startswith(f"{named} contains a control character (U+"), message
        assert not any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in message)
    sent = stack.sim.request_counts - before
    assert not (set(sent) & {"/api/v5/market/ticker", "/api/v5/trade/order",
                             "/api/v5/trade/cancel-order"}), sent
    assert stack.ok("order", id=order_id)["data"]["status"] == "pending"
