# -*- test-case-name: tests.sim.test_trading -*-
"""
The simulated exchange's state: accounts, orders, matching, positions, funding.

Pure state and arithmetic, no HTTP and no clock: every call gets the time in ms from the
caller (the :class:`~fmzokx.sim.simulator.Simulator` reads its injected clock), which keeps
the engine easy to drive from property tests. Every movement of money is a transfer between
an account and either the *house* (the synthetic counterparty behind the order book) or the
*fee* ledger, so the sum of each currency over accounts, house and fees never changes; the
conservation tests check exactly that.

Resting orders are evaluated lazily: :meth:`Exchange.advance` asks the deterministic market
for the first second at which the trade tape reached each order's price since it was last
checked, and applies fills, funding settlements and futures deliveries in time order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, TypeVar

from .errors import OkxError, message
from .instruments import Instrument, catalogue, future_expiries
from .market import Market
from .model import (
    DEFAULT_BALANCES,
    DERIVATIVE_MAKER,
    DERIVATIVE_TAKER,
    SPOT_MAKER,
    SPOT_TAKER,
    Account,
    Bill,
    Fill,
    Order,
    Position,
    SimAccount,
)
from .numbers import ZERO, parse_decimal, quantize_down, render

__all__ = ["DEFAULT_BALANCES", "Bill", "Exchange", "Fill", "Order", "Position", "SimAccount"]

DEFAULT_LEVER = Decimal(10)
PRICE_BAND = Decimal("0.05")
BOOK_DEPTH = 400
_MONEY = Decimal("1e-12")
_AVG = Decimal("1e-10")
#: ids stay 18-19 digits even on a test clock that starts at the epoch
_MIN_ID = 10**17
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000
_FUNDING_MS = 8 * _HOUR_MS
_CL_ORD_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_TAG = re.compile(r"^[A-Za-z0-9]{1,16}$")
_ORDER_TYPES = ("market", "limit", "post_only", "fok", "ioc", "optimal_limit_ioc")


def _money(value: Decimal) -> Decimal:
    return value.quantize(_MONEY, rounding=ROUND_HALF_EVEN)


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
    def __init__(self, code: str, *args: object) -> None:
        self.code = code
        self.msg = message(code, *args)
        super().__init__(self.msg)


class Exchange:
    """
    All accounts, orders and positions of one simulated exchange.
    """

    def __init__(self, market: Market, accounts: Sequence[SimAccount], now_ms: int) -> None:
        self.market = market
        self._specs = tuple(accounts)
        self._catalogue_key: tuple[tuple[str, int], ...] = ()
        self._catalogue: dict[str, Instrument] = {}
        self._next_id = 0
        self._next_trade = 1_000_000_000_000
        self.reset(now_ms)

    # -- lifecycle -------------------------------------------------------------------------

    def reset(self, now_ms: int) -> None:
        """Forget every order and position and restore the starting balances."""
        self.accounts: dict[str, Account] = {}
        for index, spec in enumerate(self._specs):
            account = Account(spec=spec, uid=str(374_579_799_097_793_561 + index), u_time=now_ms)
            for ccy, amount in spec.balances:
                account.cash[ccy] = account.cash.get(ccy, ZERO) + Decimal(amount)
            self.accounts[spec.key] = account
        self.orders: dict[int, Order] = {}
        self.house: dict[str, Decimal] = {}
        self.fees: dict[str, Decimal] = {}
        self._clock_ms = now_ms
        self._purged_ms = now_ms

    def spec(self, key: str) -> SimAccount | None:
        """The account configured for API key ``key``."""
        account = self.accounts.get(key)
        return None if account is None else account.spec

    # -- instruments -----------------------------------------------------------------------

    def instruments(self, now_ms: int) -> list[Instrument]:
        """Instruments live at ``now_ms``."""
        key = tuple(future_expiries(now_ms))
        if key != self._catalogue_key:
            self._catalogue_key = key
            self._catalogue = {inst.inst_id: inst for inst in catalogue(now_ms)}
        return list(self._catalogue.values())

    def instrument(self, inst_id: str, now_ms: int) -> Instrument | None:
        """The live instrument ``inst_id``, or ``None``."""
        self.instruments(now_ms)
        return self._catalogue.get(inst_id)

    def usd_price(self, ccy: str, now_ms: int) -> Decimal:
        """An approximate USD price of ``ccy``, for ``eqUsd``/``totalEq``."""
        if ccy in ("USDT", "USDC", "USD"):
            return Decimal(1)
        inst = self.instrument(f"{ccy}-USDT", now_ms)
        if inst is None:
            return ZERO
        return self.market.last(inst, now_ms / 1000)

    # -- ledger ----------------------------------------------------------------------------

    def _move(self, account: Account, ccy: str, amount: Decimal, to_fees: bool = False) -> None:
        """Credit ``amount`` of ``ccy`` to ``account``, debiting the house (or fee ledger)."""
        if amount == 0:
            return
        account.cash[ccy] = account.cash.get(ccy, ZERO) + amount
        ledger = self.fees if to_fees else self.house
        ledger[ccy] = ledger.get(ccy, ZERO) - amount

    def order_frozen(self, account: Account, ccy: str) -> Decimal:
        """Funds held by ``account``'s pending orders in ``ccy``."""
        return sum(
            (o.frozen for o in account.pending.values() if o.frozen_ccy == ccy), ZERO
        )

    def _lever(self, account: Account, inst: Instrument, mgn_mode: str, pos_side: str) -> Decimal:
        side = pos_side if account.pos_mode == "long_short_mode" else "net"
        default = min(DEFAULT_LEVER, Decimal(inst.max_lever or DEFAULT_LEVER))
        return account.levers.get((inst.inst_id, mgn_mode, side), default)

    def _margin(self, account: Account, pos: Position) -> Decimal:
        inst = pos.instrument
        lever = self._lever(account, inst, pos.mgn_mode, pos.pos_side)
        size = abs(pos.qty) * inst.ct_val
        if pos.avg_px == 0:
            return ZERO
        value = size / pos.avg_px if inst.inverse else size * pos.avg_px
        return _money(value / lever)

    def _upl(self, pos: Position, mark: Decimal) -> Decimal:
        inst = pos.instrument
        if pos.qty == 0 or pos.avg_px == 0:
            return ZERO
        if inst.inverse:
            return _money(pos.qty * inst.ct_val * (1 / pos.avg_px - 1 / mark))
        return _money(pos.qty * inst.ct_val * (mark - pos.avg_px))

    def _ccy_figures(self, account: Account, ccy: str, now_ms: int) -> dict[str, Decimal]:
        cash = account.cash.get(ccy, ZERO)
        ord_frozen = self.order_frozen(account, ccy)
        imr = ZERO
        upl = ZERO
        for pos in account.positions.values():
            if pos.instrument.settle == ccy and pos.qty != 0:
                imr += self._margin(account, pos)
                upl += self._upl(pos, self.market.last(pos.instrument, now_ms / 1000))
        frozen = ord_frozen + imr
        return {
            "cash": cash,
            "ordFrozen": ord_frozen,
            "imr": imr,
            "frozen": frozen,
            "upl": upl,
            "eq": cash + upl,
            "availBal": cash - frozen,
            "availEq": cash + upl - frozen,
        }

    # -- placing ---------------------------------------------------------------------------

    def _new_id(self, now_ms: int) -> int:
        self._next_id = max(self._next_id + 1, now_ms * 1_000_000, _MIN_ID)
        return self._next_id

    def place(self, key: str, params: Mapping[str, Any], now_ms: int) -> dict[str, str]:
        """
        Place one order for ``key``; return OKX's per-order result item.

        :raises OkxError: for request-level problems (a required parameter missing or malformed).
        """
        self.advance(now_ms)
        account = self.accounts[key]
        for name in ("instId", "tdMode", "side", "ordType", "sz"):
            if params.get(name) in (None, ""):
                raise OkxError("50014", name)
        cl_ord_id = str(params.get("clOrdId", ""))
        tag = str(params.get("tag", ""))
        if cl_ord_id and not _CL_ORD_ID.match(cl_ord_id):
            raise OkxError("51000", "clOrdId")
        if tag and not _TAG.match(tag):
            raise OkxError("51000", "tag")
        side = str(params["side"])
        ord_type = str(params["ordType"])
        td_mode = str(params["tdMode"])
        if side not in ("buy", "sell"):
            raise OkxError("51000", "side")
        if ord_type not in _ORDER_TYPES:
            raise OkxError("51000", "ordType")
        if td_mode not in ("cash", "cross", "isolated"):
            raise OkxError("51000", "tdMode")
        sz = parse_decimal(params["sz"])
        if sz is None or sz <= 0:
            raise OkxError("51000", "sz")
        px: Decimal | None = None
        if "px" in params and params["px"] not in (None, ""):
            px = parse_decimal(params["px"])
            if px is None or px <= 0:
                raise OkxError("51000", "px")
        reduce_only = _flag(params.get("reduceOnly"))
        if reduce_only is None:
            raise OkxError("51000", "reduceOnly")
        tgt_ccy = str(params.get("tgtCcy", ""))
        if tgt_ccy not in ("", "base_ccy", "quote_ccy"):
            raise OkxError("51000", "tgtCcy")
        try:
            order = self._validate(
                account, params, side, ord_type, td_mode, sz, px, cl_ord_id, tag,
                reduce_only, tgt_ccy, now_ms,
            )
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
        inst = self.instrument(str(params["instId"]), now_ms)
        if inst is None:
            raise _Reject("51001")
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
            if (side == "buy" and px > high) or (side == "sell" and px < low):
                raise _Reject("51006", render(high), render(low))
        quote_sized = not inst.derivative and ord_type == "market" and tgt_ccy == "quote_ccy"
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
            pos = account.positions.get(self._pos_key(account, inst, td_mode, pos_side))
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
                self._lever(account, inst, td_mode, pos_side)
            ),
            c_time=now_ms,
            u_time=now_ms,
            check_from=now_ms // 1000 + 1,
        )
        self._reserve(account, order, last, now_ms)
        order.ord_id = self._new_id(now_ms)
        return order

    def price_limits(self, inst: Instrument, now_ms: int) -> tuple[Decimal, Decimal]:
        """``(highest buy price, lowest sell price)`` accepted now (51006 beyond them)."""
        last = self.market.last(inst, now_ms / 1000)
        high = quantize_down(last * (1 + PRICE_BAND), inst.tick_sz)
        low = quantize_down(last * (1 - PRICE_BAND), inst.tick_sz) + inst.tick_sz
        return high, low

    def _pos_key(
        self, account: Account, inst: Instrument, mgn_mode: str, pos_side: str
    ) -> tuple[str, str, str]:
        side = pos_side if account.pos_mode == "long_short_mode" else "net"
        return (inst.inst_id, mgn_mode, side)

    def _opening_qty(self, account: Account, order: Order) -> Decimal:
        """Contracts of ``order`` that would open (not close) a position."""
        inst = order.instrument
        pos = account.positions.get(self._pos_key(account, inst, order.td_mode, order.pos_side))
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

    def _reserve(self, account: Account, order: Order, last: Decimal, now_ms: int) -> None:
        """Check funds for ``order`` and set what it freezes; raise 51008 when short."""
        inst = order.instrument
        if inst.derivative:
            opening = self._opening_qty(account, order)
            ref = order.px if order.px is not None else last
            lever = self._lever(account, inst, order.td_mode, order.pos_side)
            size = inst.ct_val
            unit = _money((size / ref if inst.inverse else size * ref) / lever)
            fee = _money(
                (opening * size / ref if inst.inverse else opening * size * ref) * DERIVATIVE_TAKER
            )
            need = unit * opening + fee
            figures = self._ccy_figures(account, inst.settle, now_ms)
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
        available = self._ccy_figures(account, ccy, now_ms)["availBal"]
        if need > available:
            raise _Reject("51008", ccy, "balance")
        if order.ord_type != "market":
            order.frozen = need
            order.frozen_ccy = ccy

    def _cost(self, inst: Instrument, order: Order, now_ms: int) -> Decimal:
        fills = self._take(inst, True, now_ms, None, qty=order.sz)
        return sum((px * sz for px, sz in fills), ZERO)

    def _base_for_quote(self, inst: Instrument, amount: Decimal, now_ms: int) -> Decimal:
        fills = self._take(inst, False, now_ms, None, budget=amount)
        return sum((sz for _, sz in fills), ZERO)

    def _take(
        self,
        inst: Instrument,
        buy: bool,
        now_ms: int,
        limit: Decimal | None,
        qty: Decimal | None = None,
        budget: Decimal | None = None,
    ) -> list[tuple[Decimal, Decimal]]:
        """Walk the synthetic book: the taker fills for a size (or a quote budget)."""
        asks, bids = self.market.book(inst, now_ms / 1000, BOOK_DEPTH)
        fills: list[tuple[Decimal, Decimal]] = []
        for level in asks if buy else bids:
            if limit is not None and (level.px > limit if buy else level.px < limit):
                break
            if qty is not None:
                take = min(qty, level.sz)
                qty -= take
            else:
                assert budget is not None
                take = min(level.sz, quantize_down(budget / level.px, inst.lot_sz))
                budget -= take * level.px
            if take <= 0:
                break
            fills.append((level.px, take))
            if (qty is not None and qty <= 0) or (budget is not None and budget <= 0):
                break
        return fills

    def _execute(self, account: Account, order: Order, now_ms: int) -> None:
        """Store a validated order, take what it can from the book, and rest the rest."""
        inst = order.instrument
        self.orders[order.ord_id] = order
        account.orders[order.ord_id] = order
        account.pending[order.ord_id] = order
        asks, bids = self.market.book(inst, now_ms / 1000, 1)
        crosses = order.px is not None and (
            (order.buy and order.px >= asks[0].px) or (not order.buy and order.px <= bids[0].px)
        )
        if order.ord_type == "post_only":
            if crosses:
                self._finish(
                    account, order, "canceled", now_ms, "31",
                    "The post-only order will take liquidity in maker orders",
                )
            return
        if order.ord_type == "market" and not inst.derivative and order.tgt_ccy == "quote_ccy":
            fills = self._take(inst, order.buy, now_ms, None, budget=order.sz)
        else:
            fills = self._take(inst, order.buy, now_ms, order.px, qty=order.sz)
        if order.ord_type == "fok" and sum((sz for _, sz in fills), ZERO) < order.sz:
            self._finish(account, order, "canceled", now_ms, "14", "FOK order was canceled")
            return
        for px, sz in fills:
            self._fill(account, order, px, sz, now_ms, maker=False)
        if not order.pending:
            return
        if order.ord_type in ("market", "ioc", "fok", "optimal_limit_ioc"):
            if order.ord_type == "market" and order.acc_fill_sz > 0 and (
                order.tgt_ccy == "quote_ccy" or order.acc_fill_sz >= order.sz
            ):
                self._finish(account, order, "filled", now_ms)
            else:
                self._finish(account, order, "canceled", now_ms, "14", "IOC order was canceled")

    def _finish(
        self,
        account: Account,
        order: Order,
        state: str,
        now_ms: int,
        source: str = "",
        reason: str = "",
    ) -> None:
        order.state = state
        order.u_time = now_ms
        order.frozen = ZERO
        account.pending.pop(order.ord_id, None)
        if state == "canceled":
            order.cancel_source = source
            order.cancel_reason = reason

    def _fill(
        self,
        account: Account,
        order: Order,
        px: Decimal,
        sz: Decimal,
        ts_ms: int,
        maker: bool,
    ) -> None:
        """Apply one fill of ``sz`` at ``px`` to the order, the account and the ledgers."""
        inst = order.instrument
        self._next_trade += 1
        pnl = ZERO
        if inst.derivative:
            rate = DERIVATIVE_MAKER if maker else DERIVATIVE_TAKER
            size = sz * inst.ct_val
            fee = _money((size / px if inst.inverse else size * px) * rate)
            self._move(account, inst.settle, -fee, to_fees=True)
            pnl = self._apply_position(account, order, sz, px, ts_ms, fee)
            self._move(account, inst.settle, pnl)
            order.pnl += pnl
            order.fee_ccy = inst.settle
            order.frozen = max(ZERO, order.frozen - order.margin_unit * sz)
        else:
            rate = SPOT_MAKER if maker else SPOT_TAKER
            cost = px * sz
            if order.buy:
                fee = _money(sz * rate)
                self._move(account, inst.quote, -cost)
                self._move(account, inst.base, sz)
                self._move(account, inst.base, -fee, to_fees=True)
                order.fee_ccy = inst.base
                if order.px is not None:
                    order.frozen = max(ZERO, order.frozen - order.px * sz)
            else:
                fee = _money(cost * rate)
                self._move(account, inst.base, -sz)
                self._move(account, inst.quote, cost)
                self._move(account, inst.quote, -fee, to_fees=True)
                order.fee_ccy = inst.quote
                order.frozen = max(ZERO, order.frozen - sz)
        order.fee -= fee
        kind = "5" if order.category == "full_liquidation" else "2"
        side = "1" if order.buy else "2"
        trade = {"order": order, "trade_id": self._next_trade, "px": px, "sz": sz,
                 "exec_type": "M" if maker else "T", "mgn_mode": order.td_mode}
        if inst.derivative:
            self._bill(account, inst.settle, pnl - fee, kind, side, ts_ms, inst,
                       fee=-fee, pnl=pnl, **trade)
        elif order.buy:
            self._bill(account, inst.quote, -px * sz, kind, side, ts_ms, inst, **trade)
            self._bill(account, inst.base, sz - fee, kind, side, ts_ms, inst, fee=-fee, **trade)
        else:
            self._bill(account, inst.base, -sz, kind, side, ts_ms, inst, **trade)
            self._bill(account, inst.quote, px * sz - fee, kind, side, ts_ms, inst, fee=-fee,
                       **trade)
        account.fills.append(
            Fill(
                bill_id=self._new_id(ts_ms),
                trade_id=self._next_trade,
                order=order,
                px=px,
                sz=sz,
                fee=fee,
                fee_ccy=order.fee_ccy,
                pnl=pnl,
                maker=maker,
                ts=ts_ms,
            )
        )
        order.acc_fill_sz += sz
        order.notional += px * sz
        order.inverse_notional += sz / px
        order.fill_sz = sz
        order.fill_px = px
        order.fill_time = ts_ms
        order.trade_id = self._next_trade
        order.u_time = ts_ms
        account.u_time = ts_ms
        quote_sized = order.ord_type == "market" and order.tgt_ccy == "quote_ccy"
        if not quote_sized and order.acc_fill_sz >= order.sz:
            self._finish(account, order, "filled", ts_ms)
        elif order.pending:
            order.state = "partially_filled"

    def _bill(
        self,
        account: Account,
        ccy: str,
        change: Decimal,
        kind: str,
        sub_type: str,
        ts_ms: int,
        inst: Instrument | None,
        **details: Any,
    ) -> None:
        """Record a change of ``ccy`` that has already been applied to the account's cash."""
        account.bills.append(
            Bill(
                bill_id=self._new_id(ts_ms),
                ccy=ccy,
                bal_chg=change,
                bal=account.cash.get(ccy, ZERO),
                kind=kind,
                sub_type=sub_type,
                ts=ts_ms,
                inst=inst,
                **details,
            )
        )

    def _apply_position(
        self, account: Account, order: Order, sz: Decimal, px: Decimal, ts_ms: int, fee: Decimal
    ) -> Decimal:
        """Move the position by a fill; return the realised PnL (before fees)."""
        inst = order.instrument
        key = self._pos_key(account, inst, order.td_mode, order.pos_side)
        pos = account.positions.get(key)
        if pos is None:
            pos = Position(
                pos_id=self._new_id(ts_ms),
                instrument=inst,
                mgn_mode=order.td_mode,
                pos_side=key[2],
                c_time=ts_ms,
                funded_until=ts_ms,
            )
            account.positions[key] = pos
        signed = sz if order.buy else -sz
        pnl = ZERO
        flipped = False
        if pos.qty == 0 or (pos.qty > 0) == (signed > 0):
            total = abs(pos.qty) + sz
            if inst.inverse:
                denominator = (abs(pos.qty) / pos.avg_px if pos.qty else ZERO) + sz / px
                pos.avg_px = (total / denominator).quantize(_AVG)
            else:
                pos.avg_px = ((abs(pos.qty) * pos.avg_px + sz * px) / total).quantize(_AVG)
            if pos.qty == 0:
                pos.c_time = ts_ms
                pos.funded_until = ts_ms
            pos.qty += signed
            pos.open_max = max(pos.open_max, abs(pos.qty))
        else:
            closing = min(sz, abs(pos.qty))
            direction = 1 if pos.qty > 0 else -1
            if inst.inverse:
                pnl = _money(closing * inst.ct_val * (1 / pos.avg_px - 1 / px) * direction)
            else:
                pnl = _money(closing * inst.ct_val * (px - pos.avg_px) * direction)
            pos.closed += closing
            pos.close_value += closing / px if inst.inverse else closing * px
            pos.qty += signed
            flipped = pos.qty != 0 and (pos.qty > 0) != (direction > 0)
        pos.pnl += pnl
        pos.fee -= fee
        pos.realized_pnl += pnl - fee
        pos.u_time = ts_ms
        pos.trade_id = self._next_trade
        pos.version += 1
        pos.check_from = ts_ms // 1000 + 1
        if pos.qty == 0 or flipped:
            kind = "3" if order.category == "full_liquidation" else "2"
            self._record_closed(account, pos, kind, ts_ms, signed)
        if flipped:
            pos.avg_px = px
            pos.c_time = ts_ms
            pos.funded_until = ts_ms
            pos.open_max = abs(pos.qty)
        if pos.qty == 0:
            del account.positions[key]
        return pnl

    def _record_closed(
        self, account: Account, pos: Position, kind: str, ts_ms: int, closing_sign: Decimal
    ) -> None:
        """Add a closed position to positions-history and start the next one afresh."""
        inst = pos.instrument
        if inst.inverse:
            close_avg = pos.closed / pos.close_value if pos.close_value else ZERO
        else:
            close_avg = pos.close_value / pos.closed if pos.closed else ZERO
        long = closing_sign < 0
        margin = abs(pos.closed) * inst.ct_val
        margin = (margin / pos.avg_px if inst.inverse else margin * pos.avg_px) / self._lever(
            account, inst, pos.mgn_mode, pos.pos_side
        )
        account.closed_positions.append(
            {
                "cTime": str(pos.c_time),
                "ccy": inst.settle,
                "closeAvgPx": render(close_avg.quantize(_AVG)),
                "closeTotalPos": render(pos.closed),
                "direction": "long" if long else "short",
                "fee": render(pos.fee),
                "fundingFee": render(pos.funding_fee),
                "instId": inst.inst_id,
                "instType": inst.inst_type,
                "lever": render(self._lever(account, inst, pos.mgn_mode, pos.pos_side)),
                "liqPenalty": "0",
                "mgnMode": pos.mgn_mode,
                "nonSettleAvgPx": "",
                "openAvgPx": render(pos.avg_px),
                "openMaxPos": render(pos.open_max),
                "pnl": render(pos.pnl),
                "pnlRatio": render(_money(pos.realized_pnl / margin)) if margin else "0",
                "posId": str(pos.pos_id),
                "posSide": pos.pos_side,
                "realizedPnl": render(pos.realized_pnl),
                "settledPnl": "",
                "triggerPx": "",
                "type": kind,
                "uTime": str(ts_ms),
                "uly": inst.family,
            }
        )
        pos.pnl = pos.fee = pos.realized_pnl = pos.funding_fee = ZERO
        pos.closed = pos.close_value = ZERO

    def positions_history(
        self, key: str, filters: Mapping[str, str], after: int | None, before: int | None,
        limit: int, now_ms: int,
    ) -> list[dict[str, Any]]:
        """GET /account/positions-history rows (3 months), newest first by uTime; ``after``
        and ``before`` are exclusive uTime cursors in ms."""
        self.advance(now_ms)
        horizon = now_ms - 90 * _DAY_MS
        rows = []
        for row in self.accounts[key].closed_positions:
            moment = int(row["uTime"])
            if moment < horizon:
                continue
            if any(
                filters.get(name) and row[name] != filters[name]
                for name in ("instType", "instId", "mgnMode", "type", "posId")
            ):
                continue
            if after is not None and moment >= after:
                continue
            if before is not None and moment <= before:
                continue
            rows.append(row)
        if before is not None and after is None:
            rows = rows[:limit]
        rows.sort(key=lambda r: int(r["uTime"]), reverse=True)
        return rows[:limit]

    # -- cancelling ------------------------------------------------------------------------

    def cancel(self, key: str, params: Mapping[str, Any], now_ms: int) -> dict[str, str]:
        """Cancel one order; return OKX's per-order result item."""
        self.advance(now_ms)
        account = self.accounts[key]
        if params.get("instId") in (None, ""):
            raise OkxError("50014", "instId")
        ord_id = str(params.get("ordId", ""))
        cl_ord_id = str(params.get("clOrdId", ""))
        if not ord_id and not cl_ord_id:
            raise OkxError("50015", "ordId", "clOrdId")
        order = self.find(key, str(params["instId"]), ord_id, cl_ord_id, now_ms)
        if order is None:
            return _item(ord_id, cl_ord_id, "", now_ms, "51400", message("51400"))
        if order.state == "canceled":
            return _item(str(order.ord_id), order.cl_ord_id, "", now_ms, "51401", message("51401"))
        if order.state == "filled":
            return _item(str(order.ord_id), order.cl_ord_id, "", now_ms, "51402", message("51402"))
        self._finish(account, order, "canceled", now_ms, "1", "Order canceled by user")
        return _item(str(order.ord_id), order.cl_ord_id, "", now_ms, "0", "")

    # -- amending and closing ---------------------------------------------------------------

    def amend(self, key: str, params: Mapping[str, Any], now_ms: int) -> dict[str, str]:
        """Change the price and/or size of a pending order (POST /trade/amend-order)."""
        self.advance(now_ms)
        account = self.accounts[key]
        inst_id = params.get("instId")
        if inst_id in (None, ""):
            raise OkxError("50014", "instId")
        ord_id = str(params.get("ordId", ""))
        cl_ord_id = str(params.get("clOrdId", ""))
        req_id = str(params.get("reqId", ""))
        if not ord_id and not cl_ord_id:
            raise OkxError("50015", "ordId", "clOrdId")
        new_sz = parse_decimal(params["newSz"]) if "newSz" in params else None
        new_px = parse_decimal(params["newPx"]) if "newPx" in params else None
        if "newSz" not in params and "newPx" not in params:
            raise OkxError("51500")
        if ("newSz" in params and (new_sz is None or new_sz <= 0)) or (
            "newPx" in params and (new_px is None or new_px <= 0)
        ):
            raise OkxError("51000", "newSz" if "newSz" in params else "newPx")

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

        order = self.find(key, str(inst_id), ord_id, cl_ord_id, now_ms)
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
        if inst.derivative:
            lever = self._lever(account, inst, order.td_mode, order.pos_side)
            unit = _money((inst.ct_val / px if inst.inverse else inst.ct_val * px) / lever)
            need = unit * remaining if order.frozen > 0 else ZERO
            ccy = inst.settle
            spare = min(
                self._ccy_figures(account, ccy, now_ms)["availEq"],
                self._ccy_figures(account, ccy, now_ms)["availBal"],
            )
        else:
            unit = ZERO
            need = px * remaining if order.buy else remaining
            ccy = inst.quote if order.buy else inst.base
            spare = self._ccy_figures(account, ccy, now_ms)["availBal"]
        if need > spare + order.frozen:
            return item(str(order.ord_id), "51502", message("51502"))
        order.px, order.sz, order.frozen, order.u_time = px, sz, need, now_ms
        if inst.derivative:
            order.margin_unit = unit
        order.check_from = now_ms // 1000 + 1
        asks, bids = self.market.book(inst, now_ms / 1000, 1)
        if (order.buy and px >= asks[0].px) or (not order.buy and px <= bids[0].px):
            if order.ord_type == "post_only":
                self._finish(
                    account, order, "canceled", now_ms, "31",
                    "The post-only order will take liquidity in maker orders",
                )
            else:
                for fill_px, fill_sz in self._take(inst, order.buy, now_ms, px, qty=remaining):
                    self._fill(account, order, fill_px, fill_sz, now_ms, maker=False)
        return item(str(order.ord_id), "0", "")

    def close_position(self, key: str, params: Mapping[str, Any], now_ms: int) -> dict[str, str]:
        """Close a whole position at market (POST /trade/close-position)."""
        self.advance(now_ms)
        account = self.accounts[key]
        if params.get("instId") in (None, ""):
            raise OkxError("50014", "instId")
        if params.get("mgnMode") in (None, ""):
            raise OkxError("50014", "mgnMode")
        inst = self.instrument(str(params["instId"]), now_ms)
        if inst is None:
            raise OkxError("51001")
        mgn_mode = str(params["mgnMode"])
        pos_side = str(params.get("posSide", ""))
        if account.pos_mode == "long_short_mode":
            if pos_side not in ("long", "short"):
                raise OkxError("51000", "posSide")
        elif pos_side not in ("", "net"):
            raise OkxError("51000", "posSide")
        pos = account.positions.get(self._pos_key(account, inst, mgn_mode, pos_side or "net"))
        if pos is None:
            raise OkxError("51023")
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
        result = self.place(key, order, now_ms)
        if result["sCode"] != "0":
            raise OkxError(result["sCode"], msg=result["sMsg"])
        return {
            "clOrdId": str(params.get("clOrdId", "")),
            "instId": inst.inst_id,
            "posSide": pos_side or "net",
            "tag": str(params.get("tag", "")),
        }

    # -- queries ---------------------------------------------------------------------------

    def _visible(self, order: Order, now_ms: int) -> bool:
        if order.state == "canceled" and order.acc_fill_sz == 0:
            return order.u_time >= now_ms - 2 * _HOUR_MS
        return order.c_time >= now_ms - 90 * _DAY_MS

    def find(
        self, key: str, inst_id: str, ord_id: str, cl_ord_id: str, now_ms: int
    ) -> Order | None:
        """The order by ``ordId`` (preferred) or latest by ``clOrdId``, on ``inst_id``."""
        self.advance(now_ms)
        account = self.accounts[key]
        if ord_id:
            try:
                order = account.orders.get(int(ord_id))
            except ValueError:
                return None
            if order is None or order.instrument.inst_id != inst_id:
                return None
            return order if self._visible(order, now_ms) else None
        matches = [
            o
            for o in account.orders.values()
            if o.cl_ord_id == cl_ord_id
            and o.instrument.inst_id == inst_id
            and self._visible(o, now_ms)
        ]
        return max(matches, key=lambda o: o.ord_id) if matches else None

    def list_orders(
        self,
        key: str,
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
        self.advance(now_ms)
        account = self.accounts[key]
        source: Iterable[Order]
        source = account.pending.values() if kind == "pending" else account.orders.values()
        ord_types = filters.get("ordType", "").split(",") if filters.get("ordType") else None
        rows = []
        for order in source:
            inst = order.instrument
            if kind != "pending":
                if order.pending or not self._visible(order, now_ms):
                    continue
                if kind == "history" and order.c_time < now_ms - 7 * _DAY_MS:
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
        return _newest_page(
            rows, lambda o: o.ord_id, lambda o: o.c_time, filters, after, before, limit
        )

    def fills(
        self,
        key: str,
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
        self.advance(now_ms)
        horizon = now_ms - (90 if history else 3) * _DAY_MS
        rows = []
        for fill in self.accounts[key].fills:
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
        return _newest_page(
            rows, lambda f: f.bill_id, lambda f: f.ts, filters, after, before, limit
        )

    def bills(
        self,
        key: str,
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
        self.advance(now_ms)
        horizon = now_ms - (90 if archive else 7) * _DAY_MS
        rows = []
        for bill in self.accounts[key].bills:
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
        return _newest_page(
            rows, lambda b: b.bill_id, lambda b: b.ts, filters, after, before, limit
        )

    def balance(self, key: str, ccys: Sequence[str], now_ms: int) -> dict[str, Any]:
        """The one-element ``data`` of GET /account/balance."""
        self.advance(now_ms)
        account = self.accounts[key]
        names = set(account.cash)
        for pos in account.positions.values():
            names.add(pos.instrument.settle)
        if ccys:
            names &= set(ccys)
        details = []
        total = ZERO
        total_upl = ZERO
        total_imr = ZERO
        total_frozen = ZERO
        for ccy in sorted(names):
            f = self._ccy_figures(account, ccy, now_ms)
            if f["cash"] == 0 and f["frozen"] == 0 and f["upl"] == 0 and ccy not in ccys:
                continue
            usd = self.usd_price(ccy, now_ms)
            eq_usd = _money(f["eq"] * usd)
            total += eq_usd
            total_upl += _money(f["upl"] * usd)
            total_imr += _money(f["imr"] * usd)
            total_frozen += _money(f["ordFrozen"] * usd)
            details.append(
                {
                    "accAvgPx": "",
                    "autoLendStatus": "off",
                    "availBal": render(f["availBal"]),
                    "availEq": render(f["availEq"]),
                    "borrowFroz": "",
                    "cashBal": render(f["cash"]),
                    "ccy": ccy,
                    "clSpotInUseAmt": "",
                    "colBorrAutoConversion": "0",
                    "collateralEnabled": False,
                    "collateralRestrict": False,
                    "crossLiab": "",
                    "disEq": render(eq_usd),
                    "eq": render(f["eq"]),
                    "eqUsd": render(eq_usd),
                    "fixedBal": "0",
                    "frozenBal": render(f["frozen"]),
                    "imr": render(f["imr"]),
                    "interest": "",
                    "isoEq": "0",
                    "isoLiab": "",
                    "isoUpl": "0",
                    "liab": "",
                    "maxLoan": "",
                    "maxSpotInUse": "",
                    "mgnRatio": "",
                    "mmr": "",
                    "notionalLever": "",
                    "openAvgPx": "",
                    "ordFrozen": render(f["ordFrozen"]),
                    "rewardBal": "0",
                    "smtSyncEq": "0",
                    "spotBal": "",
                    "spotCopyTradingEq": "0",
                    "spotInUseAmt": "",
                    "spotIsoBal": "0",
                    "spotUpl": "",
                    "spotUplRatio": "",
                    "stgyEq": "0",
                    "totalPnl": "",
                    "totalPnlRatio": "",
                    "twap": "0",
                    "uTime": str(account.u_time),
                    "upl": render(f["upl"]),
                    "uplLiab": "",
                }
            )
        return {
            "adjEq": "",
            "availEq": "",
            "borrowFroz": "",
            "details": details,
            "imr": render(total_imr),
            "isoEq": "0",
            "mgnRatio": "",
            "mmr": "",
            "notionalUsd": "",
            "notionalUsdForBorrow": "",
            "notionalUsdForFutures": "",
            "notionalUsdForOption": "",
            "notionalUsdForSwap": "",
            "ordFroz": render(total_frozen),
            "totalEq": render(total),
            "uTime": str(now_ms),
            "upl": render(total_upl),
        }

    def max_size(
        self, key: str, inst: Instrument, td_mode: str, px: Decimal | None, now_ms: int
    ) -> dict[str, str]:
        """One row of GET /account/max-size and /account/max-avail-size, combined."""
        self.advance(now_ms)
        account = self.accounts[key]
        price = px if px is not None else self.market.last(inst, now_ms / 1000)
        if not inst.derivative:
            quote = self._ccy_figures(account, inst.quote, now_ms)["availBal"]
            base = self._ccy_figures(account, inst.base, now_ms)["availBal"]
            return {
                "ccy": inst.quote,
                "instId": inst.inst_id,
                "maxBuy": render(quantize_down(max(ZERO, quote) / price, inst.lot_sz)),
                "maxSell": render(quantize_down(max(ZERO, base), inst.lot_sz)),
                "availBuy": render(max(ZERO, quote)),
                "availSell": render(max(ZERO, base)),
            }
        figures = self._ccy_figures(account, inst.settle, now_ms)
        free = max(ZERO, min(figures["availEq"], figures["availBal"]))
        lever = self._lever(account, inst, td_mode, "long")
        value = inst.ct_val / price if inst.inverse else inst.ct_val * price
        per_contract = _money(value / lever) + value * DERIVATIVE_TAKER
        contracts = quantize_down(free / per_contract, inst.lot_sz)
        while contracts > 0 and (
            _money(value / lever) * contracts + _money(contracts * value * DERIVATIVE_TAKER)
            > free
        ):
            contracts -= inst.lot_sz
        return {
            "ccy": inst.settle,
            "instId": inst.inst_id,
            "maxBuy": render(contracts),
            "maxSell": render(contracts),
            "availBuy": render(free),
            "availSell": render(free),
        }

    def positions(
        self, key: str, inst_type: str, inst_ids: Sequence[str], now_ms: int
    ) -> list[dict[str, Any]]:
        """Rows of GET /account/positions, newest first."""
        self.advance(now_ms)
        account = self.accounts[key]
        rows = []
        for pos in sorted(account.positions.values(), key=lambda p: p.c_time, reverse=True):
            inst = pos.instrument
            if inst_type and inst.inst_type != inst_type:
                continue
            if inst_ids and inst.inst_id not in inst_ids:
                continue
            rows.append(self.position_json(account, pos, now_ms))
        return rows

    def position_json(self, account: Account, pos: Position, now_ms: int) -> dict[str, Any]:
        """One position object."""
        inst = pos.instrument
        mark = self.market.last(inst, now_ms / 1000)
        upl = self._upl(pos, mark)
        margin = self._margin(account, pos)
        lever = self._lever(account, inst, pos.mgn_mode, pos.pos_side)
        size = abs(pos.qty) * inst.ct_val
        notional_usd = size if inst.inverse else size * mark
        ratio = upl / margin if margin else ZERO
        shown = pos.qty if pos.pos_side == "net" else abs(pos.qty)
        isolated = pos.mgn_mode == "isolated"
        liq_px = render(self.liquidation_px(account, pos)) if isolated else ""
        return {
            "adl": "1",
            "availPos": render(abs(pos.qty)) if pos.pos_side != "net" else "",
            "avgPx": render(pos.avg_px),
            "baseBal": "",
            "baseBorrowed": "",
            "baseInterest": "",
            "bePx": "",
            "bizRefId": "",
            "bizRefType": "",
            "cTime": str(pos.c_time),
            "ccy": inst.settle,
            "closeOrderAlgo": [],
            "deltaBS": "",
            "deltaPA": "",
            "fee": render(pos.fee),
            "fundingFee": render(pos.funding_fee),
            "gammaBS": "",
            "gammaPA": "",
            "idxPx": render(mark),
            "imr": render(margin) if pos.mgn_mode == "cross" else "",
            "instId": inst.inst_id,
            "instType": inst.inst_type,
            "interest": "",
            "last": render(mark),
            "lever": render(lever),
            "liab": "",
            "liabCcy": "",
            "liqPenalty": "0",
            "liqPx": liq_px,
            "margin": render(margin) if pos.mgn_mode == "isolated" else "",
            "markPx": render(mark),
            "mgnMode": pos.mgn_mode,
            "mgnRatio": "",
            "mmr": render(_money(margin / 2)),
            "notionalUsd": render(_money(notional_usd)),
            "optVal": "",
            "pendingCloseOrdLiabVal": "",
            "pnl": render(pos.pnl),
            "pos": render(shown),
            "posCcy": "",
            "posId": str(pos.pos_id),
            "posSide": pos.pos_side,
            "quoteBal": "",
            "quoteBorrowed": "",
            "quoteInterest": "",
            "realizedPnl": render(pos.realized_pnl),
            "spotInUseAmt": "",
            "spotInUseCcy": "",
            "thetaBS": "",
            "thetaPA": "",
            "tradeId": str(pos.trade_id),
            "uTime": str(pos.u_time),
            "upl": render(upl),
            "uplLastPx": render(upl),
            "uplRatio": render(_money(ratio)),
            "uplRatioLastPx": render(_money(ratio)),
            "usdPx": "",
            "vegaBS": "",
            "vegaPA": "",
        }

    # -- account settings ------------------------------------------------------------------

    def config(self, key: str) -> dict[str, Any]:
        """The one-element ``data`` of GET /account/config."""
        account = self.accounts[key]
        return {
            "acctLv": "2",
            "acctStpMode": "cancel_maker",
            "autoLoan": False,
            "ctIsoMode": "automatic",
            "enableSpotBorrow": False,
            "greeksType": "PA",
            "ip": "",
            "kycLv": "2",
            "label": "okxsim",
            "level": "Lv1",
            "levelTmp": "",
            "liquidationGear": "-1",
            "mainUid": account.uid,
            "mgnIsoMode": "automatic",
            "opAuth": "0",
            "perm": "read_only,trade",
            "posMode": account.pos_mode,
            "roleType": "0",
            "spotBorrowAutoRepay": False,
            "spotOffsetType": "",
            "spotRoleType": "0",
            "spotTraderInsts": [],
            "traderInsts": [],
            "type": "0",
            "uid": account.uid,
        }

    def set_position_mode(self, key: str, mode: str, now_ms: int) -> None:
        """Switch between ``net_mode`` and ``long_short_mode`` (59000 with positions/orders)."""
        self.advance(now_ms)
        account = self.accounts[key]
        if mode not in ("net_mode", "long_short_mode"):
            raise OkxError("51000", "posMode")
        if mode == account.pos_mode:
            return
        busy = account.positions or any(
            o.instrument.derivative for o in account.pending.values()
        )
        if busy:
            raise OkxError("59000")
        account.pos_mode = mode
        account.levers.clear()

    def set_leverage(
        self, key: str, params: Mapping[str, Any], now_ms: int
    ) -> dict[str, str]:
        """POST /account/set-leverage for one instrument."""
        self.advance(now_ms)
        account = self.accounts[key]
        for name in ("lever", "mgnMode"):
            if params.get(name) in (None, ""):
                raise OkxError("50014", name)
        mgn_mode = str(params["mgnMode"])
        if mgn_mode not in ("cross", "isolated"):
            raise OkxError("51000", "mgnMode")
        lever = parse_decimal(params["lever"])
        if lever is None or lever < 1 or lever != lever.quantize(Decimal("0.01")):
            raise OkxError("51000", "lever")
        if params.get("instId") in (None, ""):
            raise OkxError("50014", "instId")
        inst = self.instrument(str(params["instId"]), now_ms)
        if inst is None:
            raise OkxError("51001")
        if not inst.derivative:
            raise OkxError("51000", "instId")
        if lever > inst.max_lever:
            raise OkxError("59102")
        pos_side = str(params.get("posSide", ""))
        if account.pos_mode == "long_short_mode":
            if mgn_mode == "isolated":
                if pos_side not in ("long", "short"):
                    raise OkxError("51000", "posSide")
                sides = [pos_side]
            else:
                sides = ["long", "short"]
        else:
            sides = ["net"]
        for side in sides:
            account.levers[(inst.inst_id, mgn_mode, side)] = lever.normalize()
        return {
            "instId": inst.inst_id,
            "lever": render(lever),
            "mgnMode": mgn_mode,
            "posSide": pos_side,
        }

    def leverage_info(
        self, key: str, mgn_mode: str, inst_ids: Sequence[str], now_ms: int
    ) -> list[dict[str, str]]:
        """Rows of GET /account/leverage-info."""
        account = self.accounts[key]
        if mgn_mode not in ("cross", "isolated"):
            raise OkxError("51000", "mgnMode")
        rows = []
        for inst_id in inst_ids:
            inst = self.instrument(inst_id, now_ms)
            if inst is None:
                raise OkxError("51001")
            sides = ["long", "short"] if account.pos_mode == "long_short_mode" else ["net"]
            for side in sides:
                lever = self._lever(account, inst, mgn_mode, side)
                rows.append(
                    {
                        "ccy": "",
                        "instId": inst.inst_id,
                        "lever": render(lever),
                        "mgnMode": mgn_mode,
                        "posSide": side,
                    }
                )
        return rows

    # -- time ------------------------------------------------------------------------------

    def advance(self, now_ms: int) -> None:
        """
        Bring the state up to ``now_ms``: fill resting orders the walk reached, settle
        funding and deliver expired futures, all in time order.

        Time is walked one funding period at a time, so a position opened by a resting
        order between two settlements pays the next one, and one closed before it does not.
        """
        while self._clock_ms < now_ms:
            boundary = (self._clock_ms // _FUNDING_MS + 1) * _FUNDING_MS
            self._advance_to(min(boundary, now_ms), settle=boundary <= now_ms)
        self._purge(now_ms)

    def _touches(self, order: Order, target_s: int) -> list[tuple[int, Decimal]]:
        """
        The maker fills a resting order gets from the tape up to second ``target_s``: a trade
        through its price fills all that is left; a trade at its price fills at most that
        trade's size, so an order can stay partially filled.
        """
        assert order.px is not None
        inst = order.instrument
        remaining = order.sz - order.acc_fill_sz
        start = order.check_from
        fills: list[tuple[int, Decimal]] = []
        while remaining > 0 and start <= target_s:
            second = self.market.first_touch(inst, start, target_s + 1, order.px, order.buy)
            if second is None:
                break
            trade = self.market.trade(inst, second)
            through = trade.px < order.px if order.buy else trade.px > order.px
            qty = remaining if through else min(remaining, trade.sz)
            fills.append((second, qty))
            remaining -= qty
            start = second + 1
        order.check_from = target_s + 1 if remaining > 0 else start
        return fills

    def _advance_to(self, target_ms: int, settle: bool) -> None:
        """Apply fills and expiries up to ``target_ms``; then funding if it is a settlement."""
        target_s = target_ms // 1000
        events: list[tuple[int, int, int, str, Any]] = []
        for account in self.accounts.values():
            for order in account.pending.values():
                exp = order.instrument.exp_time_ms
                if exp and exp <= target_ms:
                    events.append((exp, 0, order.ord_id, "expire-order", (account, order)))
                if order.px is None or order.check_from > target_s:
                    continue
                for second, qty in self._touches(order, target_s):
                    events.append((second * 1000, 1, order.ord_id, "fill", (account, order, qty)))
            for pos in account.positions.values():
                exp = pos.instrument.exp_time_ms
                if exp and exp <= target_ms:
                    events.append((exp, 2, pos.pos_id, "deliver", (account, pos)))
                if pos.mgn_mode == "isolated" and pos.check_from <= target_s:
                    liq = self.liquidation_px(account, pos)
                    hit = self.market.first_touch(
                        pos.instrument, pos.check_from, target_s + 1, liq, pos.qty > 0
                    )
                    if hit is None:
                        pos.check_from = target_s + 1
                    else:
                        payload = (account, pos, pos.version, liq)
                        events.append((hit * 1000, 1, pos.pos_id, "liquidate", payload))
        self._clock_ms = target_ms
        events.sort(key=lambda e: e[:3])
        for moment, _, _, kind, payload in events:
            if kind == "fill":
                account, order, qty = payload
                if order.pending:
                    self._maker_fill(account, order, moment, qty)
            elif kind == "expire-order":
                account, order = payload
                if order.pending:
                    self._finish(account, order, "canceled", moment, "6", "Contract expired")
            elif kind == "liquidate":
                account, pos, version, liq = payload
                self._liquidate(account, pos, version, liq, moment)
            else:
                account, pos = payload
                self._deliver(account, pos)
        if settle:
            for account in self.accounts.values():
                for pos in list(account.positions.values()):
                    if pos.instrument.inst_type == "SWAP":
                        self._settle_funding(account, pos, target_ms)

    def _maker_fill(self, account: Account, order: Order, moment: int, qty: Decimal) -> None:
        """Fill a resting order as maker; a reduce-only order never outgrows its position."""
        assert order.px is not None
        qty = min(qty, order.sz - order.acc_fill_sz)
        inst = order.instrument
        clamped = False
        if inst.derivative and order.reduce_only:
            key = self._pos_key(account, inst, order.td_mode, order.pos_side)
            pos = account.positions.get(key)
            held = pos.qty if pos else ZERO
            closable = abs(held) if (held < 0 if order.buy else held > 0) else ZERO
            if closable < qty:
                qty, clamped = closable, True
        if qty > 0:
            self._fill(account, order, order.px, qty, moment, maker=True)
        if clamped and order.pending:
            self._finish(account, order, "canceled", moment, "13", "Reduce-only order canceled")

    def liquidation_px(self, account: Account, pos: Position) -> Decimal:
        """
        The price at which an isolated position is liquidated: where its loss reaches half
        its margin (the simulator's maintenance margin), rounded to the tick against the
        holder.
        """
        inst = pos.instrument
        lever = self._lever(account, inst, pos.mgn_mode, pos.pos_side)
        cushion = 1 / (2 * lever)
        long = pos.qty > 0
        if inst.inverse:
            price = pos.avg_px / (1 + cushion) if long else pos.avg_px / (1 - cushion)
        else:
            price = pos.avg_px * (1 - cushion) if long else pos.avg_px * (1 + cushion)
        floor = quantize_down(price, inst.tick_sz)
        if long or floor == price:
            return max(floor, inst.tick_sz)
        return floor + inst.tick_sz

    def _liquidate(
        self, account: Account, pos: Position, version: int, price: Decimal, moment: int
    ) -> None:
        """Close an isolated position at its liquidation price with a liquidation order."""
        inst = pos.instrument
        key = (inst.inst_id, pos.mgn_mode, pos.pos_side)
        if account.positions.get(key) is not pos or pos.version != version:
            return
        order = Order(
            ord_id=self._new_id(moment),
            account=account.spec.key,
            instrument=inst,
            side="sell" if pos.qty > 0 else "buy",
            ord_type="market",
            td_mode=pos.mgn_mode,
            sz=abs(pos.qty),
            px=None,
            cl_ord_id="",
            tag="",
            pos_side=pos.pos_side,
            reduce_only=True,
            tgt_ccy="",
            lever=render(self._lever(account, inst, pos.mgn_mode, pos.pos_side)),
            c_time=moment,
            u_time=moment,
            check_from=moment // 1000 + 1,
            category="full_liquidation",
        )
        self.orders[order.ord_id] = order
        account.orders[order.ord_id] = order
        self._fill(account, order, price, order.sz, moment, maker=False)

    def _settle_funding(self, account: Account, pos: Position, moment: int) -> None:
        if account.positions.get((pos.instrument.inst_id, pos.mgn_mode, pos.pos_side)) is not pos:
            return
        if moment <= pos.funded_until:
            return
        inst = pos.instrument
        mark = self.market.last(inst, moment / 1000)
        rate = self.market.funding_rate(inst, moment)
        size = pos.qty * inst.ct_val
        payment = _money((size / mark if inst.inverse else size * mark) * rate)
        self._move(account, inst.settle, -payment)
        self._bill(account, inst.settle, -payment, "8", "173" if payment > 0 else "174",
                   moment, inst, mgn_mode=pos.mgn_mode, pnl=-payment)
        pos.funding_fee -= payment
        pos.realized_pnl -= payment
        pos.funded_until = moment
        pos.u_time = moment

    def _deliver(self, account: Account, pos: Position) -> None:
        key = (pos.instrument.inst_id, pos.mgn_mode, pos.pos_side)
        if account.positions.get(key) is not pos:
            return
        inst = pos.instrument
        price = self.market.last(inst, inst.exp_time_ms / 1000)
        direction = 1 if pos.qty > 0 else -1
        closing = abs(pos.qty)
        if inst.inverse:
            pnl = _money(closing * inst.ct_val * (1 / pos.avg_px - 1 / price) * direction)
        else:
            pnl = _money(closing * inst.ct_val * (price - pos.avg_px) * direction)
        self._move(account, inst.settle, pnl)
        self._bill(account, inst.settle, pnl, "3", "", inst.exp_time_ms, inst,
                   mgn_mode=pos.mgn_mode, pnl=pnl, px=price, sz=closing)
        pos.closed += closing
        pos.close_value += closing / price if inst.inverse else closing * price
        pos.pnl += pnl
        pos.realized_pnl += pnl
        self._record_closed(account, pos, "2", inst.exp_time_ms, Decimal(-direction))
        del account.positions[key]

    def _purge(self, now_ms: int) -> None:
        """Forget orders and fills past OKX's retention (at most once a simulated minute)."""
        if now_ms - self._purged_ms < 60_000:
            return
        self._purged_ms = now_ms
        for account in self.accounts.values():
            stale = [
                o.ord_id
                for o in account.orders.values()
                if not o.pending and not self._visible(o, now_ms)
            ]
            for ord_id in stale:
                del account.orders[ord_id]
                self.orders.pop(ord_id, None)
            horizon = now_ms - 90 * _DAY_MS
            if account.fills and account.fills[0].ts < horizon:
                account.fills = [f for f in account.fills if f.ts >= horizon]
            if account.bills and account.bills[0].ts < horizon:
                account.bills = [b for b in account.bills if b.ts >= horizon]
            account.closed_positions = [
                row for row in account.closed_positions if int(row["uTime"]) >= horizon
            ]

    # -- inspection ------------------------------------------------------------------------

    def state(self, now_ms: int) -> dict[str, Any]:
        """Everything, for GET /_sim/state."""
        self.advance(now_ms)
        orders = []
        for order in sorted(self.orders.values(), key=lambda o: o.ord_id, reverse=True):
            row = order.to_json()
            row["account"] = order.account
            orders.append(row)
        balances: dict[str, dict[str, dict[str, str]]] = {}
        positions: dict[str, list[dict[str, Any]]] = {}
        modes: dict[str, str] = {}
        for key, account in self.accounts.items():
            names = set(account.cash) | {p.instrument.settle for p in account.positions.values()}
            balances[key] = {}
            for ccy in sorted(names):
                f = self._ccy_figures(account, ccy, now_ms)
                balances[key][ccy] = {
                    "cashBal": render(f["cash"]),
                    "availBal": render(f["availBal"]),
                    "frozenBal": render(f["frozen"]),
                    "ordFrozen": render(f["ordFrozen"]),
                    "eq": render(f["eq"]),
                    "upl": render(f["upl"]),
                }
            positions[key] = [
                self.position_json(account, pos, now_ms) for pos in account.positions.values()
            ]
            modes[key] = account.pos_mode
        return {
            "ts": str(now_ms),
            "orders": orders,
            "balances": balances,
            "positions": positions,
            "posModes": modes,
            "house": {ccy: render(v) for ccy, v in sorted(self.house.items())},
            "fees": {ccy: render(v) for ccy, v in sorted(self.fees.items())},
        }


_Row = TypeVar("_Row")


def _newest_page(
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
