# -*- test-case-name: tests.sim.test_trading,tests.sim.test_orders -*-
"""
Order entry: validating and placing orders, taking liquidity from the synthetic book,
cancelling, amending and closing positions at market.

Request-level problems (a parameter missing or malformed) raise
:class:`~fmzokx.sim.errors.SimApiError`; an order OKX would refuse on its merits becomes a
result item with a non-zero ``sCode``, as in OKX's per-order answers. (The order endpoints
turn the former into items too: OKX answers parameter errors of an order per item.)

Where OKX's "Trade > POST / Place order" is specific, so is this: a spot market order
short of funds is shrunk to the available balance unless ``banAmend`` is true (then 51008);
a spot market order's ``maxMktSz`` is in USDT (51201 beyond it); spot prices outside the
price limit are 51137/51138 and contract prices 51006. Cancelling a finished or unknown
order is 51400 ("Trade > POST / Cancel order"; 51401/51402 are Nitro Spread codes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from fmzokx.sim.changes import Change
from fmzokx.sim.errors import SimApiError, message
from fmzokx.sim.execution import Executor
from fmzokx.sim.instruments import NO_ORDERS, LiveCatalogue, SimInstrument
from fmzokx.sim.ledger import Ledger
from fmzokx.sim.market import Market
from fmzokx.sim.model import DERIVATIVE_TAKER, Account, Order
from fmzokx.sim.numbers import ZERO, money, parse_decimal, quantize_down, render
from fmzokx.sim.paging import find_order
from fmzokx.sim.positions import PositionBook
from fmzokx.sim.settings import SimSettings
from fmzokx.sim.views import usd_price

__all__ = ["BOOK_DEPTH", "PRICE_BAND", "Matcher"]

PRICE_BAND = Decimal("0.05")
BOOK_DEPTH = 400
#: the levels a taker's walk builds first (see :meth:`Matcher._take`)
SHORT_BOOK_DEPTH = 16
_CL_ORD_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_TAG = re.compile(r"^[A-Za-z0-9]{1,16}$")
_ORDER_TYPES = ("market", "limit", "post_only", "fok", "ioc", "optimal_limit_ioc")


def _flag(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _item(order_id: str, cl_ord_id: str, tag: str, ts: int, code: str, msg: str) -> dict[str, str]:
    return {
        "clOrdId": cl_ord_id,
        "ordId": order_id,
        "tag": tag,
        "ts": str(ts),
        "sCode": code,
        "sMsg": msg,
        "subCode": "",
    }


class _Reject(Exception):
    """An order refused on its merits: it becomes the item's ``sCode``/``sMsg``."""

    def __init__(self, code: str, *args: object) -> None:
        self.code = code
        self.msg = message(code, *args)
        super().__init__(self.msg)


class Matcher:
    """Places, cancels and amends orders against the synthetic book."""

    def __init__(
        self,
        market: Market,
        catalogue: LiveCatalogue,
        ledger: Ledger,
        positions: PositionBook,
        executor: Executor,
        orders: dict[int, Order],
        settings: SimSettings,
    ) -> None:
        self.market = market
        self.catalogue = catalogue
        self.ledger = ledger
        self.positions = positions
        self.executor = executor
        #: every order of every account, by id (shared with the exchange)
        self.orders = orders
        #: the simulator's settings (shared; read at every call)
        self.settings = settings

    # -- placing ---------------------------------------------------------------------------

    def place(self, account: Account, params: Mapping[str, Any], now_ms: int) -> dict[str, str]:
        """
        Place one order for ``account``; return OKX's per-order result item.

        :raises SimApiError: for request-level problems (a required parameter missing or malformed).
        """
        for name in ("instId", "tdMode", "side", "ordType", "sz"):
            if params.get(name) in (None, ""):
                raise SimApiError("50014", name)
        cl_ord_id = str(params.get("clOrdId", ""))
        tag = str(params.get("tag", ""))
        if cl_ord_id and not _CL_ORD_ID.match(cl_ord_id):
            raise SimApiError("51000", "clOrdId")
        if tag and not _TAG.match(tag):
            raise SimApiError("51000", "tag")
        side = str(params["side"])
        ord_type = str(params["ordType"])
        td_mode = str(params["tdMode"])
        if side not in ("buy", "sell"):
            raise SimApiError("51000", "side")
        if ord_type not in _ORDER_TYPES:
            raise SimApiError("51000", "ordType")
        if td_mode not in ("cash", "cross", "isolated"):
            raise SimApiError("51000", "tdMode")
        sz = parse_decimal(params["sz"])
        if sz is None or sz <= 0:
            raise SimApiError("51000", "sz")
        px: Decimal | None = None
        if "px" in params and params["px"] not in (None, ""):
            px = parse_decimal(params["px"])
            if px is None or px <= 0:
                raise SimApiError("51000", "px")
        reduce_only = _flag(params.get("reduceOnly"))
        if reduce_only is None:
            raise SimApiError("51000", "reduceOnly")
        tgt_ccy = str(params.get("tgtCcy", ""))
        if tgt_ccy not in ("", "base_ccy", "quote_ccy"):
            raise SimApiError("51000", "tgtCcy")
        ban_amend = _flag(params.get("banAmend"))
        if ban_amend is None:
            raise SimApiError("51000", "banAmend")
        try:
            order = self._validate(
                account, params, side, ord_type, td_mode, sz, px, cl_ord_id, tag,
                reduce_only, tgt_ccy, now_ms,
            )
            self._reserve(account, order, ban_amend, now_ms)
        except _Reject as reject:
            return _item("", cl_ord_id, tag, now_ms, reject.code, reject.msg)
        self._execute(account, order, now_ms)
        return _item(str(order.ord_id), cl_ord_id, tag, now_ms, "0", "Order placed")

    def _validate(
        self,
        account: Account,
        params: Mapping[str, Any],
        side: str,
        ord_type: str,
        td_mode: str,
        sz: Decimal,
        px: Decimal | None,
        cl_ord_id: str,
        tag: str,
        reduce_only: bool,
        tgt_ccy: str,
        now_ms: int,
    ) -> Order:
        inst = self.catalogue.get(str(params["instId"]), now_ms)
        if inst is None:
            raise _Reject("51001")
        if inst.state in NO_ORDERS:
            raise _Reject(NO_ORDERS[inst.state])
        if inst.state == "post_only" and ord_type != "post_only":
            raise _Reject("51000", "ordType")
        if not inst.derivative:
            quote_ccy = str(params.get("tradeQuoteCcy") or "")
            if quote_ccy and quote_ccy != inst.quote:
                raise _Reject("51000", "tradeQuoteCcy")
            if not quote_ccy and self.settings.trade_quote_ccy_required:
                raise _Reject("51000", "tradeQuoteCcy")
        if inst.derivative and account.spec.mode == "spot":
            raise _Reject("51010")
        if inst.derivative and td_mode == "cash":
            raise _Reject("51000", "tdMode")
        if not inst.derivative and td_mode != "cash":
            raise _Reject("51000", "tdMode")
        pos_side = str(params.get("posSide", ""))
        if inst.derivative:
            if account.pos_mode == "long_short_mode":
                if pos_side not in ("long", "short"):
                    raise _Reject("51000", "posSide")
            elif pos_side not in ("", "net"):
                raise _Reject("51000", "posSide")
            pos_side = pos_side or "net"
        else:
            pos_side = "net"
            tgt_ccy = tgt_ccy if ord_type == "market" else ""
            if ord_type == "market" and not tgt_ccy:
                tgt_ccy = "quote_ccy" if side == "buy" else "base_ccy"
        if inst.derivative:
            tgt_ccy = ""
        if cl_ord_id and any(o.cl_ord_id == cl_ord_id for o in account.pending.values()):
            raise _Reject("51016")
        if ord_type == "optimal_limit_ioc" and not inst.derivative:
            raise _Reject("51000", "ordType")
        if ord_type in ("limit", "post_only", "fok", "ioc"):
            if px is None:
                raise _Reject("51204")
            if px % inst.tick_sz != 0:
                raise _Reject("51000", "px")
        else:
            px = None
        last = self.market.last(inst, now_ms / 1000)
        if px is not None:
            high, low = self.price_limits(inst, now_ms)
            if inst.derivative:
                if (side == "buy" and px > high) or (side == "sell" and px < low):
                    raise _Reject("51006", render(high), render(low))
            elif side == "buy" and px > high:
                raise _Reject("51137", render(high))
            elif side == "sell" and px < low:
                raise _Reject("51138", render(low))
        quote_sized = not inst.derivative and ord_type == "market" and tgt_ccy == "quote_ccy"
        if not inst.derivative and ord_type == "market":
            # maxMktSz of a spot pair is in USDT (Public Data > Get instruments).
            quote_usd = usd_price(self.market, self.catalogue, inst.quote, now_ms)
            value = (sz if quote_sized else sz * last) * quote_usd
            if value > inst.max_mkt_sz:
                raise _Reject("51201", render(inst.max_mkt_sz))
        if not quote_sized:
            if sz % inst.lot_sz != 0:
                raise _Reject("51121")
            if sz < inst.min_sz:
                raise _Reject("51020")
            if ord_type == "market" and inst.derivative and sz > inst.max_mkt_sz:
                raise _Reject("51202")
            if ord_type != "market" and sz > inst.max_lmt_sz:
                raise _Reject("51203", render(inst.max_lmt_sz))
        elif sz / last < inst.min_sz:
            raise _Reject("51020")
        if inst.derivative and reduce_only:
            pos = account.positions.get(self.positions.key(account, inst, td_mode, pos_side))
            qty = pos.qty if pos else ZERO
            closing = qty < 0 if side == "buy" else qty > 0
            if qty == 0 or not closing:
                raise _Reject("51169")
            if sz > abs(qty):
                raise _Reject("51148")
        order = Order(
            ord_id=0,
            account=account.spec.key,
            instrument=inst,
            side=side,
            ord_type=ord_type,
            td_mode=td_mode,
            sz=sz,
            px=px,
            cl_ord_id=cl_ord_id,
            tag=tag,
            pos_side=pos_side,
            reduce_only=reduce_only,
            tgt_ccy=tgt_ccy,
            lever="" if not inst.derivative else render(
                self.positions.lever(account, inst, td_mode, pos_side)
            ),
            c_time=now_ms,
            u_time=now_ms,
            check_from=now_ms // 1000 + 1,
            visible_from=now_ms + self.settings.lag_ms,
        )
        return order

    def price_limits(self, inst: SimInstrument, now_ms: int) -> tuple[Decimal, Decimal]:
        """``(highest buy price, lowest sell price)`` accepted now (51006 beyond them)."""
        last = self.market.last(inst, now_ms / 1000)
        high = quantize_down(last * (1 + PRICE_BAND), inst.tick_sz)
        low = quantize_down(last * (1 - PRICE_BAND), inst.tick_sz) + inst.tick_sz
        return high, low

    def _opening_qty(self, account: Account, order: Order) -> Decimal:
        """Contracts of ``order`` that would open (not close) a position."""
        inst = order.instrument
        key = self.positions.key(account, inst, order.td_mode, order.pos_side)
        pos = account.positions.get(key)
        qty = pos.qty if pos else ZERO
        if order.reduce_only:
            return ZERO
        if account.pos_mode == "long_short_mode":
            opening = (order.pos_side == "long") == order.buy
            if opening:
                return order.sz
            pending_close = sum(
                (
                    o.sz - o.acc_fill_sz
                    for o in account.pending.values()
                    if o.instrument.inst_id == inst.inst_id
                    and o.pos_side == order.pos_side
                    and o.td_mode == order.td_mode
                    and o.buy == order.buy
                ),
                ZERO,
            )
            if order.sz + pending_close > abs(qty):
                raise _Reject("51112")
            return ZERO
        signed = order.sz if order.buy else -order.sz
        if qty == 0 or (qty > 0) == (signed > 0):
            return order.sz
        return max(ZERO, order.sz - abs(qty))

    def _reserve(self, account: Account, order: Order, ban_amend: bool, now_ms: int) -> None:
        """
        Check funds for ``order``, set what it freezes and give it its id; raise 51008 when
        short (a spot market order without ``banAmend`` is shrunk to the balance instead).
        """
        self._check_funds(account, order, ban_amend, now_ms)
        order.ord_id = self.ledger.new_id(now_ms)

    def _check_funds(self, account: Account, order: Order, ban_amend: bool, now_ms: int) -> None:
        inst = order.instrument
        last = self.market.last(inst, now_ms / 1000)
        if inst.derivative:
            opening = self._opening_qty(account, order)
            ref = order.px if order.px is not None else last
            lever = self.positions.lever(account, inst, order.td_mode, order.pos_side)
            size = inst.ct_val
            unit = money((size / ref if inst.inverse else size * ref) / lever)
            fee = money(
                (opening * size / ref if inst.inverse else opening * size * ref) * DERIVATIVE_TAKER
            )
            need = unit * opening + fee
            figures = self.positions.figures(account, inst.settle, now_ms)
            if need > 0 and need > min(figures["availEq"], figures["availBal"]):
                raise _Reject("51008", inst.settle, "margin")
            if order.ord_type != "market":
                order.margin_unit = unit
                order.frozen = unit * opening
                order.frozen_ccy = inst.settle
            return
        if order.buy:
            ccy = inst.quote
            if order.ord_type == "market":
                need = order.sz if order.tgt_ccy == "quote_ccy" else self._cost(inst, order, now_ms)
            else:
                assert order.px is not None
                need = order.px * order.sz
        else:
            ccy = inst.base
            if order.ord_type == "market" and order.tgt_ccy == "quote_ccy":
                need = self._base_for_quote(inst, order.sz, now_ms)
            else:
                need = order.sz
        available = self.positions.figures(account, ccy, now_ms)["availBal"]
        if need > available:
            if order.ord_type != "market" or ban_amend:
                raise _Reject("51008", ccy, "balance")
            self._shrink(order, max(available, ZERO), now_ms)
        if order.ord_type != "market":
            order.frozen = need
            order.frozen_ccy = ccy

    def _shrink(self, order: Order, available: Decimal, now_ms: int) -> None:
        """
        Reduce a spot market order to what ``available`` pays for, as OKX does when
        ``banAmend`` is not true; 51008 when not even the minimum size is left.
        """
        inst = order.instrument
        exponent = inst.tick_sz.normalize().as_tuple().exponent
        quote_step = Decimal(1).scaleb(exponent if isinstance(exponent, int) else 0)
        if order.buy:
            if order.tgt_ccy == "quote_ccy":
                size = quantize_down(available, quote_step)
                base = size / self.market.last(inst, now_ms / 1000)
            else:
                fills = self._take(inst, True, now_ms, None, budget=available)
                size = base = quantize_down(sum((sz for _, sz in fills), ZERO), inst.lot_sz)
        else:
            base = quantize_down(available, inst.lot_sz)
            if order.tgt_ccy == "quote_ccy":
                fills = self._take(inst, False, now_ms, None, qty=base)
                size = quantize_down(sum((px * sz for px, sz in fills), ZERO), quote_step)
            else:
                size = base
        if size <= 0 or base < inst.min_sz:
            raise _Reject("51008", inst.quote if order.buy else inst.base, "balance")
        order.sz = size

    def _cost(self, inst: SimInstrument, order: Order, now_ms: int) -> Decimal:
        fills = self._take(inst, True, now_ms, None, qty=order.sz)
        return sum((px * sz for px, sz in fills), ZERO)

    def _base_for_quote(self, inst: SimInstrument, amount: Decimal, now_ms: int) -> Decimal:
        fills = self._take(inst, False, now_ms, None, budget=amount)
        return sum((sz for _, sz in fills), ZERO)

    def _take(
        self,
        inst: SimInstrument,
        buy: bool,
        now_ms: int,
        limit: Decimal | None,
        qty: Decimal | None = None,
        budget: Decimal | None = None,
    ) -> list[tuple[Decimal, Decimal]]:
        """
        Walk the synthetic book: the taker fills for a size (or a quote budget).

        Most orders fill within a few levels, so the walk starts on a short book and
        builds all :data:`BOOK_DEPTH` levels only when it runs out of levels: the book of
        one second is deterministic and a short one is the deep one's first levels, so
        the fills are the same either way.
        """
        for depth in (SHORT_BOOK_DEPTH, BOOK_DEPTH):
            asks, bids = self.market.book(inst, now_ms / 1000, depth)
            fills: list[tuple[Decimal, Decimal]] = []
            left_qty, left_budget = qty, budget
            for level in asks if buy else bids:
                if limit is not None and (level.px > limit if buy else level.px < limit):
                    return fills
                if left_qty is not None:
                    take = min(left_qty, level.sz)
                    left_qty -= take
                else:
                    assert left_budget is not None
                    take = min(level.sz, quantize_down(left_budget / level.px, inst.lot_sz))
                    left_budget -= take * level.px
                if take <= 0:
                    return fills
                fills.append((level.px, take))
                if (left_qty is not None and left_qty <= 0) or (
                    left_budget is not None and left_budget <= 0
                ):
                    return fills
        return fills

    def _execute(self, account: Account, order: Order, now_ms: int) -> None:
        """Store a validated order, take what it can from the book, and rest the rest."""
        finish = self.executor.finish
        inst = order.instrument
        self.orders[order.ord_id] = order
        account.orders[order.ord_id] = order
        account.pending[order.ord_id] = order
        self.executor.changes.emit(Change(account, "order", now_ms, order=order))
        asks, bids = self.market.book(inst, now_ms / 1000, 1)
        crosses = order.px is not None and (
            (order.buy and order.px >= asks[0].px) or (not order.buy and order.px <= bids[0].px)
        )
        if order.ord_type == "post_only":
            if crosses:
                finish(
                    account, order, "canceled", now_ms, "31",
                    "The post-only order will take liquidity in maker orders",
                )
            return
        if order.ord_type == "market" and not inst.derivative and order.tgt_ccy == "quote_ccy":
            fills = self._take(inst, order.buy, now_ms, None, budget=order.sz)
        else:
            fills = self._take(inst, order.buy, now_ms, order.px, qty=order.sz)
        if order.ord_type == "fok" and sum((sz for _, sz in fills), ZERO) < order.sz:
            finish(account, order, "canceled", now_ms, "14", "FOK order was canceled")
            return
        for px, sz in fills:
            self.executor.fill(account, order, px, sz, now_ms, maker=False)
        if not order.pending:
            return
        if order.ord_type in ("market", "ioc", "fok", "optimal_limit_ioc"):
            if order.ord_type == "market" and order.acc_fill_sz > 0 and (
                order.tgt_ccy == "quote_ccy" or order.acc_fill_sz >= order.sz
            ):
                finish(account, order, "filled", now_ms)
            else:
                finish(account, order, "canceled", now_ms, "14", "IOC order was canceled")

    # -- cancelling, amending, closing -----------------------------------------------------

    def cancel(self, account: Account, params: Mapping[str, Any], now_ms: int) -> dict[str, str]:
        """Cancel one order; return OKX's per-order result item."""
        if params.get("instId") in (None, ""):
            raise SimApiError("50014", "instId")
        ord_id = str(params.get("ordId", ""))
        cl_ord_id = str(params.get("clOrdId", ""))
        if not ord_id and not cl_ord_id:
            raise SimApiError("50015", "ordId", "clOrdId")
        order = find_order(
            account, str(params["instId"]), ord_id, cl_ord_id, now_ms,
            lagging=self.settings.lag_cancels,
        )
        if order is None or not order.pending:
            # Filled, canceled or unknown alike (51401/51402 are Nitro Spread codes).
            return _item(ord_id, cl_ord_id, "", now_ms, "51400", message("51400"))
        if order.cancel_at:
            return _item(str(order.ord_id), order.cl_ord_id, "", now_ms, "51410", message("51410"))
        lag = self.settings.lag_ms
        if lag:
            # Accepted now, effective later: until then the order may still fill.
            order.cancel_at = now_ms + lag
        else:
            self.executor.finish(account, order, "canceled", now_ms, "1", "Order canceled by user")
        return _item(str(order.ord_id), order.cl_ord_id, "", now_ms, "0", "")

    def amend(self, account: Account, params: Mapping[str, Any], now_ms: int) -> dict[str, str]:
        """Change the price and/or size of a pending order (POST /trade/amend-order)."""
        inst_id = params.get("instId")
        if inst_id in (None, ""):
            raise SimApiError("50014", "instId")
        ord_id = str(params.get("ordId", ""))
        cl_ord_id = str(params.get("clOrdId", ""))
        req_id = str(params.get("reqId", ""))
        if not ord_id and not cl_ord_id:
            raise SimApiError("50015", "ordId", "clOrdId")
        new_sz = parse_decimal(params["newSz"]) if "newSz" in params else None
        new_px = parse_decimal(params["newPx"]) if "newPx" in params else None
        if "newSz" not in params and "newPx" not in params:
            raise SimApiError("51500")
        if ("newSz" in params and (new_sz is None or new_sz <= 0)) or (
            "newPx" in params and (new_px is None or new_px <= 0)
        ):
            raise SimApiError("51000", "newSz" if "newSz" in params else "newPx")

        def item(order_id: str, code: str, msg: str) -> dict[str, str]:
            return {
                "clOrdId": cl_ord_id,
                "ordId": order_id,
                "reqId": req_id,
                "ts": str(now_ms),
                "sCode": code,
                "sMsg": msg,
                "subCode": "",
            }

        order = find_order(account, str(inst_id), ord_id, cl_ord_id, now_ms, lagging=False)
        if order is None or not order.pending or order.px is None:
            return item(ord_id, "51503", message("51503"))
        inst = order.instrument
        px = new_px if new_px is not None else order.px
        sz = new_sz if new_sz is not None else order.sz
        if px % inst.tick_sz != 0:
            return item(str(order.ord_id), "51000", message("51000", "newPx"))
        if sz % inst.lot_sz != 0:
            return item(str(order.ord_id), "51121", message("51121"))
        if sz <= order.acc_fill_sz or sz < inst.min_sz:
            return item(str(order.ord_id), "51000", message("51000", "newSz"))
        remaining = sz - order.acc_fill_sz
        figures = self.positions.figures
        if inst.derivative:
            lever = self.positions.lever(account, inst, order.td_mode, order.pos_side)
            unit = money((inst.ct_val / px if inst.inverse else inst.ct_val * px) / lever)
            need = unit * remaining if order.frozen > 0 else ZERO
            ccy = inst.settle
            spare = min(
                figures(account, ccy, now_ms)["availEq"],
                figures(account, ccy, now_ms)["availBal"],
            )
        else:
            unit = ZERO
            need = px * remaining if order.buy else remaining
            ccy = inst.quote if order.buy else inst.base
            spare = figures(account, ccy, now_ms)["availBal"]
        if need > spare + order.frozen:
            return item(str(order.ord_id), "51502", message("51502"))
        order.px, order.sz, order.frozen, order.u_time = px, sz, need, now_ms
        if inst.derivative:
            order.margin_unit = unit
        order.check_from = now_ms // 1000 + 1
        self.executor.changes.emit(Change(account, "order", now_ms, order=order, req_id=req_id))
        asks, bids = self.market.book(inst, now_ms / 1000, 1)
        if (order.buy and px >= asks[0].px) or (not order.buy and px <= bids[0].px):
            if order.ord_type == "post_only":
                self.executor.finish(
                    account, order, "canceled", now_ms, "31",
                    "The post-only order will take liquidity in maker orders",
                )
            else:
                for fill_px, fill_sz in self._take(inst, order.buy, now_ms, px, qty=remaining):
                    self.executor.fill(account, order, fill_px, fill_sz, now_ms, maker=False)
        return item(str(order.ord_id), "0", "")

    def close_position(
        self, account: Account, params: Mapping[str, Any], now_ms: int
    ) -> dict[str, str]:
        """Close a whole position at market (POST /trade/close-position)."""
        if params.get("instId") in (None, ""):
            raise SimApiError("50014", "instId")
        if params.get("mgnMode") in (None, ""):
            raise SimApiError("50014", "mgnMode")
        inst = self.catalogue.get(str(params["instId"]), now_ms)
        if inst is None:
            raise SimApiError("51001")
        mgn_mode = str(params["mgnMode"])
        pos_side = str(params.get("posSide", ""))
        if account.pos_mode == "long_short_mode":
            if pos_side not in ("long", "short"):
                raise SimApiError("51000", "posSide")
        elif pos_side not in ("", "net"):
            raise SimApiError("51000", "posSide")
        key = self.positions.key(account, inst, mgn_mode, pos_side or "net")
        pos = account.positions.get(key)
        if pos is None:
            raise SimApiError("51023")
        order: dict[str, Any] = {
            "instId": inst.inst_id,
            "tdMode": mgn_mode,
            "side": "sell" if pos.qty > 0 else "buy",
            "ordType": "market",
            "sz": render(abs(pos.qty)),
        }
        if account.pos_mode == "long_short_mode":
            order["posSide"] = pos_side
        else:
            order["reduceOnly"] = True
        if params.get("clOrdId"):
            order["clOrdId"] = params["clOrdId"]
        result = self.place(account, order, now_ms)
        if result["sCode"] != "0":
            raise SimApiError(result["sCode"], msg=result["sMsg"])
        return {
            "clOrdId": str(params.get("clOrdId", "")),
            "instId": inst.inst_id,
            "posSide": pos_side or "net",
            "tag": str(params.get("tag", "")),
        }
