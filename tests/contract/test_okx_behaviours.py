"""
okxsim against OKX's documented behaviour (v5 docs, 2026 edition): one probe per
behaviour the daemon depends on, each naming the OKX doc section it follows, and each
section cited on the simulator's documentation page.

The recorded-payload contract (:mod:`tests.contract.test_okxsim_contract`) checks shapes;
this one checks what OKX *does*: which code, where, with which HTTP status, and what
happens to the order. The daemon's side of each is tested through okxsim in
``tests/fmz`` and ``tests/okx``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from attrs import frozen

from fmzokx.okx.instruments import delivery_alias
from fmzokx.okx.rest.signing import encode_body
from fmzokx.sim import DEFAULT_ACCOUNT, SimAccount
from fmzokx.sim.instruments import future_expiries
from fmzokx.sim.settings import SimSettings
from tests.sim.support import Harness

ROOT = Path(__file__).resolve().parents[2]
SIMULATOR_PAGE = (ROOT / "docs" / "simulator.rst").read_text()

P = "/api/v5"
ORDER = f"{P}/trade/order"
RESTING = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit",
           "px": "1000", "sz": "0.001"}


def signed(harness: Harness, method: str, target: str, payload: Any = None,
           account: SimAccount = DEFAULT_ACCOUNT,
           extra: dict[str, str] | None = None) -> tuple[int, Any]:
    body = b"" if payload is None else encode_body(payload)
    headers = harness.headers(method, target, body, account=account)
    headers.update(extra or {})
    return harness.send(method, target, body or None, headers)


def item_of(body: Any) -> dict[str, Any]:
    (item,) = body["data"]
    result: dict[str, Any] = item
    return result


# -- the probes -----------------------------------------------------------------------------


def alias_is_empty(h: Harness) -> None:
    rows = h.ok(f"{P}/public/instruments?instType=FUTURES", private=False)
    assert rows and {row["alias"] for row in rows} == {""}
    assert all(row["expTime"] for row in rows)


def spot_mode_has_no_avail_eq(h: Harness) -> None:
    spot = SimAccount(key="spot-mode", secret="s", passphrase="p", mode="spot")
    multi = SimAccount(key="multi-ccy", secret="s", passphrase="p", mode="multi_currency")
    h = Harness(accounts=[spot, multi])
    for account, filled in ((spot, False), (multi, True)):
        _, body = signed(h, "GET", f"{P}/account/balance", account=account)
        usdt = next(d for d in body["data"][0]["details"] if d["ccy"] == "USDT")
        assert (usdt["availEq"] != "", usdt["availBal"]) == (filled, "100000")


def demo_key_needs_the_header(h: Harness) -> None:
    demo = SimAccount(key="demo", secret="s", passphrase="p", demo=True)
    h = Harness(accounts=[demo, DEFAULT_ACCOUNT])
    assert signed(h, "GET", f"{P}/account/balance", account=demo)[0] == 401
    ok = signed(h, "GET", f"{P}/account/balance", account=demo,
                extra={"x-simulated-trading": "1"})
    assert ok[1]["code"] == "0"
    live = signed(h, "GET", f"{P}/account/balance", extra={"x-simulated-trading": "1"})
    assert live == (401, {"msg": "APIKey does not match current environment.",
                          "code": "50101"})


def parameter_errors_per_item(h: Harness) -> None:
    status, body = signed(h, "POST", ORDER, dict(RESTING, side="hold"))
    assert (status, body["code"], item_of(body)["sCode"]) == (200, "1", "51000")


def ban_amend(h: Harness) -> None:
    sell = {"instId": "BTC-USDT", "tdMode": "cash", "side": "sell", "ordType": "market",
            "sz": "11"}
    _, body = signed(h, "POST", ORDER, dict(sell, banAmend=True))
    assert item_of(body)["sCode"] == "51008"
    _, body = signed(h, "POST", ORDER, sell)
    assert item_of(body)["sCode"] == "0"
    assert h.details("BTC-USDT", item_of(body)["ordId"])["sz"] == "10"


def spot_max_market_size_in_usdt(h: Harness) -> None:
    h.sim.patch_instrument("BTC-USDT", {"maxMktSz": "1000"})
    buy = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "market"}
    _, body = signed(h, "POST", ORDER, dict(buy, sz="1001"))
    assert item_of(body)["sCode"] == "51201"
    _, body = signed(h, "POST", ORDER, dict(buy, sz="1000"))
    assert item_of(body)["sCode"] == "0"


def cancel_finished_is_51400(h: Harness) -> None:
    ord_id = h.placed(**RESTING)
    cancel = {"instId": "BTC-USDT", "ordId": ord_id}
    assert item_of(signed(h, "POST", f"{P}/trade/cancel-order", cancel)[1])["sCode"] == "0"
    assert item_of(signed(h, "POST", f"{P}/trade/cancel-order", cancel)[1])["sCode"] == "51400"


def late_order(h: Harness) -> tuple[int, Any]:
    stamp = str(int(h.clock.seconds() * 1000) - 1)
    return signed(h, "POST", ORDER, RESTING, extra={"expTime": stamp})


def exp_time_refusal(h: Harness) -> None:
    assert late_order(h)[1]["code"] == "50036"
    h.sim.configure(expired_code="50037", expired_placement="item")
    status, body = late_order(h)
    assert (status, body["code"], item_of(body)["sCode"]) == (200, "1", "50037")
    assert h.sim.state()["orders"] == []


def leverage_refusals(h: Harness) -> None:
    h.placed(instId="BTC-USDT-SWAP", tdMode="cross", side="buy", ordType="limit", px="1000",
             sz="1")
    lever = {"instId": "BTC-USDT-SWAP", "lever": "5", "mgnMode": "cross"}
    assert signed(h, "POST", f"{P}/account/set-leverage", lever)[1]["code"] == "59107"
    h.sim.configure(leverage_refusal="strict")
    assert signed(h, "POST", f"{P}/account/set-leverage", lever)[1]["code"] == "59000"


def spot_price_limits(h: Harness) -> None:
    _, body = signed(h, "POST", ORDER, dict(RESTING, px="999999"))
    assert item_of(body)["sCode"] == "51137"
    _, body = signed(h, "POST", ORDER, dict(RESTING, side="sell", px="1"))
    assert item_of(body)["sCode"] == "51138"


def history_by_completion(h: Harness) -> None:
    ord_id = h.placed(**RESTING)
    h.clock.advance(10 * 86_400)
    signed(h, "POST", f"{P}/trade/cancel-order", {"instId": "BTC-USDT", "ordId": ord_id})
    rows = h.ok(f"{P}/trade/orders-history?instType=SPOT")
    assert [row["ordId"] for row in rows] == [ord_id]


def instrument_states(h: Harness) -> None:
    h.sim.patch_instrument("BTC-USDT", {"state": "suspend"})
    assert item_of(signed(h, "POST", ORDER, RESTING)[1])["sCode"] == "51022"
    h.sim.patch_instrument("BTC-USDT", {"state": "preopen"})
    assert item_of(signed(h, "POST", ORDER, RESTING)[1])["sCode"] == "51021"


def read_after_write_lag(h: Harness) -> None:
    h.sim.configure(lag_ms=1000)
    ord_id = h.placed(**RESTING)
    assert h.get(f"{ORDER}?instId=BTC-USDT&ordId={ord_id}")[1]["code"] == "51603"
    h.clock.advance(1)
    assert h.details("BTC-USDT", ord_id)["state"] == "live"


def edge_and_busy_replies(h: Harness) -> None:
    expected = {
        "html": (403, None), "empty": (429, None), "busy-50004": (400, "50004"),
        "busy-50013": (429, "50013"), "timeout-51054": (500, "51054"),
        "order-timeout-51149": (500, "1"),
    }
    for mode, (status, code) in expected.items():
        h.sim.add_fault(ORDER, mode)
        body = encode_body(RESTING)
        headers = h.headers("POST", ORDER, body)
        (result,) = h.settle(h.raw("POST", ORDER, body, headers))
        got, data = result
        assert got == status, mode
        if code is not None:
            assert json.loads(data)["code"] == code, mode
        elif mode == "empty":
            assert data == b""
        else:
            assert data.startswith(b"<!DOCTYPE html>")


def position_fields(h: Harness) -> None:
    futures = min(h.ok(f"{P}/public/instruments?instType=FUTURES&instFamily=BTC-USDT",
                       private=False), key=lambda row: int(row["expTime"]))
    h.placed(instId=futures["instId"], tdMode="cross", side="buy", ordType="market", sz="1")
    (row,) = h.ok(f"{P}/account/positions?instId={futures['instId']}")
    for name in ("clSpotInUseAmt", "maxSpotInUseAmt", "hedgedPos", "settledPnl"):
        assert name in row
    assert row["nonSettleAvgPx"] == row["avgPx"]


@frozen
class Behaviour:
    """One documented OKX behaviour: the doc section it comes from, and its probe."""

    name: str
    section: str
    probe: Callable[[Harness], None]


BEHAVIOURS = [
    Behaviour("instruments carry alias \"\"; futures are told apart by expTime",
              "Public Data > Get instruments", alias_is_empty),
    Behaviour("Spot mode leaves availEq empty; the margin modes fill it",
              "Trading Account > Get balance", spot_mode_has_no_avail_eq),
    Behaviour("a demo key needs x-simulated-trading: 1, a live key must not send it (50101)",
              "Overview > Demo trading services", demo_key_needs_the_header),
    Behaviour("parameter errors of an order come back per item",
              "Trade > POST / Place order", parameter_errors_per_item),
    Behaviour("a short spot market order is shrunk unless banAmend (then 51008)",
              "Trade > POST / Place order", ban_amend),
    Behaviour("a spot pair's maxMktSz is in USDT (51201)",
              "Public Data > Get instruments", spot_max_market_size_in_usdt),
    Behaviour("cancelling a finished order is 51400",
              "Trade > POST / Cancel order", cancel_finished_is_51400),
    Behaviour("an order request after its expTime is not processed (50036/50037)",
              "Overview > Transaction timeouts", exp_time_refusal),
    Behaviour("set-leverage refused over open orders or positions (59000 family)",
              "Error Code > REST API > Account", leverage_refusals),
    Behaviour("spot prices outside the limit are 51137/51138",
              "Error Code > REST API > Public", spot_price_limits),
    Behaviour("orders-history holds orders completed in the last 7 days",
              "Trade > GET / Order history (last 7 days)", history_by_completion),
    Behaviour("suspended (51022) and preopen (51021) instruments take no orders",
              "Public Data > Get instruments", instrument_states),
    Behaviour("a new order may be 51603 for a while (read-after-write lag)",
              "not documented by OKX", read_after_write_lag),
    Behaviour("edge pages, empty 429s and busy codes with OKX's HTTP statuses",
              "Error Code > REST API > Public", edge_and_busy_replies),
    Behaviour("positions carry the spot-in-use and futures settlement fields",
              "Trading Account > Get positions", position_fields),
]


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=[b.name for b in BEHAVIOURS])
def test_okxsim_behaves_as_okx_documents(behaviour: Behaviour) -> None:
    behaviour.probe(Harness())


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=[b.name for b in BEHAVIOURS])
def test_each_behaviour_s_doc_section_is_cited_on_the_simulator_page(
    behaviour: Behaviour,
) -> None:
    assert behaviour.section in SIMULATOR_PAGE


def test_settings_default_to_the_best_supported_reading() -> None:
    assert SimSettings() == SimSettings(lag_ms=0, expired_code="50036",
                                        expired_placement="top", leverage_refusal="orders",
                                        ws_environment="any", private_idle="both",
                                        login_failure="close")


# -- the futures calendar ----------------------------------------------------------------------


def moments() -> list[int]:
    """Every day of 2026-2027 at noon UTC, and each Friday just before and after 08:00."""
    start = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    found = []
    for day in range(730):
        moment = start + timedelta(days=day)
        found.append(moment)
        if moment.weekday() == 4:
            found.append(moment.replace(hour=7, minute=59, second=59))
            found.append(moment.replace(hour=8, minute=0, second=0))
    return [int(moment.timestamp() * 1000) for moment in found]


@pytest.mark.parametrize("now_ms", moments()[::7] + moments()[-40:])
def test_okxsim_lists_futures_on_okx_s_calendar(now_ms: int) -> None:
    """
    Every listed expiry is a Friday 08:00 UTC; the quarterlies are the last Friday of March,
    June, September or December; and the daemon's reading of expTime
    (:func:`fmzokx.okx.instruments.delivery_alias`) names them this_week, next_week,
    quarter and next_quarter, nearest first.
    """
    expiries = [expiry for _, expiry in future_expiries(now_ms)]
    assert expiries == sorted(expiries) and expiries[0] > now_ms
    for expiry in expiries:
        moment = datetime.fromtimestamp(expiry / 1000, tz=timezone.utc)
        assert (moment.weekday(), moment.hour, moment.minute) == (4, 8, 0)
    for expiry in expiries[2:]:
        moment = datetime.fromtimestamp(expiry / 1000, tz=timezone.utc)
        assert moment.month in (3, 6, 9, 12)
        assert (moment + timedelta(days=7)).month != moment.month
    assert [delivery_alias(expiry, now_ms) for expiry in expiries] == [
        "this_week", "next_week", "quarter", "next_quarter"]
