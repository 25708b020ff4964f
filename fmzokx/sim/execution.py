# -*- test-case-name: tests.sim.test_trading,tests.sim.test_conservation -*-
"""
Executions: what one fill does to an order, its account, its position and the ledgers,
and how an order reaches a final state.

Taker fills (from :mod:`fmzokx.sim.matching`), maker fills of resting orders and
liquidations (from :mod:`fmzokx.sim.timeline`) all go through :meth:`Executor.fill`, so
fees, bills and fills are recorded the same way whoever caused the trade.
"""

from __future__ import annotations

from decimal import Decimal

from fmzokx.sim.changes import Change, ChangeFeed
from fmzokx.sim.ledger import Ledger
from fmzokx.sim.model import (
    DERIVATIVE_MAKER,
    DERIVATIVE_TAKER,
    SPOT_MAKER,
    SPOT_TAKER,
    Account,
    Fill,
    Order,
)
from fmzokx.sim.numbers import ZERO, money
from fmzokx.sim.positions import PositionBook

__all__ = ["Executor"]


class Executor:
    """Applies fills and final states to orders."""

    def __init__(self, ledger: Ledger, positions: PositionBook) -> None:
        self.ledger = ledger
        self.positions = positions
        #: every change of an order, a balance or a position (the private WebSocket's source)
        self.changes = ChangeFeed()

    def finish(
        self,
        account: Account,
        order: Order,
        state: str,
        now_ms: int,
        source: str = "",
        reason: str = "",
    ) -> None:
        """Put ``order`` in a final state (``filled`` or ``canceled``) and release its funds."""
        self._finish(account, order, state, now_ms, source, reason)
        self.changes.emit(Change(account, "order", now_ms, order=order))

    @staticmethod
    def _finish(
        account: Account, order: Order, state: str, now_ms: int, source: str, reason: str
    ) -> None:
        order.state = state
        order.u_time = now_ms
        order.frozen = ZERO
        account.pending.pop(order.ord_id, None)
        if state == "canceled":
            order.cancel_source = source
            order.cancel_reason = reason

    def maker_fill(self, account: Account, order: Order, moment: int, qty: Decimal) -> None:
        """Fill a resting order as maker; a reduce-only order never outgrows its position."""
        assert order.px is not None
        qty = min(qty, order.sz - order.acc_fill_sz)
        inst = order.instrument
        clamped = False
        if inst.derivative and order.reduce_only:
            key = self.positions.key(account, inst, order.td_mode, order.pos_side)
            pos = account.positions.get(key)
            held = pos.qty if pos else ZERO
            closable = abs(held) if (held < 0 if order.buy else held > 0) else ZERO
            if closable < qty:
                qty, clamped = closable, True
        if qty > 0:
            self.fill(account, order, order.px, qty, moment, maker=True)
        if clamped and order.pending:
            self.finish(account, order, "canceled", moment, "13", "Reduce-only order canceled")

    def fill(
        self,
        account: Account,
        order: Order,
        px: Decimal,
        sz: Decimal,
        ts_ms: int,
        maker: bool,
    ) -> None:
        """Apply one fill of ``sz`` at ``px`` to the order, the account and the ledgers."""
        ledger = self.ledger
        inst = order.instrument
        trade_id = ledger.new_trade_id()
        pnl = ZERO
        held = None
        if inst.derivative:
            key = self.positions.key(account, inst, order.td_mode, order.pos_side)
            held = account.positions.get(key)
            rate = DERIVATIVE_MAKER if maker else DERIVATIVE_TAKER
            size = sz * inst.ct_val
            fee = money((size / px if inst.inverse else size * px) * rate)
            ledger.move(account, inst.settle, -fee, to_fees=True)
            pnl = self.positions.apply_fill(account, order, sz, px, ts_ms, fee, trade_id)
            ledger.move(account, inst.settle, pnl)
            order.pnl += pnl
            order.fee_ccy = inst.settle
            order.frozen = max(ZERO, order.frozen - order.margin_unit * sz)
        else:
            rate = SPOT_MAKER if maker else SPOT_TAKER
            cost = px * sz
            if order.buy:
                fee = money(sz * rate)
                ledger.move(account, inst.quote, -cost)
                ledger.move(account, inst.base, sz)
                ledger.move(account, inst.base, -fee, to_fees=True)
                order.fee_ccy = inst.base
                if order.px is not None:
                    order.frozen = max(ZERO, order.frozen - order.px * sz)
            else:
                fee = money(cost * rate)
                ledger.move(account, inst.base, -sz)
                ledger.move(account, inst.quote, cost)
                ledger.move(account, inst.quote, -fee, to_fees=True)
                order.fee_ccy = inst.quote
                order.frozen = max(ZERO, order.frozen - sz)
        order.fee -= fee
        kind = "5" if order.category == "full_liquidation" else "2"
        side = "1" if order.buy else "2"
        trade = {"order": order, "trade_id": trade_id, "px": px, "sz": sz,
                 "exec_type": "M" if maker else "T", "mgn_mode": order.td_mode}
        if inst.derivative:
            ledger.bill(account, inst.settle, pnl - fee, kind, side, ts_ms, inst,
                        fee=-fee, pnl=pnl, **trade)
        elif order.buy:
            ledger.bill(account, inst.quote, -px * sz, kind, side, ts_ms, inst, **trade)
            ledger.bill(account, inst.base, sz - fee, kind, side, ts_ms, inst, fee=-fee, **trade)
        else:
            ledger.bill(account, inst.base, -sz, kind, side, ts_ms, inst, **trade)
            ledger.bill(account, inst.quote, px * sz - fee, kind, side, ts_ms, inst, fee=-fee,
                        **trade)
        account.fills.append(
            Fill(
                bill_id=ledger.new_id(ts_ms),
                trade_id=trade_id,
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
        order.trade_id = trade_id
        order.u_time = ts_ms
        account.u_time = ts_ms
        quote_sized = order.ord_type == "market" and order.tgt_ccy == "quote_ccy"
        if not quote_sized and order.acc_fill_sz >= order.sz:
            self._finish(account, order, "filled", ts_ms, "", "")
        elif order.pending:
            order.state = "partially_filled"
        if inst.derivative:
            position = account.positions.get(key, held)
            ccys: tuple[str, ...] = (inst.settle,)
        else:
            position, ccys = None, (inst.base, inst.quote)
        self.changes.emit(
            Change(account, "liquidation" if kind == "5" else "filled", ts_ms, order=order,
                   trade_id=trade_id, position=position, ccys=ccys)
        )
