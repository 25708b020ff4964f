"""
okxsim as OKX's 2026 docs describe it, where an older okxsim and the daemon shared a blind
spot: account modes and their balance fields, banAmend and maxMktSz of spot market
orders, spot price limits, the expTime refusal, set-leverage refusals, the 7-day order
history, instrument states and tick changes, and the read-after-write lag.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from fmzokx.okx.rest.signing import encode_body
from fmzokx.sim import DEFAULT_ACCOUNT, SimAccount
from fmzokx.sim.settings import SimSettings

from .support import Harness

ORDER = "/api/v5/trade/order"
CANCEL = "/api/v5/trade/cancel-order"
LEVERAGE = "/api/v5/account/set-leverage"
RESTING_BUY: dict[str, Any] = {
    "instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "px": "1000",
    "sz": "0.001",
}


def as_account(harness: Harness, account: SimAccount, method: str, target: str,
               payload: Any = None) -> tuple[int, Any]:
    """A request signed with ``account``'s key."""
    body = b"" if payload is None else encode_body(payload)
    headers = harness.headers(method, target, body, account=account)
    if account.demo:
        headers["x-simulated-trading"] = "1"
    return harness.send(method, target, body or None, headers)


def balance(harness: Harness, account: SimAccount) -> dict[str, Any]:
    status, body = as_account(harness, account, "GET", "/api/v5/account/balance")
    assert (status, body["code"]) == (200, "0"), body
    data: dict[str, Any] = body["data"][0]
    return data


def control(harness: Harness, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
    body = None if payload is None else json.dumps(payload).encode()
    return harness.send(method, path, body, {"Content-Type": "application/json"})


# -- account modes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "level", "avail_eq_in_details", "avail_eq_at_top"),
    [
        ("spot", "1", False, False),
        ("futures", "2", True, False),
        ("multi_currency", "3", True, True),
        ("portfolio", "4", True, True),
    ],
)
def test_balance_fields_follow_the_account_mode(
    mode: str, level: str, avail_eq_in_details: bool, avail_eq_at_top: bool
) -> None:
    """
    GET /account/balance fills availEq only where OKX's table of applicable fields says
    (Trading Account > Get balance): not in Spot mode, per currency in Futures mode, and
    also account-wide in Multi-currency and Portfolio margin; availBal and ordFrozen always.
    """
    account = SimAccount(key=f"{mode}-key", secret="s", passphrase="p", mode=mode)
    harness = Harness(accounts=[account])
    status, body = as_account(harness, account, "POST", ORDER, RESTING_BUY)
    assert body["data"][0]["sCode"] == "0", body
    status, config = as_account(harness, account, "GET", "/api/v5/account/config")
    assert config["data"][0]["acctLv"] == level
    top = balance(harness, account)
    usdt = next(row for row in top["details"] if row["ccy"] == "USDT")
    assert (usdt["availBal"], usdt["ordFrozen"], usdt["cashBal"]) == ("99999", "1", "100000")
    assert (usdt["availEq"] != "") is avail_eq_in_details
    if avail_eq_in_details:
        assert usdt["availEq"] == "99999"
    assert (top["availEq"] != "") is avail_eq_at_top
    assert (usdt["upl"] == "") is (mode == "spot")


def test_spot_mode_cannot_trade_contracts() -> None:
    """A Spot-mode account's swap order is 51010 (unsupported under the account mode)."""
    account = SimAccount(key="spot-key", secret="s", passphrase="p", mode="spot")
    harness = Harness(accounts=[account])
    _, body = as_account(harness, account, "POST", ORDER, {
        "instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "market",
        "sz": "1"})
    assert body["data"][0]["sCode"] == "51010"


def test_unknown_account_mode_is_refused() -> None:
    with pytest.raises(ValueError):
        SimAccount(key="k", secret="s", passphrase="p", mode="margin")


# -- spot market orders -------------------------------------------------------------------


def test_spot_market_sell_beyond_the_balance_is_shrunk_without_ban_amend() -> None:
    """
    Place order, banAmend: by default OKX reduces a spot market order to the available
    balance and executes it; with banAmend true the whole order is refused (51008).
    """
    harness = Harness()
    item = harness.order(instId="BTC-USDT", tdMode="cash", side="sell", ordType="market",
                         sz="12", banAmend=True)
    assert item["sCode"] == "51008"
    ord_id = harness.placed(instId="BTC-USDT", tdMode="cash", side="sell", ordType="market",
                            sz="12")
    order = harness.details("BTC-USDT", ord_id)
    assert (order["state"], order["sz"], order["accFillSz"]) == ("filled", "10", "10")
    assert "BTC" not in harness.balances()  # OKX omits a currency with nothing in it


def test_spot_market_buy_in_quote_is_shrunk_to_the_free_quote() -> None:
    """A quote-sized market buy for more USDT than is free spends what is free."""
    harness = Harness()
    harness.placed(**RESTING_BUY)  # freezes 1 USDT
    ord_id = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="market",
                            sz="250000")
    order = harness.details("BTC-USDT", ord_id)
    assert (order["state"], order["sz"]) == ("filled", "99999")
    assert Decimal(harness.balances()["USDT"]["availBal"]) < 1


def test_spot_max_market_size_is_in_usdt() -> None:
    """maxMktSz of a spot pair is USDT: a market sell of many cheap coins is fine below it,
    and 51201 above it, whatever the coin count."""
    account = SimAccount(key="doge-key", secret="s", passphrase="p",
                         balances={"USDT": "1000", "DOGE": "2000000"})
    harness = Harness(accounts=[account])
    harness.sim.patch_instrument("DOGE-USDT", {"maxMktSz": "100000"})
    sell = {"instId": "DOGE-USDT", "tdMode": "cash", "side": "sell", "ordType": "market"}
    _, body = as_account(harness, account, "POST", ORDER, {**sell, "sz": "1000000"})
    (item,) = body["data"]
    assert item["sCode"] == "51201", item
    assert item["sMsg"] == "The value of a market order can't exceed 100000."
    _, body = as_account(harness, account, "POST", ORDER, {**sell, "sz": "500000"})
    assert body["data"][0]["sCode"] == "0", body


def test_spot_sell_below_the_price_limit_is_51138() -> None:
    """Spot prices outside the limit are 51137 (buy) and 51138 (sell), not 51006."""
    harness = Harness()
    (limits,) = harness.ok("/api/v5/public/price-limit?instId=BTC-USDT", private=False)
    low = Decimal(limits["sellLmt"]) - Decimal("0.1")
    item = harness.order(instId="BTC-USDT", tdMode="cash", side="sell", ordType="limit",
                         px=str(low), sz="0.001")
    assert (item["sCode"], item["sMsg"]) == (
        "51138", f"The lowest price limit for sell orders is {limits['sellLmt']}.")


def test_contract_price_outside_the_limit_stays_51006() -> None:
    harness = Harness()
    (limits,) = harness.ok("/api/v5/public/price-limit?instId=BTC-USDT-SWAP", private=False)
    high = Decimal(limits["buyLmt"]) + Decimal("0.1")
    item = harness.order(instId="BTC-USDT-SWAP", tdMode="cross", side="buy", ordType="limit",
                         px=str(high), sz="1")
    assert item["sCode"] == "51006"


# -- expTime ------------------------------------------------------------------------------


def expired_order(harness: Harness, path: str = ORDER, payload: Any = None) -> tuple[int, Any]:
    body = encode_body(RESTING_BUY if payload is None else payload)
    headers = harness.headers("POST", path, body)
    headers["expTime"] = str(int(harness.clock.seconds() * 1000) - 1)
    return harness.send("POST", path, body, headers)


@pytest.mark.parametrize("code", ["50036", "50037"])
def test_expired_request_refused_at_the_top(code: str) -> None:
    """By default a late order request is a top-level 50036 (HTTP 200); the code is a
    setting because OKX documents both."""
    harness = Harness(settings=SimSettings(expired_code=code))
    status, body = expired_order(harness)
    assert (status, body["code"], body["data"]) == (200, code, [])
    assert harness.sim.state()["orders"] == []


def test_expired_request_refused_per_item() -> None:
    """With expired_placement "item" each order of the request carries the code."""
    harness = Harness(settings=SimSettings(expired_code="50037", expired_placement="item"))
    batch = [dict(RESTING_BUY, clOrdId="a1"), dict(RESTING_BUY, clOrdId="a2")]
    status, body = expired_order(harness, "/api/v5/trade/batch-orders", batch)
    assert (status, body["code"]) == (200, "1")
    assert [(i["clOrdId"], i["sCode"], i["sMsg"]) for i in body["data"]] == [
        ("a1", "50037", "Order expired."), ("a2", "50037", "Order expired.")]
    assert harness.sim.state()["orders"] == []


# -- set-leverage --------------------------------------------------------------------------


def lever(harness: Harness, value: str, mgn_mode: str = "cross") -> tuple[int, Any]:
    return harness.post(LEVERAGE, {"instId": "BTC-USDT-SWAP", "lever": value,
                                   "mgnMode": mgn_mode})


@pytest.mark.parametrize(
    ("refusal", "with_order", "with_position", "code"),
    [
        ("orders", True, False, "59107"),
        ("orders", False, True, "0"),
        ("strict", False, True, "59000"),
        ("strict", True, False, "59000"),
        ("never", True, True, "0"),
    ],
)
def test_set_leverage_refusals(
    refusal: str, with_order: bool, with_position: bool, code: str
) -> None:
    """
    Whether open orders or positions block a leverage change is a setting (OKX's 59xxx
    codes say both "cancel pending orders" and "close open positions or orders"); the
    default refuses with pending orders in that margin mode only.
    """
    harness = Harness(settings=SimSettings(leverage_refusal=refusal))
    if with_position:
        harness.placed(instId="BTC-USDT-SWAP", tdMode="cross", side="buy", ordType="market",
                       sz="1")
    if with_order:
        harness.placed(instId="BTC-USDT-SWAP", tdMode="cross", side="buy", ordType="limit",
                       px="1000", sz="1")
    status, body = lever(harness, "5")
    assert (status, body["code"]) == (200, code), body
    info = harness.ok("/api/v5/account/leverage-info?instId=BTC-USDT-SWAP&mgnMode=cross")
    assert info[0]["lever"] == ("5" if code == "0" else "10")


def test_isolated_orders_block_isolated_leverage_only() -> None:
    harness = Harness()
    harness.placed(instId="BTC-USDT-SWAP", tdMode="isolated", side="buy", ordType="limit",
                   px="1000", sz="1")
    assert lever(harness, "5", "isolated")[1]["code"] == "59101"
    assert lever(harness, "5", "cross")[1]["code"] == "0"


# -- order history window -------------------------------------------------------------------


def test_order_history_holds_orders_completed_in_the_last_7_days() -> None:
    """
    Trade > GET / Order history (last 7 days): orders placed earlier but completed in the
    last 7 days are included; an order completed 8 days ago is only in the archive.
    """
    harness = Harness()
    old_fill = harness.placed(instId="BTC-USDT", tdMode="cash", side="buy", ordType="market",
                              sz="10")
    resting = harness.placed(**RESTING_BUY)
    harness.clock.advance(8 * 86_400)
    harness.post(CANCEL, {"instId": "BTC-USDT", "ordId": resting})
    history = {o["ordId"] for o in harness.ok("/api/v5/trade/orders-history?instType=SPOT")}
    archive = {o["ordId"] for o in harness.ok(
        "/api/v5/trade/orders-history-archive?instType=SPOT")}
    assert history == {resting}
    assert old_fill in archive


# -- instruments -----------------------------------------------------------------------------


def test_suspended_and_preopen_instruments_refuse_orders() -> None:
    """An instrument's state is settable; suspend is 51022, preopen 51021, per item."""
    harness = Harness()
    row = harness.sim.patch_instrument("BTC-USDT", {"state": "suspend"})
    assert row["state"] == "suspend"
    (listed,) = harness.ok("/api/v5/public/instruments?instType=SPOT&instId=BTC-USDT",
                           private=False)
    assert listed["state"] == "suspend"
    assert harness.order(**RESTING_BUY)["sCode"] == "51022"
    harness.sim.patch_instrument("BTC-USDT", {"state": "preopen"})
    assert harness.order(**RESTING_BUY)["sCode"] == "51021"
    harness.sim.patch_instrument("BTC-USDT", {"state": "live"})
    assert harness.order(**RESTING_BUY)["sCode"] == "0"


def test_tick_size_change_applies_to_new_orders() -> None:
    """After a tick change, a price on the old grid is 51000 px; the new grid is accepted."""
    harness = Harness()
    harness.sim.patch_instrument("BTC-USDT", {"tickSz": "1"})
    (listed,) = harness.ok("/api/v5/public/instruments?instType=SPOT&instId=BTC-USDT",
                           private=False)
    assert listed["tickSz"] == "1"
    item = harness.order(**dict(RESTING_BUY, px="1000.5"))
    assert (item["sCode"], item["sMsg"]) == ("51000", "Parameter px error")
    assert harness.order(**RESTING_BUY)["sCode"] == "0"


def test_instrument_control_api_and_reset() -> None:
    """POST /_sim/instruments patches; bad requests are 400; a reset restores the list."""
    harness = Harness()
    status, body = control(harness, "POST", "/_sim/instruments",
                           {"instId": "ETH-USDT", "state": "suspend", "tickSz": "0.1"})
    assert (status, body["data"][0]["state"], body["data"][0]["tickSz"]) == (
        200, "suspend", "0.1")
    for bad in ({"instId": "NOPE-USDT", "state": "suspend"}, {"instId": "ETH-USDT"},
                {"instId": "ETH-USDT", "state": "halted"}, {"instId": "ETH-USDT", "lotSz": "1"},
                {"instId": "ETH-USDT", "tickSz": "-1"}, {"instId": "ETH-USDT", "tickSz": 0.5}):
        status, body = control(harness, "POST", "/_sim/instruments", bad)
        assert status == 400, bad
    harness.sim.reset()
    (row,) = harness.ok("/api/v5/public/instruments?instType=SPOT&instId=ETH-USDT",
                        private=False)
    assert (row["state"], row["tickSz"]) == ("live", "0.01")


# -- read-after-write lag ----------------------------------------------------------------------


def test_lag_hides_a_new_order_for_a_while() -> None:
    """With lag_ms, GET /trade/order says 51603 and the lists omit the order until the lag
    passes; a duplicate clOrdId is still refused at once (the engine knows it)."""
    harness = Harness(settings=SimSettings(lag_ms=1500))
    ord_id = harness.placed(**dict(RESTING_BUY, clOrdId="lag1"))
    status, body = harness.get(f"{ORDER}?instId=BTC-USDT&clOrdId=lag1")
    assert (status, body["code"]) == (200, "51603")
    assert harness.ok("/api/v5/trade/orders-pending?instType=SPOT") == []
    assert harness.order(**dict(RESTING_BUY, clOrdId="lag1"))["sCode"] == "51016"
    harness.clock.advance(1.5)
    assert harness.details("BTC-USDT", ord_id)["state"] == "live"
    assert len(harness.ok("/api/v5/trade/orders-pending?instType=SPOT")) == 1


def test_lag_makes_an_accepted_cancel_take_effect_later() -> None:
    """A cancel is accepted (sCode 0) but the order stays live until the lag passes; a
    second cancel meanwhile is 51410; then the order is canceled."""
    harness = Harness(settings=SimSettings(lag_ms=1000))
    ord_id = harness.placed(**RESTING_BUY)
    harness.clock.advance(1)
    _, body = harness.post(CANCEL, {"instId": "BTC-USDT", "ordId": ord_id})
    assert body["data"][0]["sCode"] == "0"
    assert harness.details("BTC-USDT", ord_id)["state"] == "live"
    _, body = harness.post(CANCEL, {"instId": "BTC-USDT", "ordId": ord_id})
    assert body["data"][0]["sCode"] == "51410"
    harness.clock.advance(1)
    order = harness.details("BTC-USDT", ord_id)
    assert (order["state"], order["cancelSource"]) == ("canceled", "1")
    assert harness.balances()["USDT"]["ordFrozen"] == "0"


def test_settings_over_the_control_api() -> None:
    """GET/POST /_sim/settings show and change them (all or nothing); reset restores."""
    harness = Harness()
    status, body = control(harness, "GET", "/_sim/settings")
    assert body["data"] == [{"lag_ms": 0, "lag_cancels": False,
                             "trade_quote_ccy_required": False, "expired_code": "50036",
                             "expired_placement": "top", "leverage_refusal": "orders",
                             "ws_environment": "any", "private_idle": "both",
                             "ws_cadence": "okx", "ws_checksum": "zero",
                             "ws_channel_cap": 0, "ws_depth_cap": 0,
                             "login_failure": "close"}]
    status, body = control(harness, "POST", "/_sim/settings",
                           {"lag_ms": 250, "leverage_refusal": "strict"})
    assert (status, body["data"][0]["lag_ms"], body["data"][0]["leverage_refusal"]) == (
        200, 250, "strict")
    for bad in ({"lag_ms": -1}, {"lag_ms": "5"}, {"expired_code": "50038"},
                {"lag_ms": 5, "nonsense": 1}, {"expired_placement": "middle"},
                {"lag_cancels": "yes"}, {"ws_environment": "wspap"},
                {"private_idle": "never"}, {"login_failure": "retry"}):
        status, body = control(harness, "POST", "/_sim/settings", bad)
        assert status == 400, bad
    assert harness.sim.settings.lag_ms == 250
    assert harness.sim.state()["settings"]["leverage_refusal"] == "strict"
    harness.sim.reset()
    assert harness.sim.settings == SimSettings()


def test_default_account_is_a_live_futures_mode_key() -> None:
    assert (DEFAULT_ACCOUNT.mode, DEFAULT_ACCOUNT.demo) == ("futures", False)
