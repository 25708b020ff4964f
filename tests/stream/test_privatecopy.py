"""
The private copy's rules, without a connection: REST's shapes, ordering by OKX's time
stamps (a late push never rolls back), seeds replacing only what they are newer than.
"""

from __future__ import annotations

from typing import Any

from fmzokx.okx.stream.privatecopy import PrivateCopy


def order(ord_id: str, state: str = "live", u_time: int = 100, filled: str = "0",
          **extra: Any) -> dict[str, Any]:
    return {"ordId": ord_id, "instId": "BTC-USDT", "instType": "SPOT", "state": state,
            "uTime": str(u_time), "accFillSz": filled, "cTime": "1", "clOrdId": "",
            "tradeId": "", "fillPx": "", "fillSz": "0", "fillTime": "", **extra}


def test_push_only_fields_are_dropped() -> None:
    copy = PrivateCopy()
    copy.apply_order(order("1", execType="T", fillFee="-0.1", code="0", msg="", reqId=""))
    item = copy.order("1")
    assert item is not None
    assert not {"execType", "fillFee", "code", "msg", "reqId"} & set(item)


def test_late_push_never_rolls_an_order_back() -> None:
    copy = PrivateCopy()
    copy.apply_order(order("1", "canceled", 200))
    assert not copy.apply_order(order("1", "live", 100))
    assert copy.open_orders() == []
    item = copy.order("1")
    assert item is not None and item["state"] == "canceled"


def test_same_millisecond_goes_to_the_further_along() -> None:
    copy = PrivateCopy()
    copy.apply_order(order("1", "partially_filled", 100, "0.5"))
    assert not copy.apply_order(order("1", "live", 100, "0"))
    assert copy.apply_order(order("1", "filled", 100, "1"))
    assert copy.open_orders() == []


def test_a_non_fill_push_keeps_the_last_fill() -> None:
    """OKX blanks fillPx/fillSz/tradeId in a push that is not a fill; REST keeps them."""
    copy = PrivateCopy()
    copy.apply_order(order("1", "partially_filled", 100, "0.5", tradeId="7", fillPx="10",
                           fillSz="0.5", fillTime="100"))
    copy.apply_order(order("1", "canceled", 200, "0.5"))
    item = copy.order("1")
    assert item is not None
    assert (item["tradeId"], item["fillPx"], item["fillSz"], item["fillTime"]) == (
        "7", "10", "0.5", "100"
    )


def test_open_orders_newest_first_and_filtered() -> None:
    copy = PrivateCopy()
    for ord_id in ("5", "12", "9"):
        copy.apply_order(order(ord_id))
    copy.apply_order({**order("7"), "instId": "ETH-USDT-SWAP", "instType": "SWAP"})
    assert [o["ordId"] for o in copy.open_orders()] == ["12", "9", "7", "5"]
    assert [o["ordId"] for o in copy.open_orders(inst_type="SWAP")] == ["7"]
    assert [o["ordId"] for o in copy.open_orders(inst_id="BTC-USDT")] == ["12", "9", "5"]


def test_seed_forgets_only_older_orders_it_lacks() -> None:
    copy = PrivateCopy()
    copy.apply_order(order("1", u_time=100))  # gone by the seed (older, not listed)
    copy.apply_order(order("2", u_time=9000))  # too new for REST to be sure to list it
    copy.seed_orders([order("3", u_time=150)], as_of_ms=8000)
    assert sorted(o["ordId"] for o in copy.open_orders()) == ["2", "3"]
    assert copy.order("1") is None  # unknown: asked of REST, never "missing"
    assert not copy.apply_order(order("1", u_time=100))  # a late push: still gone
    assert copy.apply_order(order("1", "filled", 180, "1"))  # its final state: known
    copy.seed_orders([], as_of_ms=9000 + 5000)
    assert copy.open_orders() == []


def test_finished_orders_survive_a_reconnect() -> None:
    copy = PrivateCopy()
    copy.apply_order(order("1", "filled", 100, "1"))
    copy.apply_order(order("2"))
    copy.clear(keep_finished=True)
    assert copy.order("1") is not None and copy.order("2") is None


def test_order_by_client_id() -> None:
    copy = PrivateCopy()
    copy.apply_order(order("1", clOrdId="a"))
    copy.apply_order(order("4", "filled", clOrdId="a"))
    found = copy.find_by_client_id("BTC-USDT", "a")
    assert found is not None and found["ordId"] == "4"
    assert copy.find_by_client_id("ETH-USDT", "a") is None


def balance(u_time: int, *details: dict[str, str]) -> dict[str, Any]:
    return {"uTime": str(u_time), "totalEq": str(u_time), "details": list(details)}


def detail(ccy: str, cash: str, u_time: int = 1, frozen: str = "0") -> dict[str, str]:
    return {"ccy": ccy, "cashBal": cash, "frozenBal": frozen, "upl": "", "uTime": str(u_time)}


def test_balance_events_merge_by_currency() -> None:
    """An event push carries the changed currencies only; the totals are the newest."""
    copy = PrivateCopy()
    copy.apply_account(balance(100, detail("BTC", "1"), detail("USDT", "50")))
    copy.apply_account(balance(200, detail("USDT", "40", frozen="10")))
    (item,) = copy.balance() or []
    assert item["totalEq"] == "200"
    assert [(d["ccy"], d["cashBal"], d["frozenBal"]) for d in item["details"]] == [
        ("BTC", "1", "0"), ("USDT", "40", "10")
    ]


def test_balance_ignores_older_and_drops_emptied_currencies() -> None:
    copy = PrivateCopy()
    copy.apply_account(balance(200, detail("BTC", "1"), detail("USDT", "50")))
    assert not copy.apply_account(balance(100, detail("USDT", "999")))
    copy.apply_account(balance(300, detail("BTC", "0")))
    (item,) = copy.balance() or []
    assert [(d["ccy"], d["cashBal"]) for d in item["details"]] == [("USDT", "50")]


def test_balance_seed_replaces_the_currencies() -> None:
    copy = PrivateCopy()
    copy.apply_account(balance(100, detail("BTC", "1"), detail("ETH", "2")))
    copy.seed_account(balance(200, detail("BTC", "1")))
    (item,) = copy.balance() or []
    assert [d["ccy"] for d in item["details"]] == ["BTC"]


def position(inst: str, pos: str, u_time: int, c_time: int = 1, **extra: str) -> dict[str, str]:
    return {"instId": inst, "instType": "SWAP", "mgnMode": "cross", "posSide": "net",
            "pos": pos, "uTime": str(u_time), "cTime": str(c_time), "posId": "1",
            "pTime": "999", **extra}


def test_positions_close_at_zero_and_never_roll_back() -> None:
    copy = PrivateCopy()
    copy.apply_positions([position("BTC-USDT-SWAP", "2", 100)])
    copy.apply_positions([position("BTC-USDT-SWAP", "0", 200)])
    copy.apply_positions([position("BTC-USDT-SWAP", "2", 100)])  # late: stays closed
    assert copy.position_items() == []
    copy.apply_positions([position("BTC-USDT-SWAP", "1", 300)])  # opened again
    (row,) = copy.position_items()
    assert row["pos"] == "1" and "pTime" not in row


def test_positions_newest_first_and_seeded() -> None:
    copy = PrivateCopy()
    copy.apply_positions([position("BTC-USDT-SWAP", "2", 100, c_time=5),
                          position("ETH-USDT-SWAP", "3", 100, c_time=9)])
    assert [p["instId"] for p in copy.position_items()] == ["ETH-USDT-SWAP", "BTC-USDT-SWAP"]
    copy.seed_positions([position("ETH-USDT-SWAP", "3", 100, c_time=9)], as_of_ms=150)
    assert [p["instId"] for p in copy.position_items()] == ["ETH-USDT-SWAP"]
    assert copy.position_items(inst_id="BTC-USDT-SWAP") == []


def test_a_seed_keeps_a_new_order_unless_the_daemon_cancelled_it() -> None:
    """REST may not list a new order yet (read-after-write lag); a cancelled one is gone."""
    copy = PrivateCopy()
    copy.apply_order(order("1", u_time=9000))
    copy.apply_order(order("2", u_time=9000))
    copy.seed_orders([], as_of_ms=9500, cancelled={"2"})
    assert [o["ordId"] for o in copy.open_orders()] == ["1"]
    assert not copy.apply_order(order("2", u_time=9000))  # its late "live" push
    assert copy.apply_order(order("2", "canceled", 9400))
