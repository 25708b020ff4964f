# -*- test-case-name: tests.protocol.methods.test_trading -*-
"""
Trading methods: trade, orders, order, historyorders, cancel.

Orders go through :class:`~fmzokx.protocol.orders.OrderPlacer` (exactly-once placement
with reconciliation); lists are complete or an error, never silently truncated.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from fmzokx.okx.credentials import Credentials
from fmzokx.okx.errors import OkxApiError
from fmzokx.protocol.envelope import RpcError, RpcRequest
from fmzokx.protocol.formatting import order_data, parse_order_id
from fmzokx.protocol.gateway import Gateway
from fmzokx.protocol.instruments import Instrument
from fmzokx.protocol.methods import registry
from fmzokx.protocol.orders import client_order_id
from fmzokx.protocol.registry import Param, RpcResult
from fmzokx.protocol.sizing import size_order
from fmzokx.protocol.symbols import SymbolRange, parse_symbol, parse_symbol_or_range

ORDER = "/api/v5/trade/order"
PENDING = "/api/v5/trade/orders-pending"
HISTORY = "/api/v5/trade/orders-history"
ARCHIVE = "/api/v5/trade/orders-history-archive"
CANCEL = "/api/v5/trade/cancel-order"

ORDER_SHAPE = (
    "{id: INSTID,ORDID, symbol, amount, price, deal_amount, avg_price, type: buy/sell, "
    "status: pending/partial-filled/filled/partial-canceled/canceled, contract_type, "
    "offset (contracts: open/close), time (ms)}"
)
ALREADY_FINAL = frozenset({"51400", "51401", "51402", "51410"})
SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000

# FMZ trade types -> (OKX side, posSide in long/short mode, reduce-only in net mode)
_CONTRACT_SIDES = {
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


def _with_direction(gateway: Gateway, credentials: Credentials, kind: str) -> str:
    """
    Apply a legacy ``io`` SetDirection to a plain buy/sell on a contract.

    FMZ's old futures API set the direction first (``closebuy``) and then called
    ``Sell``; the combination must agree, as on FMZ's native exchanges.
    """
    direction = gateway.io_state.get(credentials.fingerprint, {}).get("direction")
    if direction is None or kind not in ("buy", "sell"):
        return kind
    combined = _DIRECTED.get((direction, kind))
    if combined is None:
        raise RpcError(
            f"trade type {kind} does not match the direction {direction} set with "
            "SetDirection (buy/closesell place buys, sell/closebuy place sells)"
        )
    return combined


async def order_body(
    gateway: Gateway, credentials: Credentials, instrument: Instrument, request: RpcRequest
) -> dict[str, Any]:
    """The ``/trade/order`` body for the docker's trade request (without ``clOrdId``)."""
    kind = request.params.text("type").strip().lower()
    price = request.params.decimal("price", Decimal(-1))
    amount = request.params.decimal("amount")
    if instrument.inst_type == "SPOT":
        if kind not in ("buy", "sell"):
            raise RpcError(f"param 'type' must be buy or sell for spot {instrument.fmz_symbol}, "
                           f"got {kind!r}")
        side = kind
        body: dict[str, Any] = {"instId": instrument.inst_id, "tdMode": "cash", "side": side}
    else:
        kind = _with_direction(gateway, credentials, kind)
        if kind not in _CONTRACT_SIDES:
            raise RpcError(
                f"param 'type' must be buy, sell, closebuy or closesell for "
                f"{instrument.fmz_symbol}, got {kind!r}"
            )
        side, pos_side, reduce_only = _CONTRACT_SIDES[kind]
        body = {
            "instId": instrument.inst_id,
            "tdMode": margin_mode(request),
            "side": side,
        }
        if await gateway.position_mode(credentials) == "long_short_mode":
            body["posSide"] = pos_side
        elif reduce_only:
            body["reduceOnly"] = True
    size = size_order(instrument, side, price, amount)
    if size.px is None:
        body["ordType"] = "market"
    else:
        body["ordType"] = "limit"
        body["px"] = size.px
    body["sz"] = size.sz
    if size.tgt_ccy is not None:
        body["tgtCcy"] = size.tgt_ccy
    return body


@registry.method(
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
    data="{id: INSTID,ORDID}",
    okx="POST /api/v5/trade/order (expTime, clOrdId); GET /api/v5/trade/order to reconcile",
    private=True,
)
async def trade(gateway: Gateway, request: RpcRequest) -> RpcResult:
    credentials = request.require_credentials()
    instrument = await gateway.instrument_for(request)
    body = await order_body(gateway, credentials, instrument, request)
    cl_ord_id = client_order_id(credentials, request.nonce, request.method,
                                request.params.values)
    placed = await gateway.orders.place(credentials, body, cl_ord_id)
    return RpcResult({"id": placed.fmz_id}, placed.raw)


def _format_orders(gateway: Gateway, items: list[Any]) -> list[dict[str, Any]]:
    orders = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        inst_id = str(item.get("instId", ""))
        orders.append(
            order_data(item, gateway.instruments.cached(inst_id), gateway.fmz_symbol(inst_id))
        )
    return orders


async def _list_filter(
    gateway: Gateway, request: RpcRequest
) -> tuple[dict[str, Any], set[str] | None]:
    """Query params for a list call and, for ranges, the instIds to keep."""
    if not request.params.has("symbol"):
        return {}, None
    selector = parse_symbol_or_range(request.params.text("symbol"))
    if isinstance(selector, SymbolRange):
        if selector.kind == "option":
            raise RpcError("options are not supported")
        wanted = {inst.inst_id for inst in await gateway.instruments.in_range(selector)}
        return {"instType": selector.inst_type}, wanted
    instrument = await gateway.instrument(selector)
    return {"instType": instrument.inst_type, "instId": instrument.inst_id}, None


@registry.method(
    "orders",
    summary="Every open order (all pages), for a symbol, a range (USDT.swap) or all.",
    params=[Param("symbol", "FMZ symbol, OKX instId or a range such as USDT.swap; absent: "
                  "every instrument", required=False)],
    data=f"[order, ...] newest first; order = {ORDER_SHAPE}",
    okx=f"GET {PENDING} (ordId cursor walk)",
    private=True,
)
async def orders(gateway: Gateway, request: RpcRequest) -> RpcResult:
    credentials = request.require_credentials()
    params, wanted = await _list_filter(gateway, request)
    walk = await gateway.client.paginate(PENDING, params, credentials=credentials)
    items = [i for i in walk.items if wanted is None or i.get("instId") in wanted]
    return RpcResult(_format_orders(gateway, items), walk.pages)


async def _order_ids(gateway: Gateway, request: RpcRequest) -> tuple[str, str]:
    symbol_inst = None
    if request.params.has("symbol"):
        ref = parse_symbol(request.params.text("symbol"))
        symbol_inst = ref.inst_id or (await gateway.instrument(ref)).inst_id
    return parse_order_id(request.params.text("id", ""), symbol_inst)


async def fetch_order(
    gateway: Gateway, credentials: Credentials, inst_id: str, ord_id: str
) -> tuple[dict[str, Any], Any]:
    """One order as (FMZ order, raw envelope)."""
    try:
        reply = await gateway.client.get(
            ORDER, {"instId": inst_id, "ordId": ord_id}, credentials=credentials
        )
    except OkxApiError as error:
        if error.code == "51603":
            raise RpcError(f"order {inst_id},{ord_id} does not exist (OKX 51603)") from None
        raise
    found = _format_orders(gateway, reply.data)
    if not found:
        raise RpcError(f"order {inst_id},{ord_id} does not exist (OKX returned no order)")
    return found[0], reply.raw


@registry.method(
    "order",
    summary="One order by id.",
    params=[Param("id", "INSTID,ORDID as returned by trade"),
            Param("symbol", "needed only for a bare ORDID", required=False)],
    data=ORDER_SHAPE,
    okx=f"GET {ORDER}",
    private=True,
)
async def order(gateway: Gateway, request: RpcRequest) -> RpcResult:
    credentials = request.require_credentials()
    inst_id, ord_id = await _order_ids(gateway, request)
    await _warm(gateway, inst_id)
    data, raw = await fetch_order(gateway, credentials, inst_id, ord_id)
    return RpcResult(data, raw)


async def _warm(gateway: Gateway, inst_id: str) -> None:
    """Load the instrument's type so formatting knows contract types and aliases."""
    if gateway.instruments.cached(inst_id) is None:
        try:
            await gateway.instruments.lookup(inst_id)
        except RpcError:
            pass


@registry.method(
    "historyorders",
    summary="Finished orders, newest first, complete up to limit (7-day history, then the "
    "3-month archive).",
    params=[
        Param("symbol", "FMZ symbol, OKX instId or a range such as USDT.swap"),
        Param("since", "only orders created at or after this time (ms); 0 = no bound",
              required=False),
        Param("limit", "how many orders (default 100; 0 = default)", required=False),
    ],
    data=f"[order, ...] newest first; order = {ORDER_SHAPE}",
    okx=f"GET {HISTORY}, then GET {ARCHIVE}",
    private=True,
)
async def historyorders(gateway: Gateway, request: RpcRequest) -> RpcResult:
    credentials = request.require_credentials()
    since = request.params.integer("since", 0)
    limit = request.params.integer("limit", 0) or 100
    if since < 0 or limit < 0:
        raise RpcError("params 'since' and 'limit' must not be negative")
    if limit > 10_000:
        raise RpcError(f"param 'limit' must be at most 10000 orders, got {limit}")
    params, wanted = await _list_filter(gateway, request)
    if "instType" not in params:
        params["instType"] = "SPOT"
    if since:
        params["begin"] = str(since)
    collected: dict[str, Mapping[str, Any]] = {}
    pages: list[Any] = []
    after: str | None = None
    now_ms = int(gateway.client.server_time() * 1000)
    for path in (HISTORY, ARCHIVE):
        while len(collected) < limit:
            page_params = dict(params, limit=str(min(100, max(limit - len(collected), 1))))
            if wanted is not None:
                page_params["limit"] = "100"
            if after is not None:
                page_params["after"] = after
            reply = await gateway.client.get(path, page_params, credentials=credentials)
            pages.append(reply.raw)
            rows = [r for r in reply.data if isinstance(r, Mapping) and r.get("ordId")]
            for row in rows:
                if wanted is None or row.get("instId") in wanted:
                    collected.setdefault(str(row["ordId"]), row)
            if not rows or len(rows) < int(page_params["limit"]):
                break
            cursor = str(rows[-1]["ordId"])
            if cursor == after:
                raise RpcError(f"OKX's {path} cursor did not advance; refusing to loop")
            after = cursor
        if len(collected) >= limit or (since and since >= now_ms - SEVEN_DAYS_MS):
            break
    newest_first = sorted(
        collected.values(), key=lambda row: (int(str(row.get("cTime") or 0)), str(row["ordId"])),
        reverse=True,
    )[:limit]
    for inst_id in {str(row.get("instId")) for row in newest_first}:
        await _warm(gateway, inst_id)
    return RpcResult(_format_orders(gateway, newest_first), pages)


@registry.method(
    "cancel",
    summary="Cancel an order; idempotent (an order already canceled answers true).",
    params=[Param("id", "INSTID,ORDID as returned by trade"),
            Param("symbol", "needed only for a bare ORDID", required=False)],
    data="true once OKX accepted the cancel or the order is already canceled; an error "
    "naming the state when it is already filled",
    okx=f"POST {CANCEL}; GET {ORDER} when OKX says it is already final",
    private=True,
)
async def cancel(gateway: Gateway, request: RpcRequest) -> RpcResult:
    credentials = request.require_credentials()
    inst_id, ord_id = await _order_ids(gateway, request)
    try:
        reply = await gateway.client.post(
            CANCEL, {"instId": inst_id, "ordId": ord_id}, credentials=credentials
        )
    except OkxApiError as error:
        codes = {error.code, *(item.code for item in error.items)}
        if not codes & ALREADY_FINAL:
            raise
        await _warm(gateway, inst_id)
        state, raw = await fetch_order(gateway, credentials, inst_id, ord_id)
        if state["status"] in ("canceled", "partial-canceled"):
            return RpcResult(True, raw)
        if state["status"] in ("pending", "partial-filled"):
            # 51410: a cancel is already under way.
            return RpcResult(True, raw)
        raise RpcError(
            f"order {inst_id},{ord_id} cannot be canceled: it is already {state['status']} "
            f"(deal_amount {state['deal_amount']}, avg_price {state['avg_price']})"
        ) from None
    return RpcResult(True, reply.raw)
