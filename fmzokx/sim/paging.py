# -*- test-case-name: tests.sim.test_orders,tests.sim.test_extras -*-
"""
The cursor-paged lists (orders, fills, bills), the one pager they share, and how long
OKX keeps each kind of record.

OKX pages every list newest first with exclusive ``after``/``before`` cursors; writing that
once keeps the three lists from drifting apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from fmzokx.sim.model import Account, Bill, Fill, Order

__all__ = [
    "DAY_MS",
    "HOUR_MS",
    "RETENTION_MS",
    "find_order",
    "list_bills",
    "list_fills",
    "list_orders",
    "newest_page",
    "visible",
]

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
#: The longest OKX keeps anything: orders, fills, bills and closed positions (3 months).
RETENTION_MS = 90 * DAY_MS

_Row = TypeVar("_Row")


def newest_page(
    rows: list[_Row],
    cursor: Callable[[_Row], int],
    stamp: Callable[[_Row], int],
    filters: Mapping[str, str],
    after: int | None,
    before: int | None,
    limit: int,
) -> list[_Row]:
    """
    One page of a cursor-paged list, as OKX serves it: ``begin``/``end`` bound the
    timestamp, ``after``/``before`` are exclusive cursors, newest first; with ``before``
    alone, the ``limit`` rows right after the cursor.
    """
    begin = int(filters["begin"]) if filters.get("begin") else None
    end = int(filters["end"]) if filters.get("end") else None
    page = [
        row
        for row in rows
        if (begin is None or stamp(row) >= begin)
        and (end is None or stamp(row) <= end)
        and (after is None or cursor(row) < after)
        and (before is None or cursor(row) > before)
    ]
    page.sort(key=cursor)
    if before is not None and after is None:
        page = page[:limit]
    page.reverse()
    return page[:limit]


def visible(order: Order, now_ms: int, *, lagging: bool = False) -> bool:
    """
    Whether OKX shows ``order``: canceled-unfilled for 2 hours, others 3 months, and
    (``lagging``) only once the read-after-write lag after its placement has passed.
    """
    if lagging and order.visible_from > now_ms:
        return False
    if order.state == "canceled" and order.acc_fill_sz == 0:
        return order.u_time >= now_ms - 2 * HOUR_MS
    return order.c_time >= now_ms - RETENTION_MS


def find_order(
    account: Account, inst_id: str, ord_id: str, cl_ord_id: str, now_ms: int,
    *, lagging: bool = True,
) -> Order | None:
    """
    The order by ``ordId`` (preferred) or latest by ``clOrdId``, on ``inst_id``.

    :param lagging: apply the read-after-write lag (queries do; the matching engine,
        which cancels and amends, knows its orders at once).
    """
    if ord_id:
        try:
            order = account.orders.get(int(ord_id))
        except ValueError:
            return None
        if order is None or order.instrument.inst_id != inst_id:
            return None
        return order if visible(order, now_ms, lagging=lagging) else None
    matches = [
        o
        for o in account.orders.values()
        if o.cl_ord_id == cl_ord_id
        and o.instrument.inst_id == inst_id
        and visible(o, now_ms, lagging=lagging)
    ]
    return max(matches, key=lambda o: o.ord_id) if matches else None


def list_orders(
    account: Account,
    kind: str,
    filters: Mapping[str, str],
    after: int | None,
    before: int | None,
    limit: int,
    now_ms: int,
) -> list[Order]:
    """
    Orders for GET orders-pending (``kind="pending"``), orders-history (``"history"``) or
    orders-history-archive (``"archive"``): newest first, ``after``/``before`` exclusive
    ordId cursors. With ``before`` alone, the ``limit`` orders right after the cursor.
    """
    source: Iterable[Order]
    source = account.pending.values() if kind == "pending" else account.orders.values()
    ord_types = filters.get("ordType", "").split(",") if filters.get("ordType") else None
    rows = []
    for order in source:
        inst = order.instrument
        if order.visible_from > now_ms:
            continue
        if kind != "pending":
            if order.pending or not visible(order, now_ms):
                continue
            # Placed in the last 7 days, or earlier but completed in them ("Trade > GET /
            # Order history (last 7 days)").
            if kind == "history" and max(order.c_time, order.u_time) < now_ms - 7 * DAY_MS:
                continue
            if kind == "archive" and order.state == "canceled" and order.acc_fill_sz == 0:
                continue
        if filters.get("instType") and inst.inst_type != filters["instType"]:
            continue
        if filters.get("instId") and inst.inst_id != filters["instId"]:
            continue
        if filters.get("instFamily") and inst.family != filters["instFamily"]:
            continue
        if filters.get("uly") and inst.family != filters["uly"]:
            continue
        if ord_types is not None and order.ord_type not in ord_types:
            continue
        if filters.get("state") and order.state != filters["state"]:
            continue
        rows.append(order)
    return newest_page(rows, lambda o: o.ord_id, lambda o: o.c_time, filters, after, before, limit)


def list_fills(
    account: Account,
    history: bool,
    filters: Mapping[str, str],
    after: int | None,
    before: int | None,
    limit: int,
    now_ms: int,
) -> list[Fill]:
    """
    Executions for GET /trade/fills (3 days) or /trade/fills-history (3 months), newest
    first, with exclusive billId cursors.
    """
    horizon = now_ms - (RETENTION_MS if history else 3 * DAY_MS)
    rows = []
    for fill in account.fills:
        inst = fill.order.instrument
        if fill.ts < horizon:
            continue
        if filters.get("instType") and inst.inst_type != filters["instType"]:
            continue
        if filters.get("instId") and inst.inst_id != filters["instId"]:
            continue
        if filters.get("instFamily") and inst.family != filters["instFamily"]:
            continue
        if filters.get("ordId") and str(fill.order.ord_id) != filters["ordId"]:
            continue
        rows.append(fill)
    return newest_page(rows, lambda f: f.bill_id, lambda f: f.ts, filters, after, before, limit)


def list_bills(
    account: Account,
    archive: bool,
    filters: Mapping[str, str],
    after: int | None,
    before: int | None,
    limit: int,
    now_ms: int,
) -> list[Bill]:
    """
    Balance changes for GET /account/bills (7 days) or /account/bills-archive
    (3 months), newest first, with exclusive billId cursors.
    """
    horizon = now_ms - (RETENTION_MS if archive else 7 * DAY_MS)
    rows = []
    for bill in account.bills:
        inst = bill.inst
        if bill.ts < horizon:
            continue
        if filters.get("ccy") and bill.ccy != filters["ccy"]:
            continue
        if filters.get("instType") and (inst is None or inst.inst_type != filters["instType"]):
            continue
        if filters.get("instId") and (inst is None or inst.inst_id != filters["instId"]):
            continue
        if filters.get("mgnMode") and bill.mgn_mode != filters["mgnMode"]:
            continue
        if filters.get("ctType") and (inst is None or inst.ct_type != filters["ctType"]):
            continue
        if filters.get("type") and bill.kind != filters["type"]:
            continue
        if filters.get("subType") and bill.sub_type != filters["subType"]:
            continue
        rows.append(bill)
    return newest_page(rows, lambda b: b.bill_id, lambda b: b.ts, filters, after, before, limit)
