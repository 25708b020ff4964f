# -*- test-case-name: tests.sim.test_derivatives -*-
"""
Derivatives positions: leverage and margin, unrealised PnL, what a fill does to a
position, closed positions (positions-history), the liquidation price, and the account
settings that shape positions (position mode, leverage).

A position's ``qty`` is signed contracts; realised PnL and fees accumulate on it until it
closes, when one positions-history row is written and the counters start afresh.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from fmzokx.sim.errors import SimApiError
from fmzokx.sim.instruments import LiveCatalogue, SimInstrument
from fmzokx.sim.ledger import Ledger
from fmzokx.sim.market import Market
from fmzokx.sim.model import DERIVATIVE_TAKER, Account, Order, Position
from fmzokx.sim.numbers import AVG_STEP, ZERO, money, parse_decimal, quantize_down, render
from fmzokx.sim.paging import RETENTION_MS

__all__ = ["DEFAULT_LEVER", "PositionBook"]

DEFAULT_LEVER = Decimal(10)

PositionKey = tuple[str, str, str]


class PositionBook:
    """Position maths and position-related account settings for every account."""

    def __init__(self, market: Market, catalogue: LiveCatalogue, ledger: Ledger) -> None:
        self.market = market
        self.catalogue = catalogue
        self.ledger = ledger

    # -- maths -----------------------------------------------------------------------------

    def lever(self, account: Account, inst: SimInstrument, mgn_mode: str, pos_side: str) -> Decimal:
        """The leverage set for a position (the default until one is set)."""
        side = pos_side if account.pos_mode == "long_short_mode" else "net"
        default = min(DEFAULT_LEVER, Decimal(inst.max_lever or DEFAULT_LEVER))
        return account.levers.get((inst.inst_id, mgn_mode, side), default)

    @staticmethod
    def key(account: Account, inst: SimInstrument, mgn_mode: str, pos_side: str) -> PositionKey:
        """Where a position lives in ``account.positions``."""
        side = pos_side if account.pos_mode == "long_short_mode" else "net"
        return (inst.inst_id, mgn_mode, side)

    def margin(self, account: Account, pos: Position) -> Decimal:
        """The initial margin of a position, from its entry price."""
        inst = pos.instrument
        lever = self.lever(account, inst, pos.mgn_mode, pos.pos_side)
        size = abs(pos.qty) * inst.ct_val
        if pos.avg_px == 0:
            return ZERO
        value = size / pos.avg_px if inst.inverse else size * pos.avg_px
        return money(value / lever)

    @staticmethod
    def upl(pos: Position, mark: Decimal) -> Decimal:
        """Unrealised PnL at ``mark``."""
        inst = pos.instrument
        if pos.qty == 0 or pos.avg_px == 0:
            return ZERO
        if inst.inverse:
            return money(pos.qty * inst.ct_val * (1 / pos.avg_px - 1 / mark))
        return money(pos.qty * inst.ct_val * (mark - pos.avg_px))

    def figures(self, account: Account, ccy: str, now_ms: int) -> dict[str, Decimal]:
        """Cash, frozen funds, margin, PnL, equity and what is available, for one currency."""
        cash = account.cash.get(ccy, ZERO)
        ord_frozen = self.ledger.order_frozen(account, ccy)
        imr = ZERO
        upl = ZERO
        for pos in account.positions.values():
            if pos.instrument.settle == ccy and pos.qty != 0:
                imr += self.margin(account, pos)
                upl += self.upl(pos, self.market.last(pos.instrument, now_ms / 1000))
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

    def liquidation_px(self, account: Account, pos: Position) -> Decimal:
        """
        The price at which an isolated position is liquidated: where its loss reaches half
        its margin (the simulator's maintenance margin), rounded to the tick against the
        holder.
        """
        inst = pos.instrument
        lever = self.lever(account, inst, pos.mgn_mode, pos.pos_side)
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

    def max_size(
        self, account: Account, inst: SimInstrument, td_mode: str, px: Decimal | None, now_ms: int
    ) -> dict[str, str]:
        """One row of GET /account/max-size and /account/max-avail-size, combined."""
        price = px if px is not None else self.market.last(inst, now_ms / 1000)
        if not inst.derivative:
            quote = self.figures(account, inst.quote, now_ms)["availBal"]
            base = self.figures(account, inst.base, now_ms)["availBal"]
            return {
                "ccy": inst.quote,
                "instId": inst.inst_id,
                "maxBuy": render(quantize_down(max(ZERO, quote) / price, inst.lot_sz)),
                "maxSell": render(quantize_down(max(ZERO, base), inst.lot_sz)),
                "availBuy": render(max(ZERO, quote)),
                "availSell": render(max(ZERO, base)),
            }
        figures = self.figures(account, inst.settle, now_ms)
        free = max(ZERO, min(figures["availEq"], figures["availBal"]))
        lever = self.lever(account, inst, td_mode, "long")
        value = inst.ct_val / price if inst.inverse else inst.ct_val * price
        per_contract = money(value / lever) + value * DERIVATIVE_TAKER
        contracts = quantize_down(free / per_contract, inst.lot_sz)
        while contracts > 0 and (
            money(value / lever) * contracts + money(contracts * value * DERIVATIVE_TAKER)
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

    # -- fills and closes -------------------------------------------------------------------

    def apply_fill(
        self,
        account: Account,
        order: Order,
        sz: Decimal,
        px: Decimal,
        ts_ms: int,
        fee: Decimal,
        trade_id: int,
    ) -> Decimal:
        """Move the position by a fill; return the realised PnL (before fees)."""
        inst = order.instrument
        key = self.key(account, inst, order.td_mode, order.pos_side)
        pos = account.positions.get(key)
        if pos is None:
            pos = Position(
                pos_id=self.ledger.new_id(ts_ms),
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
                pos.avg_px = (total / denominator).quantize(AVG_STEP)
            else:
                pos.avg_px = ((abs(pos.qty) * pos.avg_px + sz * px) / total).quantize(AVG_STEP)
            if pos.qty == 0:
                pos.c_time = ts_ms
                pos.funded_until = ts_ms
            pos.qty += signed
            pos.open_max = max(pos.open_max, abs(pos.qty))
        else:
            closing = min(sz, abs(pos.qty))
            direction = 1 if pos.qty > 0 else -1
            if inst.inverse:
                pnl = money(closing * inst.ct_val * (1 / pos.avg_px - 1 / px) * direction)
            else:
                pnl = money(closing * inst.ct_val * (px - pos.avg_px) * direction)
            pos.closed += closing
            pos.close_value += closing / px if inst.inverse else closing * px
            pos.qty += signed
            flipped = pos.qty != 0 and (pos.qty > 0) != (direction > 0)
        pos.pnl += pnl
        pos.fee -= fee
        pos.realized_pnl += pnl - fee
        pos.u_time = ts_ms
        pos.trade_id = trade_id
        pos.version += 1
        pos.check_from = ts_ms // 1000 + 1
        if pos.qty == 0 or flipped:
            kind = "3" if order.category == "full_liquidation" else "2"
            self.record_closed(account, pos, kind, ts_ms, signed)
        if flipped:
            pos.avg_px = px
            pos.c_time = ts_ms
            pos.funded_until = ts_ms
            pos.open_max = abs(pos.qty)
        if pos.qty == 0:
            del account.positions[key]
        return pnl

    def record_closed(
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
        margin = (margin / pos.avg_px if inst.inverse else margin * pos.avg_px) / self.lever(
            account, inst, pos.mgn_mode, pos.pos_side
        )
        account.closed_positions.append(
            {
                "cTime": str(pos.c_time),
                "ccy": inst.settle,
                "closeAvgPx": render(close_avg.quantize(AVG_STEP)),
                "closeTotalPos": render(pos.closed),
                "direction": "long" if long else "short",
                "fee": render(pos.fee),
                "fundingFee": render(pos.funding_fee),
                "instId": inst.inst_id,
                "instType": inst.inst_type,
                "lever": render(self.lever(account, inst, pos.mgn_mode, pos.pos_side)),
                "liqPenalty": "0",
                "mgnMode": pos.mgn_mode,
                "nonSettleAvgPx": "",
                "openAvgPx": render(pos.avg_px),
                "openMaxPos": render(pos.open_max),
                "pnl": render(pos.pnl),
                "pnlRatio": render(money(pos.realized_pnl / margin)) if margin else "0",
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

    @staticmethod
    def history(
        account: Account,
        filters: Mapping[str, str],
        after: int | None,
        before: int | None,
        limit: int,
        now_ms: int,
    ) -> list[dict[str, Any]]:
        """GET /account/positions-history rows (3 months), newest first by uTime; ``after``
        and ``before`` are exclusive uTime cursors in ms."""
        horizon = now_ms - RETENTION_MS
        rows = []
        for row in account.closed_positions:
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

    # -- settings --------------------------------------------------------------------------

    @staticmethod
    def set_position_mode(account: Account, mode: str) -> None:
        """Switch between ``net_mode`` and ``long_short_mode`` (59000 with positions/orders)."""
        if mode not in ("net_mode", "long_short_mode"):
            raise SimApiError("51000", "posMode")
        if mode == account.pos_mode:
            return
        busy = account.positions or any(
            o.instrument.derivative for o in account.pending.values()
        )
        if busy:
            raise SimApiError("59000")
        account.pos_mode = mode
        account.levers.clear()

    def set_leverage(
        self, account: Account, params: Mapping[str, Any], now_ms: int, refusal: str = "orders"
    ) -> dict[str, str]:
        """
        POST /account/set-leverage for one instrument.

        :param refusal: when open orders or positions forbid the change
            (:data:`~fmzokx.sim.settings.LEVERAGE_REFUSALS`).
        """
        for name in ("lever", "mgnMode"):
            if params.get(name) in (None, ""):
                raise SimApiError("50014", name)
        mgn_mode = str(params["mgnMode"])
        if mgn_mode not in ("cross", "isolated"):
            raise SimApiError("51000", "mgnMode")
        lever = parse_decimal(params["lever"])
        if lever is None or lever < 1 or lever != lever.quantize(Decimal("0.01")):
            raise SimApiError("51000", "lever")
        if params.get("instId") in (None, ""):
            raise SimApiError("50014", "instId")
        inst = self.catalogue.get(str(params["instId"]), now_ms)
        if inst is None:
            raise SimApiError("51001")
        if not inst.derivative:
            raise SimApiError("51000", "instId")
        if lever > inst.max_lever:
            raise SimApiError("59102")
        self._check_leverage_change(account, inst, mgn_mode, refusal)
        pos_side = str(params.get("posSide", ""))
        if account.pos_mode == "long_short_mode":
            if mgn_mode == "isolated":
                if pos_side not in ("long", "short"):
                    raise SimApiError("51000", "posSide")
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

    @staticmethod
    def _check_leverage_change(
        account: Account, inst: SimInstrument, mgn_mode: str, refusal: str
    ) -> None:
        """Refuse a leverage change that open orders or positions forbid (59000 family)."""
        pending = [o for o in account.pending.values() if o.instrument.inst_id == inst.inst_id]
        if refusal == "strict":
            held = any(p.instrument.inst_id == inst.inst_id for p in account.positions.values())
            if pending or held:
                raise SimApiError("59000")
        elif refusal == "orders" and any(o.td_mode == mgn_mode for o in pending):
            raise SimApiError("59107" if mgn_mode == "cross" else "59101")

    def leverage_info(
        self, account: Account, mgn_mode: str, inst_ids: Sequence[str], now_ms: int
    ) -> list[dict[str, str]]:
        """Rows of GET /account/leverage-info."""
        if mgn_mode not in ("cross", "isolated"):
            raise SimApiError("51000", "mgnMode")
        rows = []
        for inst_id in inst_ids:
            inst = self.catalogue.get(inst_id, now_ms)
            if inst is None:
                raise SimApiError("51001")
            sides = ["long", "short"] if account.pos_mode == "long_short_mode" else ["net"]
            for side in sides:
                lever = self.lever(account, inst, mgn_mode, side)
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
