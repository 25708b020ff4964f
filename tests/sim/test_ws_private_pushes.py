"""
okxsim's private channels: each channel's snapshot and regular-push rules, and every
change REST would show pushed to the account's sessions only, each item equal to what
REST answers at that moment.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fmzokx.okx.rest.signing import encode_body
from fmzokx.sim import DEFAULT_ACCOUNT
from fmzokx.sim.market import Trade

from .private_support import OTHER, PrivateHarness, data, events

SWAP = "BTC-USDT-SWAP"
ACCOUNT = {"channel": "account"}
POSITIONS = {"channel": "positions", "instType": "ANY"}
ORDERS = {"channel": "orders", "instType": "ANY"}
BAL_POS = {"channel": "balance_and_position"}
UID = "374579799097793561"
#: Fields of the orders channel that GET /trade/order does not have.
WS_ONLY = {
    "fillFee", "fillFeeCcy", "fillPnl", "execType", "fillNotionalUsd", "amendResult",
    "amendSource", "code", "msg", "reqId", "lastPx", "notionalUsd", "fillPxVol", "fillPxUsd",
    "fillMarkVol", "fillFwdPx", "fillMarkPx",
}
LAST_FILL = {"fillSz", "fillPx", "fillTime", "tradeId"}


def channel(messages: list[Any], name: str) -> list[dict[str, Any]]:
    return [m for m in data(messages) if m["arg"]["channel"] == name]


def rest_order(harness: PrivateHarness, inst_id: str, ord_id: str) -> dict[str, Any]:
    (order,) = harness.get(f"/api/v5/trade/order?instId={inst_id}&ordId={ord_id}")
    result: dict[str, Any] = order
    return result


def as_rest(item: dict[str, Any], *ignore: str) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in WS_ONLY and k not in ignore}


def rest_balance(harness: PrivateHarness, query: str = "") -> dict[str, Any]:
    (balance,) = harness.get("/api/v5/account/balance" + query)
    result: dict[str, Any] = balance
    return result


def rest_positions(harness: PrivateHarness) -> list[dict[str, Any]]:
    return harness.get("/api/v5/account/positions")


def market(harness: PrivateHarness, side: str, sz: str, inst_id: str = SWAP,
           **extra: Any) -> str:
    return harness.place(instId=inst_id, tdMode=extra.pop("tdMode", "cross"), side=side,
                         ordType="market", sz=sz, **extra)


# -- account ---------------------------------------------------------------------------------


def test_account_snapshot_equals_rest_then_pushes_every_5_s() -> None:
    harness = PrivateHarness()
    client = harness.session()
    client.send_json({"op": "subscribe", "args": [ACCOUNT]})
    harness.flush()
    (snapshot,) = data(client.messages())
    assert snapshot == {
        "arg": {"channel": "account", "uid": UID}, "eventType": "snapshot", "curPage": 1,
        "lastPage": True, "data": [rest_balance(harness)],
    }
    assert {d["ccy"] for d in snapshot["data"][0]["details"]} == {"BTC", "ETH", "USDT"}
    assert harness.get("/api/v5/account/config")[0]["uid"] == UID
    harness.advance(4.9)
    assert data(client.messages()) == []
    harness.advance(0.2)
    (regular,) = data(client.messages())
    assert regular["eventType"] == "snapshot"
    assert regular["data"] == [rest_balance(harness)]


def test_account_with_ccy_is_rest_with_that_ccy() -> None:
    harness = PrivateHarness()
    client = harness.session()
    client.send_json({"op": "subscribe", "args": [{"channel": "account", "ccy": "BTC"}]})
    harness.flush()
    (snapshot,) = data(client.messages())
    assert snapshot["arg"] == {"channel": "account", "ccy": "BTC", "uid": UID}
    assert snapshot["data"] == [rest_balance(harness, "?ccy=BTC")]
    market(harness, "buy", "1")  # moves USDT only
    assert data(client.messages()) == []


def test_update_interval_zero_pushes_on_events_only() -> None:
    harness = PrivateHarness()
    quiet = '{"updateInterval": "0"}'
    client = harness.session(DEFAULT_ACCOUNT, {"channel": "account", "extraParams": quiet},
                             {"channel": "positions", "instType": "ANY",
                              "extraParams": quiet})
    for _ in range(3):
        harness.advance(5.0, step=1.0)
        client.send_text("ping")
    assert data(client.messages()) == []
    market(harness, "buy", "1")
    pushed = data(client.messages())
    assert {m["arg"]["channel"] for m in pushed} == {"account", "positions"}
    assert all(m["eventType"] == "event_update" and "curPage" not in m for m in pushed)


def test_positions_update_interval_of_2_s() -> None:
    harness = PrivateHarness()
    every_2s = {"channel": "positions", "instType": "SWAP",
                "extraParams": '{"updateInterval": "2000"}'}
    client = harness.session(DEFAULT_ACCOUNT, every_2s)
    harness.advance(4.5)
    assert [m["eventType"] for m in data(client.messages())] == ["snapshot", "snapshot"]


def test_account_event_has_all_totals_and_the_changed_currencies_only() -> None:
    harness = PrivateHarness()
    client = harness.session(DEFAULT_ACCOUNT, ACCOUNT)
    harness.place(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit", px="50000",
                  sz="0.1")
    (update,) = channel(client.messages(), "account")
    assert update["eventType"] == "event_update" and "lastPage" not in update
    (pushed,) = update["data"]
    rest = rest_balance(harness)
    assert [d["ccy"] for d in pushed["details"]] == ["USDT"]
    assert pushed["details"][0] == next(d for d in rest["details"] if d["ccy"] == "USDT")
    assert pushed["details"][0]["ordFrozen"] == "5000"
    assert {k: v for k, v in pushed.items() if k != "details"} == {
        k: v for k, v in rest.items() if k != "details"}


# -- positions -------------------------------------------------------------------------------


def test_positions_snapshot_open_change_and_close_with_pos_zero() -> None:
    harness = PrivateHarness()
    client = harness.session()
    client.send_json({"op": "subscribe", "args": [POSITIONS]})
    harness.flush()
    (snapshot,) = data(client.messages())
    assert (snapshot["eventType"], snapshot["data"]) == ("snapshot", [])
    market(harness, "buy", "10")
    (opened,) = channel(client.messages(), "positions")
    (row,) = opened["data"]
    assert row.pop("pTime") == str(harness.sim.now_ms())
    assert [row] == rest_positions(harness)
    harness.clock.advance(10)
    client.messages()
    market(harness, "sell", "10")
    closed = channel(client.messages(), "positions")[-1]
    assert closed["eventType"] == "event_update"
    (row,) = closed["data"]
    assert (row["pos"], row["instId"], row["uTime"]) == ("0", SWAP, str(harness.sim.now_ms()))
    assert rest_positions(harness) == []
    # A new subscription's snapshot has only open positions.
    client.send_json({"op": "subscribe", "args": [{"channel": "positions", "instType": "SWAP"}]})
    harness.flush()
    assert data(client.messages())[0]["data"] == []


def test_positions_filters_by_instrument_type_and_id() -> None:
    harness = PrivateHarness()
    futures = harness.session(DEFAULT_ACCOUNT, {"channel": "positions", "instType": "FUTURES"})
    eth = harness.session(DEFAULT_ACCOUNT,
                          {"channel": "positions", "instType": "SWAP", "instId": "ETH-USDT-SWAP"})
    family = harness.session(DEFAULT_ACCOUNT, {"channel": "positions", "instType": "SWAP",
                                               "instFamily": "BTC-USDT"})
    market(harness, "buy", "1")
    assert data(futures.messages()) == [] and data(eth.messages()) == []
    assert data(family.messages())[0]["data"][0]["instId"] == SWAP


def test_positions_pushes_when_an_order_is_placed_or_cancelled_on_its_instrument() -> None:
    """
    OKX's positions channel pushes "when triggered by events such as placing/canceling
    order": the open positions of the order's instrument, as REST shows them then. An
    order on an instrument without a position (a spot order here) pushes nothing.
    """
    harness = PrivateHarness()
    market(harness, "buy", "2")
    client = harness.session(DEFAULT_ACCOUNT, POSITIONS)
    client.messages()
    harness.clock.advance(1)
    ord_id = harness.place(instId=SWAP, tdMode="cross", side="sell", ordType="limit",
                           px="900000", sz="1")
    (placed,) = channel(client.messages(), "positions")
    assert placed["eventType"] == "event_update"
    (row,) = placed["data"]
    assert row.pop("pTime") == str(harness.sim.now_ms())
    assert [row] == rest_positions(harness)
    harness.clock.advance(1)
    harness.post("/api/v5/trade/cancel-order", {"instId": SWAP, "ordId": ord_id})
    (cancelled,) = channel(client.messages(), "positions")
    assert [row["instId"] for row in cancelled["data"]] == [SWAP]
    harness.place(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit", px="50000",
                  sz="0.1")
    assert channel(client.messages(), "positions") == []


# -- orders ----------------------------------------------------------------------------------


def test_orders_has_no_snapshot_and_pushes_live_then_canceled() -> None:
    harness = PrivateHarness()
    market(harness, "buy", "1")  # something to show, if a snapshot were sent
    client = harness.session()
    client.send_json({"op": "subscribe", "args": [ORDERS]})
    harness.flush()
    assert data(client.messages()) == []
    ord_id = harness.place(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                           px="50000", sz="0.1", clOrdId="mine1")
    (live,) = channel(client.messages(), "orders")
    assert live["arg"] == {"channel": "orders", "instType": "ANY", "uid": UID}
    (item,) = live["data"]
    assert (item["state"], item["ordId"], item["clOrdId"]) == ("live", ord_id, "mine1")
    assert as_rest(item) == rest_order(harness, "BTC-USDT", ord_id)
    assert [as_rest(item)] == harness.get("/api/v5/trade/orders-pending?instId=BTC-USDT")
    assert (item["code"], item["msg"], item["fillSz"], item["tradeId"]) == ("0", "", "0", "")
    harness.clock.advance(2)
    harness.post("/api/v5/trade/cancel-order", {"instId": "BTC-USDT", "ordId": ord_id})
    (canceled,) = channel(client.messages(), "orders")
    (item,) = canceled["data"]
    assert (item["state"], item["cancelSource"]) == ("canceled", "1")
    assert as_rest(item) == rest_order(harness, "BTC-USDT", ord_id)


def test_orders_market_fill_matches_rest_and_the_fill() -> None:
    harness = PrivateHarness()
    client = harness.session(DEFAULT_ACCOUNT, ORDERS)
    ord_id = market(harness, "sell", "3")
    pushes = [m["data"][0] for m in channel(client.messages(), "orders")]
    assert [p["state"] for p in pushes] == ["live"] + ["partially_filled"] * (len(pushes) - 2) + [
        "filled"]
    rest = rest_order(harness, SWAP, ord_id)
    assert as_rest(pushes[-1]) == rest
    fills = harness.get(f"/api/v5/trade/fills?instId={SWAP}&ordId={ord_id}")
    by_trade = {f["tradeId"]: f for f in fills}
    for push in pushes[1:]:
        fill = by_trade[push["tradeId"]]
        assert (push["fillSz"], push["fillPx"], push["fillFee"], push["fillFeeCcy"],
                push["execType"], push["fillTime"]) == (
            fill["fillSz"], fill["fillPx"], fill["fee"], fill["feeCcy"], "T", fill["ts"])
    assert sum(Decimal(p["fillSz"]) for p in pushes) == Decimal(rest["accFillSz"])
    times = [int(p["uTime"]) for p in pushes]
    filled = [Decimal(p["accFillSz"]) for p in pushes]
    assert times == sorted(times) and filled == sorted(filled)


def test_orders_notional_usd_in_each_order_unit() -> None:
    """Contracts times face value times price; a spot order sized in quote is its size."""
    harness = PrivateHarness()
    client = harness.session(DEFAULT_ACCOUNT, ORDERS)
    market(harness, "buy", "3")
    live = channel(client.messages(), "orders")[0]["data"][0]
    assert Decimal(live["notionalUsd"]) == 3 * Decimal("0.01") * Decimal(live["lastPx"])
    harness.place(instId="BTC-USDT", tdMode="cash", side="buy", ordType="market", sz="250",
                  tgtCcy="quote_ccy")
    pushes = [m["data"][0] for m in channel(client.messages(), "orders")]
    assert {p["notionalUsd"] for p in pushes} == {"250"}
    # The last push is the state change to filled (a quote-sized order is done when its
    # budget is); the fills come before it.
    assert (pushes[-1]["state"], pushes[-1]["fillSz"]) == ("filled", "0")
    fill = pushes[-2]
    assert Decimal(fill["fillNotionalUsd"]) == (
        Decimal(fill["fillSz"]) * Decimal(fill["fillPx"])).quantize(Decimal("1e-12"))


def test_an_order_refused_for_its_exptime_pushes_nothing() -> None:
    """OKX does not process a request that arrives after its expTime: nothing changes."""
    harness = PrivateHarness()
    client = harness.session(DEFAULT_ACCOUNT, ORDERS, ACCOUNT, BAL_POS)
    body = encode_body({"instId": "BTC-USDT", "tdMode": "cash", "side": "buy",
                        "ordType": "market", "sz": "10", "tgtCcy": "quote_ccy"})
    path = "/api/v5/trade/order"
    headers = harness.rest.headers("POST", path, body)
    headers["expTime"] = str(harness.sim.now_ms() - 1)
    status, reply = harness.rest.send("POST", path, body, headers)
    assert (status, reply["code"]) == (200, "50036")
    harness.flush()
    assert data(client.messages()) == []


def partial_touch(harness: PrivateHarness) -> Trade:
    """A coming BTC-USDT trade at a new low that a later trade goes below: a buy resting at
    its price fills that trade's size first, the rest later."""
    inst = harness.sim.exchange.instrument("BTC-USDT", harness.sim.now_ms())
    assert inst is not None
    now = harness.sim.now_ms() // 1000
    trades = [harness.sim.market.trade(inst, s) for s in range(now + 1, now + 300)]
    low_so_far = min(t.px for t in trades[:3])
    touch = next(t for t in trades[3:] if t.px < low_so_far and any(
        later.px < t.px for later in trades if later.trade_id > t.trade_id))
    assert all(t.px > touch.px for t in trades if t.trade_id < touch.trade_id)
    return touch


def test_orders_resting_order_partly_then_fully_filled_by_the_market() -> None:
    """A buy at a new low fills what that second's trade offers, the rest on a later trade;
    each fill is pushed from the server's tick, without any REST call."""
    harness = PrivateHarness()
    now = harness.sim.now_ms() // 1000
    touch = partial_touch(harness)
    size = touch.sz * 2
    client = harness.session(DEFAULT_ACCOUNT, ORDERS, BAL_POS)
    client.send_text("ping")
    ord_id = harness.place(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                           px=str(touch.px), sz=str(size))
    client.messages()
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["state"] != "filled":
        harness.advance(1.0)
        client.send_text("ping")
        seen += [m["data"][0] for m in channel(client.messages(), "orders")]
        assert harness.clock.seconds() < now + 300
    first = seen[0]
    assert (first["state"], first["fillSz"], first["fillTime"], first["execType"]) == (
        "partially_filled", str(touch.sz), str(touch.ts_ms), "M")
    assert [int(p["uTime"]) for p in seen] == sorted(int(p["uTime"]) for p in seen)
    assert sum(Decimal(p["fillSz"]) for p in seen) == size
    assert as_rest(seen[-1]) == rest_order(harness, "BTC-USDT", ord_id)


def test_orders_cancel_after_a_partial_fill_is_not_a_fill() -> None:
    """The cancel's push has the fill fields empty (REST keeps showing the last fill)."""
    harness = PrivateHarness()
    touch = partial_touch(harness)
    client = harness.session(DEFAULT_ACCOUNT, ORDERS)
    ord_id = harness.place(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                           px=str(touch.px), sz=str(touch.sz * 2))
    seen: list[dict[str, Any]] = []
    while not any(p["state"] == "partially_filled" for p in seen):
        harness.advance(1.0)
        client.send_text("ping")
        seen += [m["data"][0] for m in channel(client.messages(), "orders")]
    harness.post("/api/v5/trade/cancel-order", {"instId": "BTC-USDT", "ordId": ord_id})
    (item,) = [m["data"][0] for m in channel(client.messages(), "orders")]
    rest = rest_order(harness, "BTC-USDT", ord_id)
    assert (item["state"], item["accFillSz"]) == ("canceled", str(touch.sz))
    assert (item["fillSz"], item["fillPx"], item["tradeId"], item["fillTime"]) == (
        "0", "", "", "")
    assert (rest["fillSz"], rest["tradeId"]) == (str(touch.sz), seen[-1]["tradeId"])
    assert as_rest(item, *LAST_FILL) == {k: v for k, v in rest.items() if k not in LAST_FILL}


def test_orders_amend_is_pushed() -> None:
    harness = PrivateHarness()
    client = harness.session(DEFAULT_ACCOUNT, ORDERS)
    ord_id = harness.place(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                           px="50000", sz="0.1")
    client.messages()
    harness.clock.advance(1)
    harness.post("/api/v5/trade/amend-order",
                 {"instId": "BTC-USDT", "ordId": ord_id, "newPx": "50001", "reqId": "r9"})
    (amended,) = channel(client.messages(), "orders")
    (item,) = amended["data"]
    assert (item["px"], item["state"], item["amendResult"], item["reqId"]) == (
        "50001", "live", "0", "r9")
    assert as_rest(item) == rest_order(harness, "BTC-USDT", ord_id)


# -- balance_and_position --------------------------------------------------------------------


def test_balance_and_position_snapshot_then_filled_event() -> None:
    harness = PrivateHarness()
    client = harness.session()
    client.send_json({"op": "subscribe", "args": [BAL_POS]})
    harness.flush()
    (snapshot,) = data(client.messages())
    assert snapshot["arg"] == {"channel": "balance_and_position", "uid": UID}
    (item,) = snapshot["data"]
    assert set(item) == {"pTime", "eventType", "balData", "posData", "trades"}
    assert item["eventType"] == "snapshot" and item["posData"] == [] and item["trades"] == []
    assert item["balData"] == [
        {"ccy": ccy, "cashBal": cash, "uTime": str(harness.sim.now_ms())}
        for ccy, cash in (("BTC", "10"), ("ETH", "100"), ("USDT", "100000"))
    ]
    ord_id = market(harness, "buy", "2")
    pushes = channel(client.messages(), "balance_and_position")
    assert [m["data"][0]["eventType"] for m in pushes] == ["filled"] * len(pushes)
    last = pushes[-1]["data"][0]
    rest_usdt = next(d for d in rest_balance(harness)["details"] if d["ccy"] == "USDT")
    assert last["balData"] == [{"ccy": "USDT", "cashBal": rest_usdt["cashBal"],
                                "uTime": rest_usdt["uTime"]}]
    (position,) = rest_positions(harness)
    assert last["posData"] == [{k: position[k] for k in last["posData"][0]}]
    assert set(last["posData"][0]) == {
        "posId", "tradeId", "instId", "instType", "mgnMode", "posSide", "pos", "ccy",
        "posCcy", "avgPx", "nonSettleAvgPx", "settledPnl", "uTime"}
    order = rest_order(harness, SWAP, ord_id)
    assert last["trades"] == [{"instId": SWAP, "tradeId": order["tradeId"]}]


def test_balance_and_position_is_quiet_for_orders_that_move_no_cash() -> None:
    harness = PrivateHarness()
    client = harness.session(DEFAULT_ACCOUNT, BAL_POS)
    ord_id = harness.place(instId="BTC-USDT", tdMode="cash", side="buy", ordType="limit",
                           px="50000", sz="0.1")
    harness.post("/api/v5/trade/cancel-order", {"instId": "BTC-USDT", "ordId": ord_id})
    assert data(client.messages()) == []


def test_spot_fill_moves_both_currencies() -> None:
    harness = PrivateHarness()
    client = harness.session(DEFAULT_ACCOUNT, BAL_POS, ACCOUNT)
    harness.place(instId="BTC-USDT", tdMode="cash", side="sell", ordType="market", sz="0.5")
    messages = client.messages()
    bal = channel(messages, "balance_and_position")[-1]["data"][0]["balData"]
    rest = {d["ccy"]: d["cashBal"] for d in rest_balance(harness)["details"]}
    assert {b["ccy"]: b["cashBal"] for b in bal} == {"BTC": rest["BTC"], "USDT": rest["USDT"]}
    account = channel(messages, "account")[-1]["data"][0]
    assert {d["ccy"] for d in account["details"]} == {"BTC", "USDT"}


def test_funding_is_pushed_when_the_tick_settles_it() -> None:
    harness = PrivateHarness()
    market(harness, "sell", "100")
    funding_time = 1_764_086_400_000
    harness.clock.advance(funding_time / 1000 - harness.clock.seconds() - 0.5)
    client = harness.session(DEFAULT_ACCOUNT, BAL_POS, POSITIONS)
    harness.advance(1.0)
    messages = client.messages()
    (event,) = channel(messages, "balance_and_position")
    item = event["data"][0]
    assert item["eventType"] == "funding_fee" and item["trades"] == []
    (position,) = rest_positions(harness)
    assert item["posData"][0]["uTime"] == position["uTime"] == str(funding_time)
    rest_usdt = next(d for d in rest_balance(harness)["details"] if d["ccy"] == "USDT")
    assert item["balData"][0]["cashBal"] == rest_usdt["cashBal"]
    (pushed,) = [m for m in channel(messages, "positions") if m["eventType"] == "event_update"]
    assert pushed["data"][0]["fundingFee"] == position["fundingFee"] != "0"


def test_leverage_change_is_pushed_to_positions_and_balance_and_position() -> None:
    harness = PrivateHarness()
    market(harness, "buy", "10")
    client = harness.session(DEFAULT_ACCOUNT, BAL_POS, POSITIONS, ACCOUNT)
    harness.post("/api/v5/account/set-leverage",
                 {"instId": SWAP, "lever": "5", "mgnMode": "cross"})
    messages = client.messages()
    (bal_pos,) = channel(messages, "balance_and_position")
    assert bal_pos["data"][0]["eventType"] == "set_leverage"
    assert bal_pos["data"][0]["balData"] == []
    (positions,) = channel(messages, "positions")
    (row,) = positions["data"]
    (rest,) = rest_positions(harness)
    assert row["lever"] == rest["lever"] == "5"
    assert row["imr"] == rest["imr"]
    (account,) = channel(messages, "account")
    assert [d["ccy"] for d in account["data"][0]["details"]] == ["USDT"]


def test_futures_delivery_is_pushed_and_its_resting_order_expires() -> None:
    harness = PrivateHarness()
    futures = harness.get("/api/v5/public/instruments?instType=FUTURES&instFamily=BTC-USD")
    this_week = min(futures, key=lambda r: int(r["expTime"]))
    inst_id, expiry = this_week["instId"], int(this_week["expTime"])
    market(harness, "buy", "5", inst_id)
    resting = harness.place(instId=inst_id, tdMode="cross", side="buy", ordType="limit",
                            px="1000", sz="1")
    harness.clock.advance(expiry / 1000 - harness.clock.seconds() - 0.5)
    client = harness.session(DEFAULT_ACCOUNT, BAL_POS, ORDERS, POSITIONS)
    harness.advance(1.0)
    messages = client.messages()
    (expired,) = channel(messages, "orders")
    assert (expired["data"][0]["ordId"], expired["data"][0]["state"],
            expired["data"][0]["cancelSource"]) == (resting, "canceled", "6")
    (delivered,) = [m["data"][0] for m in channel(messages, "balance_and_position")
                    if m["data"][0]["eventType"] == "delivered"]
    assert delivered["posData"][0]["pos"] == "0"
    assert delivered["balData"][0]["ccy"] == "BTC"
    # The order's expiry pushes the position still open, then the delivery closes it.
    updates = [m for m in channel(messages, "positions") if m["eventType"] == "event_update"]
    assert [update["data"][0]["pos"] for update in updates] == ["5", "0"]
    assert harness.get(f"/api/v5/account/positions?instId={inst_id}") == []


def test_liquidation_is_pushed_with_its_order() -> None:
    harness = PrivateHarness()
    harness.post("/api/v5/account/set-leverage",
                 {"instId": SWAP, "lever": "100", "mgnMode": "isolated"})
    market(harness, "buy", "20", tdMode="isolated")
    (row,) = rest_positions(harness)
    liq = Decimal(row["liqPx"])
    inst = harness.sim.exchange.instrument(SWAP, harness.sim.now_ms())
    assert inst is not None
    now = harness.sim.now_ms() // 1000
    hit = harness.sim.market.first_touch(inst, now + 1, now + 86400, liq, True)
    assert hit is not None
    harness.clock.advance(hit - harness.clock.seconds() - 1)
    client = harness.session(DEFAULT_ACCOUNT, BAL_POS, ORDERS, POSITIONS)
    harness.advance(2.0)
    messages = client.messages()
    (order,) = [m["data"][0] for m in channel(messages, "orders")]
    assert (order["category"], order["state"], order["avgPx"], order["fillTime"]) == (
        "full_liquidation", "filled", str(liq), str(hit * 1000))
    (event,) = [m["data"][0] for m in channel(messages, "balance_and_position")]
    assert event["eventType"] == "liquidation"
    assert event["posData"][0]["pos"] == "0"
    assert event["trades"] == [{"instId": SWAP, "tradeId": order["tradeId"]}]
    assert rest_positions(harness) == []


# -- isolation -------------------------------------------------------------------------------


def test_pushes_go_to_the_sessions_of_that_account_only() -> None:
    harness = PrivateHarness()
    mine = [harness.session(DEFAULT_ACCOUNT, ORDERS, BAL_POS, ACCOUNT) for _ in range(2)]
    theirs = harness.session(OTHER, ORDERS, BAL_POS, ACCOUNT, POSITIONS)
    not_logged_in = harness.connect()
    market(harness, "buy", "1")
    first, second = [data(client.messages()) for client in mine]
    assert first == second  # rendered once, sent to both
    assert {m["arg"]["channel"] for m in first} == {"orders", "balance_and_position", "account"}
    assert data(theirs.messages()) == [] and not_logged_in.messages() == []
    market(harness, "sell", "1", account=OTHER)
    assert all(data(c.messages()) == [] for c in mine)
    assert all(m["arg"]["uid"] != UID for m in data(theirs.messages()))


def test_events_are_not_confused_with_pushes() -> None:
    harness = PrivateHarness()
    client = harness.session()
    client.send_json({"op": "subscribe", "args": [ORDERS]})
    harness.flush()
    assert [e["event"] for e in events(client.messages())] == ["subscribe", "channel-conn-count"]
