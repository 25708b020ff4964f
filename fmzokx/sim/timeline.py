# -*- test-case-name: tests.sim.test_derivatives,tests.sim.test_conservation -*-
"""
Simulated time: resting-order fills, cancels that take effect late (the read-after-write
lag), funding settlements, liquidations, futures delivery and the purge of old records,
applied in time order as the clock moves.

Resting orders are evaluated lazily: :meth:`Timeline.advance` asks the deterministic
market for the first second at which the trade tape reached each order's price since it
was last checked. Nothing here reads a clock: every call gets the time in ms.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fmzokx.sim.changes import Change
from fmzokx.sim.execution import Executor
from fmzokx.sim.ledger import Ledger
from fmzokx.sim.market import Market
from fmzokx.sim.model import Account, Order, Position
from fmzokx.sim.numbers import ZERO, money, render
from fmzokx.sim.paging import HOUR_MS, RETENTION_MS, visible
from fmzokx.sim.positions import PositionBook

__all__ = ["FUNDING_MS", "Timeline"]

FUNDING_MS = 8 * HOUR_MS
#: How often (in simulated time) old orders, fills and bills are forgotten.
_PURGE_EVERY_MS = 60_000


class Timeline:
    """Moves every account forward in time."""

    def __init__(
        self,
        market: Market,
        accounts: dict[str, Account],
        orders: dict[int, Order],
        ledger: Ledger,
        positions: PositionBook,
        executor: Executor,
        now_ms: int,
    ) -> None:
        self.market = market
        self.accounts = accounts
        self.orders = orders
        self.ledger = ledger
        self.positions = positions
        self.executor = executor
        self.reset(now_ms)

    def reset(self, now_ms: int) -> None:
        """Start the clock over at ``now_ms``."""
        #: everything up to this moment has been applied
        self.clock_ms = now_ms
        self._purged_ms = now_ms

    def advance(self, now_ms: int) -> None:
        """
        Bring the state up to ``now_ms``: fill resting orders the walk reached, settle
        funding and deliver expired futures, all in time order.

        Time is walked one funding period at a time, so a position opened by a resting
        order between two settlements pays the next one, and one closed before it does not.
        """
        while self.clock_ms < now_ms:
            boundary = (self.clock_ms // FUNDING_MS + 1) * FUNDING_MS
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
                if order.cancel_at and order.cancel_at <= target_ms:
                    # An accepted cancel under the read-after-write lag takes effect now;
                    # fills up to the same moment come first.
                    events.append((order.cancel_at, 2, order.ord_id, "cancel", (account, order)))
                if order.px is None or order.check_from > target_s:
                    continue
                for second, qty in self._touches(order, target_s):
                    events.append((second * 1000, 1, order.ord_id, "fill", (account, order, qty)))
            for pos in account.positions.values():
                exp = pos.instrument.exp_time_ms
                if exp and exp <= target_ms:
                    events.append((exp, 2, pos.pos_id, "deliver", (account, pos)))
                if pos.mgn_mode == "isolated" and pos.check_from <= target_s:
                    liq = self.positions.liquidation_px(account, pos)
                    hit = self.market.first_touch(
                        pos.instrument, pos.check_from, target_s + 1, liq, pos.qty > 0
                    )
                    if hit is None:
                        pos.check_from = target_s + 1
                    else:
                        payload = (account, pos, pos.version, liq)
                        events.append((hit * 1000, 1, pos.pos_id, "liquidate", payload))
        self.clock_ms = target_ms
        events.sort(key=lambda e: e[:3])
        for moment, _, _, kind, payload in events:
            if kind == "fill":
                account, order, qty = payload
                if order.pending:
                    self.executor.maker_fill(account, order, moment, qty)
            elif kind == "cancel":
                account, order = payload
                if order.pending:
                    self.executor.finish(account, order, "canceled", moment, "1",
                                         "Order canceled by user")
            elif kind == "expire-order":
                account, order = payload
                if order.pending:
                    self.executor.finish(account, order, "canceled", moment, "6",
                                         "Contract expired")
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

    def _liquidate(
        self, account: Account, pos: Position, version: int, price: Decimal, moment: int
    ) -> None:
        """Close an isolated position at its liquidation price with a liquidation order."""
        inst = pos.instrument
        key = (inst.inst_id, pos.mgn_mode, pos.pos_side)
        if account.positions.get(key) is not pos or pos.version != version:
            return
        lever = self.positions.lever(account, inst, pos.mgn_mode, pos.pos_side)
        order = Order(
            ord_id=self.ledger.new_id(moment),
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
            lever=render(lever),
            c_time=moment,
            u_time=moment,
            check_from=moment // 1000 + 1,
            category="full_liquidation",
        )
        self.orders[order.ord_id] = order
        account.orders[order.ord_id] = order
        self.executor.fill(account, order, price, order.sz, moment, maker=False)

    def _settle_funding(self, account: Account, pos: Position, moment: int) -> None:
        if account.positions.get((pos.instrument.inst_id, pos.mgn_mode, pos.pos_side)) is not pos:
            return
        if moment <= pos.funded_until:
            return
        inst = pos.instrument
        mark = self.market.last(inst, moment / 1000)
        rate = self.market.funding_rate(inst, moment)
        size = pos.qty * inst.ct_val
        payment = money((size / mark if inst.inverse else size * mark) * rate)
        self.ledger.move(account, inst.settle, -payment)
        self.ledger.bill(account, inst.settle, -payment, "8", "173" if payment > 0 else "174",
                         moment, inst, mgn_mode=pos.mgn_mode, pnl=-payment)
        pos.funding_fee -= payment
        pos.realized_pnl -= payment
        pos.funded_until = moment
        pos.u_time = moment
        self.executor.changes.emit(
            Change(account, "funding_fee", moment, position=pos, ccys=(inst.settle,))
        )

    def _deliver(self, account: Account, pos: Position) -> None:
        key = (pos.instrument.inst_id, pos.mgn_mode, pos.pos_side)
        if account.positions.get(key) is not pos:
            return
        inst = pos.instrument
        price = self.market.last(inst, inst.exp_time_ms / 1000)
        direction = 1 if pos.qty > 0 else -1
        closing = abs(pos.qty)
        if inst.inverse:
            pnl = money(closing * inst.ct_val * (1 / pos.avg_px - 1 / price) * direction)
        else:
            pnl = money(closing * inst.ct_val * (price - pos.avg_px) * direction)
        self.ledger.move(account, inst.settle, pnl)
        self.ledger.bill(account, inst.settle, pnl, "3", "", inst.exp_time_ms, inst,
                         mgn_mode=pos.mgn_mode, pnl=pnl, px=price, sz=closing)
        pos.closed += closing
        pos.close_value += closing / price if inst.inverse else closing * price
        pos.pnl += pnl
        pos.realized_pnl += pnl
        self.positions.record_closed(account, pos, "2", inst.exp_time_ms, Decimal(-direction))
        del account.positions[key]
        pos.qty = ZERO  # nothing is left of it: its last push shows pos 0
        self.executor.changes.emit(
            Change(account, "delivered", inst.exp_time_ms, position=pos, ccys=(inst.settle,))
        )

    def _purge(self, now_ms: int) -> None:
        """Forget orders and fills past OKX's retention (at most once a simulated minute)."""
        if now_ms - self._purged_ms < _PURGE_EVERY_MS:
            return
        self._purged_ms = now_ms
        horizon = now_ms - RETENTION_MS
        for account in self.accounts.values():
            stale = [
                o.ord_id
                for o in account.orders.values()
                if not o.pending and not visible(o, now_ms)
            ]
            for ord_id in stale:
                del account.orders[ord_id]
                self.orders.pop(ord_id, None)
            if account.fills and account.fills[0].ts < horizon:
                account.fills = [f for f in account.fills if f.ts >= horizon]
            if account.bills and account.bills[0].ts < horizon:
                account.bills = [b for b in account.bills if b.ts >= horizon]
            account.closed_positions = [
                row for row in account.closed_positions if int(row["uTime"]) >= horizon
            ]
