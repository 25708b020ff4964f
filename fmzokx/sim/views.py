# -*- test-case-name: tests.sim.test_shapes,tests.sim.test_trading -*-
"""
OKX's JSON for the simulator's state: orders, fills, bills, balances, positions, the
account config, and the whole-exchange snapshot of ``GET /_sim/state``.

OKX payloads carry dozens of fields, most of them constant here; keeping them in one
module lets the engine read without them and makes it easy to compare each shape with
the recorded real payloads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from fmzokx.sim.instruments import LiveCatalogue
from fmzokx.sim.market import Market
from fmzokx.sim.model import (
    ACCOUNT_MODES,
    DERIVATIVE_MAKER,
    DERIVATIVE_TAKER,
    SPOT_MAKER,
    SPOT_TAKER,
    Account,
    Bill,
    Fill,
    Order,
    Position,
)
from fmzokx.sim.numbers import ZERO, money, render
from fmzokx.sim.positions import PositionBook

__all__ = [
    "balance_json",
    "bill_json",
    "config_json",
    "fill_json",
    "order_json",
    "position_json",
    "state_json",
    "usd_price",
]


def order_json(order: Order) -> dict[str, Any]:
    """The order object of GET /trade/order and the order lists."""
    inst = order.instrument
    avg = order.avg_px()
    return {
        "accFillSz": render(order.acc_fill_sz),
        "algoClOrdId": "",
        "algoId": "",
        "attachAlgoClOrdId": "",
        "attachAlgoOrds": [],
        "avgPx": "" if avg is None else render(avg),
        "cTime": str(order.c_time),
        "cancelSource": order.cancel_source,
        "cancelSourceReason": order.cancel_reason,
        "category": order.category,
        "ccy": "",
        "clOrdId": order.cl_ord_id,
        "fee": render(order.fee),
        "feeCcy": order.fee_ccy or inst.margin_ccy,
        "fillPx": "" if order.fill_px is None else render(order.fill_px),
        "fillSz": "0" if order.fill_sz is None else render(order.fill_sz),
        "fillTime": "" if order.fill_time is None else str(order.fill_time),
        "instId": inst.inst_id,
        "instType": inst.inst_type,
        "isTpLimit": "false",
        "lever": order.lever,
        "linkedAlgoOrd": {"algoId": ""},
        "ordId": str(order.ord_id),
        "ordType": order.ord_type,
        "pnl": render(order.pnl),
        "posSide": order.pos_side,
        "px": "" if order.px is None else render(order.px),
        "pxType": "",
        "pxUsd": "",
        "pxVol": "",
        "quickMgnType": "",
        "rebate": "0",
        "rebateCcy": inst.quote if not inst.derivative else inst.settle,
        "reduceOnly": "true" if order.reduce_only else "false",
        "side": order.side,
        "slOrdPx": "",
        "slTriggerPx": "",
        "slTriggerPxType": "",
        "source": "",
        "state": order.state,
        "stpId": "",
        "stpMode": "cancel_maker",
        "sz": render(order.sz),
        "tag": order.tag,
        "tdMode": order.td_mode,
        "tgtCcy": order.tgt_ccy,
        "tpOrdPx": "",
        "tpTriggerPx": "",
        "tpTriggerPxType": "",
        "tradeId": "" if order.trade_id is None else str(order.trade_id),
        "tradeQuoteCcy": inst.quote if not inst.derivative else "",
        "uTime": str(order.u_time),
    }


def fill_json(fill: Fill) -> dict[str, Any]:
    """A /trade/fills row."""
    inst = fill.order.instrument
    return {
        "instType": inst.inst_type,
        "instId": inst.inst_id,
        "tradeId": str(fill.trade_id),
        "ordId": str(fill.order.ord_id),
        "clOrdId": fill.order.cl_ord_id,
        "billId": str(fill.bill_id),
        "subType": "1" if fill.order.buy else "2",
        "tag": fill.order.tag,
        "fillPx": render(fill.px),
        "fillSz": render(fill.sz),
        "fillIdxPx": render(fill.px),
        "fillPnl": render(fill.pnl),
        "fillPxVol": "",
        "fillPxUsd": "",
        "fillMarkVol": "",
        "fillFwdPx": "",
        "fillMarkPx": render(fill.px),
        "side": fill.order.side,
        "posSide": fill.order.pos_side or "net",
        "execType": "M" if fill.maker else "T",
        "feeCcy": fill.fee_ccy,
        "fee": render(-fill.fee),
        "feeRate": render(
            -(DERIVATIVE_MAKER if fill.maker else DERIVATIVE_TAKER)
            if inst.derivative
            else -(SPOT_MAKER if fill.maker else SPOT_TAKER)
        ),
        "ts": str(fill.ts),
        "fillTime": str(fill.ts),
        "tradeQuoteCcy": "" if inst.derivative else inst.quote,
    }


def bill_json(bill: Bill) -> dict[str, Any]:
    """A /account/bills row."""
    order = bill.order
    return {
        "bal": render(bill.bal),
        "balChg": render(bill.bal_chg),
        "billId": str(bill.bill_id),
        "ccy": bill.ccy,
        "clOrdId": order.cl_ord_id if order else "",
        "execType": bill.exec_type,
        "fee": render(bill.fee),
        "fillFwdPx": "",
        "fillIdxPx": "",
        "fillMarkPx": "",
        "fillMarkVol": "",
        "fillPxUsd": "",
        "fillPxVol": "",
        "fillTime": str(bill.ts),
        "from": "",
        "instId": bill.inst.inst_id if bill.inst else "",
        "instType": bill.inst.inst_type if bill.inst else "",
        "interest": "0",
        "mgnMode": bill.mgn_mode,
        "notes": "",
        "ordId": str(order.ord_id) if order else "",
        "pnl": render(bill.pnl),
        "posBal": "0",
        "posBalChg": "0",
        "px": "" if bill.px is None else render(bill.px),
        "subType": bill.sub_type,
        "sz": render(bill.sz),
        "tag": order.tag if order else "",
        "to": "",
        "tradeId": "" if bill.trade_id is None else str(bill.trade_id),
        "ts": str(bill.ts),
        "type": bill.kind,
    }



def usd_price(market: Market, catalogue: LiveCatalogue, ccy: str, now_ms: int) -> Decimal:
    """An approximate USD price of ``ccy``, for ``eqUsd``/``totalEq``."""
    if ccy in ("USDT", "USDC", "USD"):
        return Decimal(1)
    inst = catalogue.get(f"{ccy}-USDT", now_ms)
    if inst is None:
        return ZERO
    return market.last(inst, now_ms / 1000)


def balance_json(
    book: PositionBook, account: Account, ccys: Sequence[str], now_ms: int
) -> dict[str, Any]:
    """
    The one-element ``data`` of GET /account/balance, with the fields OKX fills in for the
    account's mode and ``""`` for the others (Trading Account > Get balance, "Distribution
    of applicable fields under each account level").
    """
    mode = account.spec.mode
    margin = mode in ("multi_currency", "portfolio")
    futures = mode == "futures"

    def when(applies: bool, value: str) -> str:
        return value if applies else ""

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
    total_avail = ZERO
    for ccy in sorted(names):
        f = book.figures(account, ccy, now_ms)
        if f["cash"] == 0 and f["frozen"] == 0 and f["upl"] == 0 and ccy not in ccys:
            continue
        usd = usd_price(book.market, book.catalogue, ccy, now_ms)
        eq_usd = money(f["eq"] * usd)
        total += eq_usd
        total_upl += money(f["upl"] * usd)
        total_imr += money(f["imr"] * usd)
        total_frozen += money(f["ordFrozen"] * usd)
        total_avail += money(f["availEq"] * usd)
        cross = futures and f["imr"] > 0
        details.append(
            {
                "accAvgPx": "",
                "autoLendStatus": "off",
                "availBal": render(f["availBal"]),
                "availEq": when(mode != "spot", render(f["availEq"])),
                "borrowFroz": "",
                "cashBal": render(f["cash"]),
                "ccy": ccy,
                "clSpotInUseAmt": "",
                "colBorrAutoConversion": "0",
                "collateralEnabled": False,
                "collateralRestrict": False,
                "crossLiab": when(not futures, "0"),
                "disEq": when(not futures, render(eq_usd)),
                "eq": render(f["eq"]),
                "eqUsd": render(eq_usd),
                "fixedBal": "0",
                "frozenBal": render(f["frozen"]),
                "imr": when(cross, render(f["imr"])),
                "interest": when(not futures, "0"),
                "isoEq": when(mode != "spot", "0"),
                "isoLiab": when(margin, "0"),
                "isoUpl": when(mode != "spot", "0"),
                "liab": when(not futures, "0"),
                "maxLoan": "",
                "maxSpotInUse": "",
                "mgnRatio": "",
                "mmr": when(cross, render(money(f["imr"] / 2))),
                "notionalLever": when(futures, "0"),
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
                "upl": when(mode != "spot", render(f["upl"])),
                "uplLiab": when(margin, "0"),
            }
        )
    return {
        "adjEq": when(not futures, render(total)),
        "availEq": when(margin, render(total_avail)),
        "borrowFroz": when(not futures, "0"),
        "details": details,
        "imr": when(not futures, render(total_imr)),
        "isoEq": when(mode != "spot", "0"),
        "mgnRatio": "",
        "mmr": when(not futures, render(money(total_imr / 2))),
        "notionalUsd": when(not futures, "0"),
        "notionalUsdForBorrow": when(not futures, "0"),
        "notionalUsdForFutures": when(margin, "0"),
        "notionalUsdForOption": when(not futures, "0"),
        "notionalUsdForSwap": when(margin, "0"),
        "ordFroz": when(not futures, render(total_frozen)),
        "totalEq": render(total),
        "uTime": str(now_ms),
        "upl": when(margin, render(total_upl)),
    }


def position_json(
    book: PositionBook, account: Account, pos: Position, now_ms: int
) -> dict[str, Any]:
    """One position object of GET /account/positions."""
    inst = pos.instrument
    mark = book.market.last(inst, now_ms / 1000)
    upl = book.upl(pos, mark)
    margin = book.margin(account, pos)
    lever = book.lever(account, inst, pos.mgn_mode, pos.pos_side)
    size = abs(pos.qty) * inst.ct_val
    notional_usd = size if inst.inverse else size * mark
    ratio = upl / margin if margin else ZERO
    shown = pos.qty if pos.pos_side == "net" else abs(pos.qty)
    isolated = pos.mgn_mode == "isolated"
    futures = inst.inst_type == "FUTURES"
    liq_px = render(book.liquidation_px(account, pos)) if isolated else ""
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
        # Portfolio margin's spot hedging; "" in the other modes.
        "clSpotInUseAmt": "",
        "closeOrderAlgo": [],
        "deltaBS": "",
        "deltaPA": "",
        "fee": render(pos.fee),
        "fundingFee": render(pos.funding_fee),
        "gammaBS": "",
        "gammaPA": "",
        # Spot-derivatives risk offset only.
        "hedgedPos": "",
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
        "maxSpotInUseAmt": "",
        "mgnMode": pos.mgn_mode,
        "mgnRatio": "",
        "mmr": render(money(margin / 2)),
        # Expiry futures settle into these; nothing is settled before delivery here.
        "nonSettleAvgPx": render(pos.avg_px) if futures else "",
        "notionalUsd": render(money(notional_usd)),
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
        "settledPnl": "0" if futures else "",
        "spotInUseAmt": "",
        "spotInUseCcy": "",
        "thetaBS": "",
        "thetaPA": "",
        "tradeId": str(pos.trade_id),
        "uTime": str(pos.u_time),
        "upl": render(upl),
        "uplLastPx": render(upl),
        "uplRatio": render(money(ratio)),
        "uplRatioLastPx": render(money(ratio)),
        "usdPx": "",
        "vegaBS": "",
        "vegaPA": "",
    }


def config_json(account: Account) -> dict[str, Any]:
    """The one-element ``data`` of GET /account/config (``acctLv`` by the account's mode)."""
    return {
        "acctLv": ACCOUNT_MODES[account.spec.mode],
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


def state_json(
    book: PositionBook,
    accounts: dict[str, Account],
    orders: Iterable[Order],
    house: dict[str, Decimal],
    fees: dict[str, Decimal],
    now_ms: int,
) -> dict[str, Any]:
    """Every order, balance and position, and the house and fee ledgers (GET /_sim/state)."""
    order_rows = []
    for order in sorted(orders, key=lambda o: o.ord_id, reverse=True):
        row = order_json(order)
        row["account"] = order.account
        order_rows.append(row)
    balances: dict[str, dict[str, dict[str, str]]] = {}
    positions: dict[str, list[dict[str, Any]]] = {}
    modes: dict[str, str] = {}
    for key, account in accounts.items():
        names = set(account.cash) | {p.instrument.settle for p in account.positions.values()}
        balances[key] = {}
        for ccy in sorted(names):
            f = book.figures(account, ccy, now_ms)
            balances[key][ccy] = {
                "cashBal": render(f["cash"]),
                "availBal": render(f["availBal"]),
                "frozenBal": render(f["frozen"]),
                "ordFrozen": render(f["ordFrozen"]),
                "eq": render(f["eq"]),
                "upl": render(f["upl"]),
            }
        positions[key] = [
            position_json(book, account, pos, now_ms) for pos in account.positions.values()
        ]
        modes[key] = account.pos_mode
    return {
        "ts": str(now_ms),
        "orders": order_rows,
        "balances": balances,
        "positions": positions,
        "posModes": modes,
        "house": {ccy: render(v) for ccy, v in sorted(house.items())},
        "fees": {ccy: render(v) for ccy, v in sorted(fees.items())},
    }
