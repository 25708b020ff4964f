# -*- test-case-name: tests.sim.test_public,tests.sim.test_trading,tests.sim.test_orders -*-
"""
The ``/api/v5`` endpoints: one small function per endpoint, registered in :data:`ROUTES`.

Handlers get a parsed :class:`Call` (query or body with empty strings removed, the
authenticated account, the time) and return either the ``data`` list of the usual
``{"code":"0","msg":"","data":[...]}`` envelope or a complete :class:`Reply`; OKX errors
are raised as :class:`~fmzokx.sim.errors.OkxError` and enveloped by the resource.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from attrs import frozen

from . import public, views
from .errors import OkxError
from .instruments import Instrument
from .model import SimAccount
from .numbers import parse_decimal

if TYPE_CHECKING:
    from .simulator import Simulator

__all__ = ["ROUTES", "Call", "Reply", "Route"]

_BATCH_MAX = 20
_INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")


@frozen
class Call:
    """One parsed ``/api/v5`` request, as a handler sees it."""

    path: str
    params: dict[str, str]
    body: Any
    account: SimAccount | None
    now_ms: int

    @property
    def key(self) -> str:
        """The caller's API key (private endpoints only)."""
        assert self.account is not None
        return self.account.key


@frozen
class Reply:
    """A complete response body, for endpoints whose envelope is not the plain one."""

    body: dict[str, Any]
    status: int = 200


Handler = Callable[["Simulator", Call], list[Any] | Reply]


@frozen
class Route:
    """How one endpoint is served."""

    method: str
    private: bool
    handler: Handler


#: path -> method -> route
ROUTES: dict[str, dict[str, Route]] = {}


def _route(path: str, method: str = "GET", private: bool = False) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.setdefault(f"/api/v5{path}", {})[method] = Route(method, private, handler)
        return handler

    return register


def _required(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise OkxError("50014", name)
    return str(value)


def _instrument(sim: Simulator, call: Call, params: Mapping[str, Any] | None = None) -> Instrument:
    inst_id = _required(call.params if params is None else params, "instId")
    inst = sim.exchange.instrument(inst_id, call.now_ms)
    if inst is None:
        raise OkxError("51001")
    return inst


def _inst_type(call: Call, required: bool = True) -> str:
    value = call.params.get("instType", "")
    if not value:
        if required:
            raise OkxError("50014", "instType")
        return ""
    if value not in _INST_TYPES:
        raise OkxError("51000", "instType")
    return value


def _family_filter(inst: Instrument, params: Mapping[str, str]) -> bool:
    for name in ("instFamily", "uly"):
        if params.get(name) and inst.family != params[name]:
            return False
    return True


# -- public ------------------------------------------------------------------------------


@_route("/public/time")
def _time(sim: Simulator, call: Call) -> list[Any]:
    return [{"ts": str(call.now_ms)}]


@_route("/system/status")
def _status(sim: Simulator, call: Call) -> list[Any]:
    return []


@_route("/public/instruments")
def _instruments(sim: Simulator, call: Call) -> list[Any]:
    inst_type = _inst_type(call)
    rows = []
    for inst in sim.exchange.instruments(call.now_ms):
        if inst.inst_type != inst_type or not _family_filter(inst, call.params):
            continue
        if call.params.get("instId") and inst.inst_id != call.params["instId"]:
            continue
        rows.append(public.instrument_json(inst))
    return rows


@_route("/market/ticker")
def _ticker(sim: Simulator, call: Call) -> list[Any]:
    inst = _instrument(sim, call)
    return [public.ticker(sim.market, inst, call.now_ms)]


@_route("/market/tickers")
def _tickers(sim: Simulator, call: Call) -> list[Any]:
    inst_type = _inst_type(call)
    return [
        public.ticker(sim.market, inst, call.now_ms)
        for inst in sim.exchange.instruments(call.now_ms)
        if inst.inst_type == inst_type and _family_filter(inst, call.params)
    ]


@_route("/market/books")
def _books(sim: Simulator, call: Call) -> list[Any]:
    inst = _instrument(sim, call)
    depth = public.int_param(call.params, "sz", 1, 1, 400)
    assert depth is not None
    return [public.books(sim.market, inst, call.now_ms, depth)]


@_route("/market/trades")
def _trades(sim: Simulator, call: Call) -> list[Any]:
    inst = _instrument(sim, call)
    limit = public.int_param(call.params, "limit", 100, 1, 500)
    assert limit is not None
    return public.trades(sim.market, inst, call.now_ms, limit)


@_route("/market/history-trades")
def _history_trades(sim: Simulator, call: Call) -> list[Any]:
    inst = _instrument(sim, call)
    limit = public.int_param(call.params, "limit", 100, 1, 100)
    after = public.int_param(call.params, "after", None, 0)
    before = public.int_param(call.params, "before", None, 0)
    kind = call.params.get("type", "1")
    if kind not in ("1", "2"):
        raise OkxError("51000", "type")
    if kind == "2":
        if before is not None:
            raise OkxError("51000", "before")
        after = None if after is None else (after + 999) // 1000
    assert limit is not None
    return public.history_trades(sim.market, inst, call.now_ms, after, before, limit)


@_route("/market/candles")
def _candles(sim: Simulator, call: Call) -> list[Any]:
    inst = _instrument(sim, call)
    return public.candles(sim.market, inst, call.now_ms, call.params, history=False)


@_route("/market/history-candles")
def _history_candles(sim: Simulator, call: Call) -> list[Any]:
    inst = _instrument(sim, call)
    return public.candles(sim.market, inst, call.now_ms, call.params, history=True)


def _swaps(sim: Simulator, call: Call) -> list[Instrument]:
    inst_id = _required(call.params, "instId")
    swaps = [i for i in sim.exchange.instruments(call.now_ms) if i.inst_type == "SWAP"]
    if inst_id == "ANY":
        return swaps
    chosen = [i for i in swaps if i.inst_id == inst_id]
    if not chosen:
        raise OkxError("51001")
    return chosen


@_route("/public/funding-rate")
def _funding_rate(sim: Simulator, call: Call) -> list[Any]:
    return [public.funding_rate(sim.market, inst, call.now_ms) for inst in _swaps(sim, call)]


@_route("/public/funding-rate-history")
def _funding_history(sim: Simulator, call: Call) -> list[Any]:
    inst = _instrument(sim, call)
    if inst.inst_type != "SWAP":
        raise OkxError("51001")
    return public.funding_rate_history(sim.market, inst, call.now_ms, call.params)


@_route("/public/mark-price")
def _mark_price(sim: Simulator, call: Call) -> list[Any]:
    inst_type = _inst_type(call)
    rows = []
    for inst in sim.exchange.instruments(call.now_ms):
        if inst.inst_type != inst_type or not _family_filter(inst, call.params):
            continue
        if call.params.get("instId") and inst.inst_id != call.params["instId"]:
            continue
        rows.append(
            {
                "instType": inst.inst_type,
                "instId": inst.inst_id,
                "markPx": public.ticker(sim.market, inst, call.now_ms)["last"],
                "ts": str(call.now_ms),
            }
        )
    return rows


# -- account -----------------------------------------------------------------------------


@_route("/account/balance", private=True)
def _balance(sim: Simulator, call: Call) -> list[Any]:
    ccys = public.split_ids(call.params.get("ccy"))
    return [sim.exchange.balance(call.key, ccys, call.now_ms)]


@_route("/account/positions", private=True)
def _positions(sim: Simulator, call: Call) -> list[Any]:
    inst_type = _inst_type(call, required=False)
    inst_ids = public.split_ids(call.params.get("instId"))
    rows = sim.exchange.positions(call.key, inst_type, inst_ids, call.now_ms)
    if call.params.get("posId"):
        wanted = set(public.split_ids(call.params["posId"]))
        rows = [row for row in rows if row["posId"] in wanted]
    return rows


@_route("/account/config", private=True)
def _config(sim: Simulator, call: Call) -> list[Any]:
    return [sim.exchange.config(call.key)]


def _body(call: Call) -> dict[str, Any]:
    if not isinstance(call.body, dict):
        raise OkxError("50002")
    return call.body


@_route("/account/set-position-mode", "POST", private=True)
def _set_position_mode(sim: Simulator, call: Call) -> list[Any]:
    mode = _required(_body(call), "posMode")
    sim.exchange.set_position_mode(call.key, mode, call.now_ms)
    return [{"posMode": mode}]


@_route("/account/set-leverage", "POST", private=True)
def _set_leverage(sim: Simulator, call: Call) -> list[Any]:
    return [sim.exchange.set_leverage(call.key, _body(call), call.now_ms)]


@_route("/account/leverage-info", private=True)
def _leverage_info(sim: Simulator, call: Call) -> list[Any]:
    mgn_mode = _required(call.params, "mgnMode")
    inst_ids = public.split_ids(_required(call.params, "instId"))
    return sim.exchange.leverage_info(call.key, mgn_mode, inst_ids, call.now_ms)


# -- trade -------------------------------------------------------------------------------


def _micros(sim: Simulator) -> str:
    return str(int(sim.clock.seconds() * 1_000_000))


def _bulk(sim: Simulator, items: list[dict[str, str]], in_time: str) -> Reply:
    failed = sum(1 for item in items if item["sCode"] != "0")
    if failed == 0:
        code, msg = "0", ""
    elif failed == len(items):
        code, msg = "1", "All operations failed"
    else:
        code, msg = "2", "Bulk operation partially succeeded"
    return Reply(
        {"code": code, "data": items, "inTime": in_time, "msg": msg, "outTime": _micros(sim)}
    )


def _batch(call: Call) -> list[dict[str, Any]]:
    items = call.body
    if isinstance(items, dict) and not items:
        raise OkxError("50000")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise OkxError("50002")
    if not items:
        raise OkxError("50000")
    if len(items) > _BATCH_MAX:
        raise OkxError("51111", _BATCH_MAX)
    return items


def _per_item(
    action: Callable[[str, Mapping[str, Any], int], dict[str, str]],
    call: Call,
    item: Mapping[str, Any],
) -> dict[str, str]:
    """Run one item of a batch; a request-level error becomes that item's sCode."""
    ts = call.now_ms
    try:
        return action(call.key, item, ts)
    except OkxError as error:
        return {
            "clOrdId": str(item.get("clOrdId", "")),
            "ordId": str(item.get("ordId", "")),
            "tag": str(item.get("tag", "")),
            "ts": str(ts),
            "sCode": error.code,
            "sMsg": error.msg,
            "subCode": "",
        }


@_route("/trade/order", "POST", private=True)
def _place(sim: Simulator, call: Call) -> Reply:
    in_time = _micros(sim)
    item = sim.exchange.place(call.key, _body(call), call.now_ms)
    return _bulk(sim, [item], in_time)


@_route("/trade/batch-orders", "POST", private=True)
def _place_batch(sim: Simulator, call: Call) -> Reply:
    in_time = _micros(sim)
    items = [_per_item(sim.exchange.place, call, item) for item in _batch(call)]
    return _bulk(sim, items, in_time)


@_route("/trade/cancel-order", "POST", private=True)
def _cancel(sim: Simulator, call: Call) -> Reply:
    in_time = _micros(sim)
    item = sim.exchange.cancel(call.key, _body(call), call.now_ms)
    return _bulk(sim, [item], in_time)


@_route("/trade/cancel-batch-orders", "POST", private=True)
def _cancel_batch(sim: Simulator, call: Call) -> Reply:
    in_time = _micros(sim)
    items = [_per_item(sim.exchange.cancel, call, item) for item in _batch(call)]
    for item in items:
        item.pop("tag", None)
    return _bulk(sim, items, in_time)


@_route("/trade/order", private=True)
def _order(sim: Simulator, call: Call) -> list[Any]:
    inst = _instrument(sim, call)
    ord_id = call.params.get("ordId", "")
    cl_ord_id = call.params.get("clOrdId", "")
    if not ord_id and not cl_ord_id:
        raise OkxError("50015", "ordId", "clOrdId")
    order = sim.exchange.find(call.key, inst.inst_id, ord_id, cl_ord_id, call.now_ms)
    if order is None:
        raise OkxError("51603")
    return [views.order_json(order)]


def _cursor(call: Call, name: str) -> int | None:
    return public.int_param(call.params, name, None, 0)


def _page(call: Call, *, inst_type_required: bool) -> tuple[int | None, int | None, int]:
    """
    Validate a cursor-paged list's common params: ``instType``, ``limit`` (1-100, default
    100), ``begin``/``end``; return the ``after``/``before`` cursors and the limit.
    """
    _inst_type(call, required=inst_type_required)
    limit = public.int_param(call.params, "limit", 100, 1, 100)
    assert limit is not None
    for name in ("begin", "end"):
        public.int_param(call.params, name, None, 0)
    return _cursor(call, "after"), _cursor(call, "before"), limit


def _order_list(sim: Simulator, call: Call, kind: str) -> list[Any]:
    after, before, limit = _page(call, inst_type_required=kind != "pending")
    orders = sim.exchange.list_orders(
        call.key, kind, call.params, after, before, limit, call.now_ms
    )
    return [views.order_json(order) for order in orders]


@_route("/trade/orders-pending", private=True)
def _orders_pending(sim: Simulator, call: Call) -> list[Any]:
    return _order_list(sim, call, "pending")


@_route("/trade/orders-history", private=True)
def _orders_history(sim: Simulator, call: Call) -> list[Any]:
    return _order_list(sim, call, "history")


@_route("/trade/orders-history-archive", private=True)
def _orders_archive(sim: Simulator, call: Call) -> list[Any]:
    return _order_list(sim, call, "archive")


@_route("/trade/amend-order", "POST", private=True)
def _amend(sim: Simulator, call: Call) -> Reply:
    in_time = _micros(sim)
    item = sim.exchange.amend(call.key, _body(call), call.now_ms)
    return _bulk(sim, [item], in_time)


@_route("/trade/amend-batch-orders", "POST", private=True)
def _amend_batch(sim: Simulator, call: Call) -> Reply:
    in_time = _micros(sim)
    items = [_per_item(sim.exchange.amend, call, item) for item in _batch(call)]
    return _bulk(sim, items, in_time)


@_route("/trade/close-position", "POST", private=True)
def _close_position(sim: Simulator, call: Call) -> list[Any]:
    return [sim.exchange.close_position(call.key, _body(call), call.now_ms)]


def _fills(sim: Simulator, call: Call, history: bool) -> list[Any]:
    after, before, limit = _page(call, inst_type_required=history)
    fills = sim.exchange.fills(call.key, history, call.params, after, before, limit, call.now_ms)
    return [views.fill_json(fill) for fill in fills]


@_route("/trade/fills", private=True)
def _trade_fills(sim: Simulator, call: Call) -> list[Any]:
    return _fills(sim, call, history=False)


@_route("/trade/fills-history", private=True)
def _trade_fills_history(sim: Simulator, call: Call) -> list[Any]:
    return _fills(sim, call, history=True)


@_route("/account/trade-fee", private=True)
def _trade_fee(sim: Simulator, call: Call) -> list[Any]:
    inst_type = _inst_type(call)
    spot = inst_type in ("SPOT", "MARGIN")
    maker = "-0.0008" if spot else "-0.0002"
    taker = "-0.001" if spot else "-0.0005"
    return [
        {
            "category": "1",
            "delivery": "",
            "exercise": "",
            "fiat": [],
            "instType": inst_type,
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


def _currencies(sim: Simulator, call: Call) -> list[str]:
    names: set[str] = set()
    for inst in sim.exchange.instruments(call.now_ms):
        names.update(c for c in (inst.base, inst.quote, inst.settle) if c and c != "USD")
    return sorted(names)


@_route("/asset/currencies", private=True)
def _asset_currencies(sim: Simulator, call: Call) -> list[Any]:
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
        for ccy in _currencies(sim, call)
        if not wanted or ccy in wanted
    ]


@_route("/asset/balances", private=True)
def _asset_balances(sim: Simulator, call: Call) -> list[Any]:
    # The simulated funding account is always empty: everything is in the trading account.
    return []


@_route("/public/underlying")
def _underlying(sim: Simulator, call: Call) -> list[Any]:
    inst_type = _inst_type(call)
    families = sorted(
        {i.family for i in sim.exchange.instruments(call.now_ms) if i.inst_type == inst_type}
    )
    return [families]


@_route("/public/open-interest")
def _open_interest(sim: Simulator, call: Call) -> list[Any]:
    inst_type = _inst_type(call)
    rows = []
    for inst in sim.exchange.instruments(call.now_ms):
        if inst.inst_type != inst_type or inst_type == "SPOT":
            continue
        if call.params.get("instId") and inst.inst_id != call.params["instId"]:
            continue
        if not _family_filter(inst, call.params):
            continue
        ticker = public.ticker(sim.market, inst, call.now_ms)
        contracts = public.parse_volume(ticker["vol24h"]) / 3
        contracts -= contracts % inst.lot_sz
        base = contracts * inst.ct_val
        last = public.parse_volume(ticker["last"])
        usd = base if inst.inverse else base * last
        rows.append(
            {
                "instType": inst.inst_type,
                "instId": inst.inst_id,
                "oi": public.render(contracts),
                "oiCcy": public.render((usd / last).quantize(public.VOLUME_STEP)),
                "oiUsd": public.render(usd.quantize(public.VOLUME_STEP)),
                "ts": str(call.now_ms),
            }
        )
    return rows


@_route("/public/price-limit")
def _price_limit(sim: Simulator, call: Call) -> list[Any]:
    inst = _instrument(sim, call)
    high, low = sim.exchange.price_limits(inst, call.now_ms)
    return [
        {
            "instType": inst.inst_type,
            "instId": inst.inst_id,
            "buyLmt": public.render(high),
            "sellLmt": public.render(low),
            "ts": str(call.now_ms),
            "enabled": True,
        }
    ]


def _max_rows(sim: Simulator, call: Call) -> list[dict[str, str]]:
    td_mode = _required(call.params, "tdMode")
    if td_mode not in ("cash", "cross", "isolated"):
        raise OkxError("51000", "tdMode")
    px = None
    if call.params.get("px"):
        px = parse_decimal(call.params["px"])
        if px is None or px <= 0:
            raise OkxError("51000", "px")
    rows = []
    for inst_id in public.split_ids(_required(call.params, "instId")):
        inst = sim.exchange.instrument(inst_id, call.now_ms)
        if inst is None:
            raise OkxError("51001")
        rows.append(sim.exchange.max_size(call.key, inst, td_mode, px, call.now_ms))
    return rows


@_route("/account/max-size", private=True)
def _max_size(sim: Simulator, call: Call) -> list[Any]:
    return [
        {k: row[k] for k in ("ccy", "instId", "maxBuy", "maxSell")}
        for row in _max_rows(sim, call)
    ]


@_route("/account/max-avail-size", private=True)
def _max_avail_size(sim: Simulator, call: Call) -> list[Any]:
    return [
        {k: row[k] for k in ("instId", "availBuy", "availSell")} for row in _max_rows(sim, call)
    ]


def _bills(sim: Simulator, call: Call, archive: bool) -> list[Any]:
    after, before, limit = _page(call, inst_type_required=False)
    bills = sim.exchange.bills(call.key, archive, call.params, after, before, limit, call.now_ms)
    return [views.bill_json(bill) for bill in bills]


@_route("/account/bills", private=True)
def _account_bills(sim: Simulator, call: Call) -> list[Any]:
    return _bills(sim, call, archive=False)


@_route("/account/bills-archive", private=True)
def _account_bills_archive(sim: Simulator, call: Call) -> list[Any]:
    return _bills(sim, call, archive=True)


@_route("/account/positions-history", private=True)
def _positions_history(sim: Simulator, call: Call) -> list[Any]:
    _inst_type(call, required=False)
    limit = public.int_param(call.params, "limit", 100, 1, 100)
    assert limit is not None
    return sim.exchange.positions_history(
        call.key, call.params, _cursor(call, "after"), _cursor(call, "before"), limit,
        call.now_ms,
    )
