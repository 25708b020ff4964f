# -*- test-case-name: tests.fmz.methods.test_trading -*-
"""
Trading methods: trade, orders, order, historyorders, cancel.

Orders go through the OKX side's exactly-once placement
(:class:`~fmzokx.okx.placement.orders.OrderPlacer`, with reconciliation); lists are complete or an
error, never silently truncated. This module translates FMZ's trade types, ids and
order shapes, and says which docker request an order answers
(:class:`~fmzokx.fmz.identity.RequestIdentity`); the OKX order body and its ``clOrdId``
are made by :mod:`fmzokx.okx.trade`.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from fmzokx.fmz.context import CallContext
from fmzokx.fmz.envelope import RpcError, RpcRequest
from fmzokx.fmz.formatting import (
    client_order_ref,
    order_data,
    parse_order_id,
    split_order_part,
)
from fmzokx.fmz.identity import RequestIdentity
from fmzokx.fmz.iodirection import direction_for
from fmzokx.fmz.registry import Param, RpcResult, method
from fmzokx.fmz.symbols import SymbolRange, parse_symbol, parse_symbol_or_range
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.endpoints import (
    CANCEL_ORDER,
    ORDER_DETAILS,
    ORDERS_ARCHIVE,
    ORDERS_CHANNEL,
    ORDERS_HISTORY,
    ORDERS_PENDING,
    PLACE_ORDER,
)
from fmzokx.okx.instruments import INST_TYPES, Instrument
from fmzokx.okx.placement.orders import OrderOutcomeUnknown
from fmzokx.okx.records import OrderRecord
from fmzokx.okx.trade import OrderIntent, newest_first

ORDER_SHAPE = (
    "{id: INSTID,ORDID, symbol, amount, price, deal_amount, avg_price, type: buy/sell, "
    "status: pending/partial-filled/filled/partial-canceled/canceled, contract_type, "
    "offset (contracts: open/close), time (ms)}"
)
# FMZ trade types on contracts -> (side, the position it opens or closes, closing)
_CONTRACT_SIDES: dict[str, tuple[Any, Any, bool]] = {
    "buy": ("buy", "long", False),
    "sell": ("sell", "short", False),
    "closebuy": ("sell", "long", True),
    "closesell": ("buy", "short", True),
}


def margin_mode(request: RpcRequest) -> str:
    """The ``margin_mode`` param: ``cross`` (default) or ``isolated``."""
    mode = request.params.text("margin_mode", "cross").lower()
    if mode not in ("cross", "isolated"):
        raise RpcError(f"param 'margin_mode' must be cross or isolated, got {mode!r}")
    return mode


_DIRECTED = {
    ("buy", "buy"): "buy",
    ("sell", "sell"): "sell",
    ("closebuy", "sell"): "closebuy",
    ("closesell", "buy"): "closesell",
}


async def _with_direction(
    context: CallContext, credentials: Credentials, instrument: Instrument, kind: str
) -> str:
    """
    Apply a legacy ``io`` SetDirection to a plain buy/sell on a contract.

    FMZ's old futures API set the direction first (``closebuy``) and then called
    ``Sell``; the combination must agree, as on FMZ's native exchanges. The direction
    survives a restart (:mod:`fmzokx.fmz.iodirection`).
    """
    if kind not in ("buy", "sell"):
        return kind
    direction = await direction_for(context, credentials, instrument.inst_id)
    if direction is None:
        return kind
    combined = _DIRECTED.get((direction, kind))
    if combined is None:
        raise RpcError(
            f"trade type {kind} does not match the direction {direction} set with "
            "SetDirection (buy/closesell place buys, sell/closebuy place sells)"
        )
    return combined


async def order_body(
    context: CallContext, credentials: Credentials, instrument: Instrument, request: RpcRequest
) -> dict[str, Any]:
    """The OKX order for the docker's trade request (without ``clOrdId``)."""
    kind = request.params.text("type").strip(" ").lower()
    price = request.params.decimal("price", Decimal(-1))
    amount = request.params.decimal("amount")
    symbol = context.symbol_of(instrument)
    if instrument.inst_type == "SPOT":
        if kind not in ("buy", "sell"):
            raise RpcError(f"param 'type' must be buy or sell for spot {symbol}, got {kind!r}")
        intent = OrderIntent(side="buy" if kind == "buy" else "sell", price=price, amount=amount)
    else:
        kind = await _with_direction(context, credentials, instrument, kind)
        if kind not in _CONTRACT_SIDES:
            raise RpcError(
                f"param 'type' must be buy, sell, closebuy or closesell for {symbol}, "
                f"got {kind!r}"
            )
        side, position, closing = _CONTRACT_SIDES[kind]
        intent = OrderIntent(
            side=side, price=price, amount=amount, position=position, closing=closing,
            margin_mode=margin_mode(request),
        )
    return await context.okx.trade.order_body(credentials, instrument, intent, symbol)


@method(
    "trade",
    summary="Place an order (FMZ Buy/Sell/CreateOrder); exactly once, reconciled on doubt.",
    params=[
        Param("symbol", "FMZ symbol or OKX instId"),
        Param("type", "buy or sell; for contracts also closebuy (close long) and closesell "
              "(close short)"),
        Param("price", "limit price; -1, 0 or absent for a market order", required=False),
        Param("amount", "base currency (spot), quote currency (spot market buy) or contracts"),
        Param("margin_mode", "contracts: cross (default) or isolated", required=False),
    ],
    data="{id: INSTID,ORDID}. A spot market order is sent with OKX's banAmend=true: it is "
    "filled for the amount asked or refused (51008 insufficient balance), never silently "
    "shrunk to the available balance as OKX does by default",
    okx=f"{PLACE_ORDER} (expTime, clOrdId); {ORDER_DETAILS} to reconcile",
    private=True,
    changes=True,
)
async def trade(context: CallContext, request: RpcRequest) -> RpcResult:
    credentials = request.require_credentials()
    instrument = await context.instrument_for(request)
    body = await order_body(context, credentials, instrument, request)
    try:
        placed = await context.okx.trade.place(
            credentials, body, RequestIdentity.of_request(request)
        )
    except OrderOutcomeUnknown as error:
        ref = client_order_ref(error.inst_id or instrument.inst_id, error.cl_ord_id)
        # GetOrders lists open orders only: an order that filled at once is not in it, and
        # a strategy that took its absence for "not placed" would buy twice.
        raise RpcError(
            f'{error}. Look it up with GetOrder("{ref}") before placing it again: that id '
            "finds the order in any state, filled included; repeating this same request "
            "also returns the order once OKX confirms it"
        ) from None
    return RpcResult({"id": f"{placed.inst_id},{placed.ord_id}"}, placed.raw)


def _format_orders(context: CallContext, records: Iterable[OrderRecord]) -> list[dict[str, Any]]:
    orders = []
    for record in records:
        instrument = context.okx.instruments.cached(record.inst_id)
        orders.append(
            order_data(record, instrument, context.fmz_symbol(record.inst_id),
                       context.contract_type(instrument))
        )
    return orders


async def _list_filter(
    context: CallContext, request: RpcRequest
) -> tuple[dict[str, str], set[str] | None]:
    """(instType/instId filters, for ranges the instIds to keep) for a list call."""
    if not request.params.has("symbol"):
        return {}, None
    selector = parse_symbol_or_range(request.params.text("symbol"))
    if isinstance(selector, SymbolRange):
        if selector.kind == "option":
            raise RpcError("options are not supported")
        wanted = {inst.inst_id for inst in await context.in_range(selector)}
        return {"inst_type": selector.inst_type}, wanted
    instrument = await context.instrument(selector)
    return {"inst_type": instrument.inst_type, "inst_id": instrument.inst_id}, None


@method(
    "orders",
    summary="Every open order (all pages), for a symbol, a range (USDT.swap) or all.",
    params=[Param("symbol", "FMZ symbol, OKX instId or a range such as USDT.swap; absent: "
                  "every instrument", required=False)],
    data=f"[order, ...] newest first; order = {ORDER_SHAPE}",
    okx=f"{ORDERS_PENDING} (ordId cursor walk), {ORDERS_CHANNEL}",
    private=True,
)
async def orders(context: CallContext, request: RpcRequest) -> RpcResult:
    credentials = request.require_credentials()
    selection, wanted = await _list_filter(context, request)
    walk = await context.okx.trade.open_orders(credentials, **selection)
    records = [r for r in walk.records if wanted is None or r.inst_id in wanted]
    return RpcResult(_format_orders(context, records), walk.pages)


async def _order_ids(
    context: CallContext, request: RpcRequest
) -> tuple[str, str | None, str | None]:
    """(instId, ordId, clOrdId) of the ``id`` param; exactly one of the last two is set."""
    symbol_inst = None
    if request.params.has("symbol"):
        ref = parse_symbol(request.params.text("symbol"))
        symbol_inst = ref.inst_id or (await context.instrument(ref)).inst_id
    inst_id, part = parse_order_id(request.params.text("id", ""), symbol_inst)
    ord_id, cl_ord_id = split_order_part(part)
    return inst_id, ord_id, cl_ord_id


async def fetch_order(
    context: CallContext, credentials: Credentials, inst_id: str, ord_id: str | None,
    cl_ord_id: str | None = None,
) -> tuple[dict[str, Any], Any]:
    """One order as (FMZ order, raw envelope), by ordId or clOrdId."""
    fetched = await context.okx.trade.order(credentials, inst_id, ord_id, cl_ord_id=cl_ord_id)
    return _format_orders(context, fetched.records)[0], fetched.raw


ID_PARAM = (
    "INSTID,ORDID as returned by trade, or INSTID,cl:CLORDID as named by an 'order outcome "
    "unknown' error (finds the order in any state)"
)


@method(
    "order",
    summary="One order by id, in any state (by clOrdId too).",
    params=[Param("id", ID_PARAM),
            Param("symbol", "needed only for a bare ORDID", required=False)],
    data=ORDER_SHAPE,
    okx=[ORDER_DETAILS, ORDERS_CHANNEL],
    private=True,
)
async def order(context: CallContext, request: RpcRequest) -> RpcResult:
    credentials = request.require_credentials()
    inst_id, ord_id, cl_ord_id = await _order_ids(context, request)
    await _warm(context, inst_id)
    data, raw = await fetch_order(context, credentials, inst_id, ord_id, cl_ord_id)
    return RpcResult(data, raw)


async def _warm(context: CallContext, inst_id: str) -> None:
    """Load the instrument's type so formatting knows contract types and aliases."""
    if context.okx.instruments.cached(inst_id) is None:
        try:
            await context.lookup(inst_id)
        except RpcError:
            pass


@method(
    "historyorders",
    summary="Finished orders, newest first, complete up to limit (7-day history, then the "
    "3-month archive).",
    params=[
        Param("symbol", "FMZ symbol, OKX instId or a range such as USDT.swap; absent: every "
              "spot, swap and futures instrument", required=False),
        Param("since", "only orders created at or after this time (ms); 0 = no bound",
              required=False),
        Param("limit", "how many orders (default 100; 0 = default)", required=False),
    ],
    data=f"[order, ...] newest first; order = {ORDER_SHAPE}",
    okx=f"{ORDERS_HISTORY}, then {ORDERS_ARCHIVE}",
    private=True,
)
async def historyorders(context: CallContext, request: RpcRequest) -> RpcResult:
    credentials = request.require_credentials()
    since = request.params.integer("since", 0)
    limit = request.params.integer("limit", 0) or 100
    if since < 0 or limit < 0:
        raise RpcError("params 'since' and 'limit' must not be negative")
    if limit > 10_000:
        raise RpcError(f"param 'limit' must be at most 10000 orders, got {limit}")
    selection, wanted = await _list_filter(context, request)
    # Without a symbol: every instrument type the key trades, merged newest first.
    types = [selection["inst_type"]] if "inst_type" in selection else list(INST_TYPES)
    rows: list[OrderRecord] = []
    pages: list[Any] = []
    for inst_type in types:
        walk = await context.okx.trade.finished_orders(
            credentials,
            inst_type=inst_type,
            inst_id=selection.get("inst_id"),
            since_ms=since,
            limit=limit,
            wanted=wanted,
        )
        rows.extend(walk.records)
        pages.extend(walk.pages)
    if len(types) > 1:
        rows = newest_first(rows)[:limit]
    for inst_id in {row.inst_id for row in rows}:
        await _warm(context, inst_id)
    return RpcResult(_format_orders(context, rows), pages)


@method(
    "cancel",
    summary="Cancel an order; idempotent (an order already canceled answers true).",
    params=[Param("id", ID_PARAM),
            Param("symbol", "needed only for a bare ORDID", required=False)],
    data="true once OKX accepted the cancel or the order is already canceled; an error "
    "naming the state when it is already filled. When OKX's reply is unclear (a timeout, "
    "an edge's error page) the order is read back and, still pending, cancelled once more",
    okx=f"{CANCEL_ORDER}; {ORDER_DETAILS} when OKX says it is already final or the reply "
    "is unclear",
    private=True,
    changes=True,
)
async def cancel(context: CallContext, request: RpcRequest) -> RpcResult:
    credentials = request.require_credentials()
    inst_id, ord_id, cl_ord_id = await _order_ids(context, request)
    outcome = await context.okx.trade.cancel(credentials, inst_id, ord_id, cl_ord_id=cl_ord_id)
    if outcome.accepted or outcome.order is None:
        return RpcResult(True, outcome.raw)
    await _warm(context, inst_id)
    (state,) = _format_orders(context, [outcome.order])
    if state["status"] in ("canceled", "partial-canceled") or outcome.cancelling:
        # cancelling: OKX said a cancel is already under way (the order may read live).
        return RpcResult(True, outcome.raw)
    raise RpcError(
        f"order {state['id']} cannot be canceled: it is already {state['status']} "
        f"(deal_amount {state['deal_amount']}, avg_price {state['avg_price']})"
    )
