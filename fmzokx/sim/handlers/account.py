# -*- test-case-name: tests.sim.test_trading,tests.sim.test_derivatives,tests.sim.test_extras -*-
"""
The private account and asset endpoints: balances, positions and their history,
settings, fee rates, size limits, bills and the (empty) funding account.
"""

from __future__ import annotations

from typing import Any

from fmzokx.sim import public, views
from fmzokx.sim.errors import SimApiError
from fmzokx.sim.handlers.call import Call, Route, body, cursor, inst_type, page, required
from fmzokx.sim.numbers import parse_decimal

__all__ = ["ROUTES"]


def _balance(call: Call) -> list[Any]:
    ccys = public.split_ids(call.params.get("ccy"))
    return [call.exchange.balance(call.key, ccys, call.now_ms)]


def _positions(call: Call) -> list[Any]:
    wanted = inst_type(call, required=False)
    inst_ids = public.split_ids(call.params.get("instId"))
    rows = call.exchange.positions(call.key, wanted, inst_ids, call.now_ms)
    if call.params.get("posId"):
        ids = set(public.split_ids(call.params["posId"]))
        rows = [row for row in rows if row["posId"] in ids]
    return rows


def _config(call: Call) -> list[Any]:
    return [call.exchange.config(call.key)]


def _set_position_mode(call: Call) -> list[Any]:
    mode = required(body(call), "posMode")
    call.exchange.set_position_mode(call.key, mode, call.now_ms)
    return [{"posMode": mode}]


def _set_leverage(call: Call) -> list[Any]:
    return [call.exchange.set_leverage(call.key, body(call), call.now_ms)]


def _leverage_info(call: Call) -> list[Any]:
    mgn_mode = required(call.params, "mgnMode")
    inst_ids = public.split_ids(required(call.params, "instId"))
    return call.exchange.leverage_info(call.key, mgn_mode, inst_ids, call.now_ms)


def _trade_fee(call: Call) -> list[Any]:
    kind = inst_type(call)
    spot = kind in ("SPOT", "MARGIN")
    maker = "-0.0008" if spot else "-0.0002"
    taker = "-0.001" if spot else "-0.0005"
    return [
        {
            "category": "1",
            "delivery": "",
            "exercise": "",
            "fiat": [],
            "instType": kind,
            "level": "Lv1",
            "maker": maker,
            "makerU": "" if spot else maker,
            "makerUSDC": maker,
            "ruleType": "normal",
            "taker": taker,
            "takerU": "" if spot else taker,
            "takerUSDC": taker,
            "ts": str(call.now_ms),
        }
    ]


def _currencies(call: Call) -> list[str]:
    names: set[str] = set()
    for inst in call.exchange.instruments(call.now_ms):
        names.update(c for c in (inst.base, inst.quote, inst.settle) if c and c != "USD")
    return sorted(names)


def _asset_currencies(call: Call) -> list[Any]:
    wanted = set(public.split_ids(call.params.get("ccy")))
    return [
        {
            "burningFeeRate": "",
            "canDep": False,
            "canInternal": False,
            "canWd": False,
            "ccy": ccy,
            "chain": f"{ccy}-okxsim",
            "ctAddr": "",
            "depEstOpenTime": "",
            "depQuotaFixed": "",
            "depQuoteDailyLayer2": "",
            "fee": "0",
            "logoLink": "",
            "mainNet": True,
            "maxFee": "0",
            "maxFeeForCtAddr": "",
            "maxWd": "0",
            "minDep": "0",
            "minDepArrivalConfirm": "1",
            "minFee": "0",
            "minFeeForCtAddr": "",
            "minInternal": "0",
            "minWd": "0",
            "minWdUnlockConfirm": "1",
            "name": ccy,
            "needTag": False,
            "usedDepQuotaFixed": "",
            "usedWdQuota": "0",
            "wdEstOpenTime": "",
            "wdQuota": "0",
            "wdTickSz": "8",
        }
        for ccy in _currencies(call)
        if not wanted or ccy in wanted
    ]


def _asset_balances(call: Call) -> list[Any]:
    # The simulated funding account is always empty: everything is in the trading account.
    return []


def _max_rows(call: Call) -> list[dict[str, str]]:
    td_mode = required(call.params, "tdMode")
    if td_mode not in ("cash", "cross", "isolated"):
        raise SimApiError("51000", "tdMode")
    px = None
    if call.params.get("px"):
        px = parse_decimal(call.params["px"])
        if px is None or px <= 0:
            raise SimApiError("51000", "px")
    rows = []
    for inst_id in public.split_ids(required(call.params, "instId")):
        inst = call.exchange.instrument(inst_id, call.now_ms)
        if inst is None:
            raise SimApiError("51001")
        rows.append(call.exchange.max_size(call.key, inst, td_mode, px, call.now_ms))
    return rows


def _max_size(call: Call) -> list[Any]:
    return [
        {k: row[k] for k in ("ccy", "instId", "maxBuy", "maxSell")} for row in _max_rows(call)
    ]


def _max_avail_size(call: Call) -> list[Any]:
    return [{k: row[k] for k in ("instId", "availBuy", "availSell")} for row in _max_rows(call)]


def _bills(call: Call, archive: bool) -> list[Any]:
    after, before, limit = page(call, inst_type_required=False)
    bills = call.exchange.bills(call.key, archive, call.params, after, before, limit, call.now_ms)
    return [views.bill_json(bill) for bill in bills]


def _account_bills(call: Call) -> list[Any]:
    return _bills(call, archive=False)


def _account_bills_archive(call: Call) -> list[Any]:
    return _bills(call, archive=True)


def _positions_history(call: Call) -> list[Any]:
    inst_type(call, required=False)
    limit = public.int_param(call.params, "limit", 100, 1, 100)
    assert limit is not None
    return call.exchange.positions_history(
        call.key, call.params, cursor(call, "after"), cursor(call, "before"), limit,
        call.now_ms,
    )


ROUTES: tuple[Route, ...] = (
    Route("/account/balance", "GET", True, _balance),
    Route("/account/positions", "GET", True, _positions),
    Route("/account/config", "GET", True, _config),
    Route("/account/set-position-mode", "POST", True, _set_position_mode),
    Route("/account/set-leverage", "POST", True, _set_leverage),
    Route("/account/leverage-info", "GET", True, _leverage_info),
    Route("/account/trade-fee", "GET", True, _trade_fee),
    Route("/account/max-size", "GET", True, _max_size),
    Route("/account/max-avail-size", "GET", True, _max_avail_size),
    Route("/account/bills", "GET", True, _account_bills),
    Route("/account/bills-archive", "GET", True, _account_bills_archive),
    Route("/account/positions-history", "GET", True, _positions_history),
    Route("/asset/currencies", "GET", True, _asset_currencies),
    Route("/asset/balances", "GET", True, _asset_balances),
)
"""The private account and asset endpoints, below ``/api/v5``."""
