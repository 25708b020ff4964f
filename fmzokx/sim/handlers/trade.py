# -*- test-case-name: tests.sim.test_trading,tests.sim.test_orders -*-
"""
The private trade endpoints: placing, cancelling and amending orders (one or a batch),
closing positions, and reading orders and fills.

Order writes answer per item (``sCode``/``sMsg``) with a top-level code of ``0``, ``1``
(all failed) or ``2`` (some failed), plus ``inTime``/``outTime`` as OKX does. A parameter
error in an order is that order's ``sCode`` too (HTTP 200, code ``1``), not a top-level
HTTP 400 ("Trade > POST / Place order", 2026 docs); only a body that is not an order at all
(50000, 50002) is refused as a whole.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fmzokx.sim import views
from fmzokx.sim.errors import SimApiError
from fmzokx.sim.handlers.call import Call, Reply, Route, body, instrument, page

__all__ = ["ROUTES", "refuse_items"]

_BATCH_MAX = 20


def _bulk(call: Call, items: list[dict[str, str]], in_time: str) -> Reply:
    failed = sum(1 for item in items if item["sCode"] != "0")
    if failed == 0:
        code, msg = "0", ""
    elif failed == len(items):
        code, msg = "1", "All operations failed"
    else:
        code, msg = "2", "Bulk operation partially succeeded"
    return Reply(
        {"code": code, "data": items, "inTime": in_time, "msg": msg, "outTime": str(call.micros())}
    )


def _batch(call: Call) -> list[dict[str, Any]]:
    items = call.body
    if isinstance(items, dict) and not items:
        raise SimApiError("50000")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise SimApiError("50002")
    if not items:
        raise SimApiError("50000")
    if len(items) > _BATCH_MAX:
        raise SimApiError("51111", _BATCH_MAX)
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
    except SimApiError as error:
        return {
            "clOrdId": str(item.get("clOrdId", "")),
            "ordId": str(item.get("ordId", "")),
            "tag": str(item.get("tag", "")),
            "ts": str(ts),
            "sCode": error.code,
            "sMsg": error.msg,
            "subCode": "",
        }


def _place(call: Call) -> Reply:
    in_time = str(call.micros())
    item = _per_item(call.exchange.place, call, body(call))
    return _bulk(call, [item], in_time)


def refuse_items(call: Call, code: str) -> Reply:
    """Every order of a place or amend request refused with ``code`` as its ``sCode``."""
    in_time = str(call.micros())
    items = call.body if isinstance(call.body, list) else [call.body]
    refused = []
    for item in items:
        params = item if isinstance(item, dict) else {}

        def refuse(key: str, params: Mapping[str, Any], now_ms: int) -> dict[str, str]:
            raise SimApiError(code)

        refused.append(_per_item(refuse, call, params))
    return _bulk(call, refused, in_time)


def _place_batch(call: Call) -> Reply:
    in_time = str(call.micros())
    items = [_per_item(call.exchange.place, call, item) for item in _batch(call)]
    return _bulk(call, items, in_time)


def _cancel(call: Call) -> Reply:
    in_time = str(call.micros())
    item = call.exchange.cancel(call.key, body(call), call.now_ms)
    return _bulk(call, [item], in_time)


def _cancel_batch(call: Call) -> Reply:
    in_time = str(call.micros())
    items = [_per_item(call.exchange.cancel, call, item) for item in _batch(call)]
    for item in items:
        item.pop("tag", None)
    return _bulk(call, items, in_time)


def _amend(call: Call) -> Reply:
    in_time = str(call.micros())
    item = call.exchange.amend(call.key, body(call), call.now_ms)
    return _bulk(call, [item], in_time)


def _amend_batch(call: Call) -> Reply:
    in_time = str(call.micros())
    items = [_per_item(call.exchange.amend, call, item) for item in _batch(call)]
    return _bulk(call, items, in_time)


def _close_position(call: Call) -> list[Any]:
    return [call.exchange.close_position(call.key, body(call), call.now_ms)]


def _order(call: Call) -> list[Any]:
    inst = instrument(call)
    ord_id = call.params.get("ordId", "")
    cl_ord_id = call.params.get("clOrdId", "")
    if not ord_id and not cl_ord_id:
        raise SimApiError("50015", "ordId", "clOrdId")
    order = call.exchange.find(call.key, inst.inst_id, ord_id, cl_ord_id, call.now_ms)
    if order is None:
        raise SimApiError("51603")
    return [views.order_json(order)]


def _order_list(call: Call, kind: str) -> list[Any]:
    after, before, limit = page(call, inst_type_required=kind != "pending")
    orders = call.exchange.list_orders(
        call.key, kind, call.params, after, before, limit, call.now_ms
    )
    return [views.order_json(order) for order in orders]


def _orders_pending(call: Call) -> list[Any]:
    return _order_list(call, "pending")


def _orders_history(call: Call) -> list[Any]:
    return _order_list(call, "history")


def _orders_archive(call: Call) -> list[Any]:
    return _order_list(call, "archive")


def _fills(call: Call, history: bool) -> list[Any]:
    after, before, limit = page(call, inst_type_required=history)
    fills = call.exchange.fills(call.key, history, call.params, after, before, limit, call.now_ms)
    return [views.fill_json(fill) for fill in fills]


def _trade_fills(call: Call) -> list[Any]:
    return _fills(call, history=False)


def _trade_fills_history(call: Call) -> list[Any]:
    return _fills(call, history=True)


ROUTES: tuple[Route, ...] = (
    Route("/trade/order", "POST", True, _place),
    Route("/trade/batch-orders", "POST", True, _place_batch),
    Route("/trade/cancel-order", "POST", True, _cancel),
    Route("/trade/cancel-batch-orders", "POST", True, _cancel_batch),
    Route("/trade/amend-order", "POST", True, _amend),
    Route("/trade/amend-batch-orders", "POST", True, _amend_batch),
    Route("/trade/close-position", "POST", True, _close_position),
    Route("/trade/order", "GET", True, _order),
    Route("/trade/orders-pending", "GET", True, _orders_pending),
    Route("/trade/orders-history", "GET", True, _orders_history),
    Route("/trade/orders-history-archive", "GET", True, _orders_archive),
    Route("/trade/fills", "GET", True, _trade_fills),
    Route("/trade/fills-history", "GET", True, _trade_fills_history),
)
"""The private trade endpoints, below ``/api/v5``."""
