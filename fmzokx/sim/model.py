# -*- test-case-name: tests.sim.test_shapes,tests.sim.test_trading -*-
"""
The simulator's value types: accounts, orders, positions and fills, and how OKX renders
them. Kept apart from :mod:`fmzokx.sim.engine` so the matching logic reads without the
long field lists OKX payloads carry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from attrs import define, field, frozen

from .instruments import Instrument
from .numbers import ZERO, render

__all__ = [
    "DEFAULT_BALANCES",
    "DERIVATIVE_MAKER",
    "DERIVATIVE_TAKER",
    "PENDING_STATES",
    "SPOT_MAKER",
    "SPOT_TAKER",
    "Account",
    "Bill",
    "Fill",
    "Order",
    "Position",
    "SimAccount",
]

DEFAULT_BALANCES: tuple[tuple[str, Decimal], ...] = (
    ("USDT", Decimal("100000")),
    ("BTC", Decimal("10")),
    ("ETH", Decimal("100")),
)

SPOT_MAKER = Decimal("0.0008")
SPOT_TAKER = Decimal("0.001")
DERIVATIVE_MAKER = Decimal("0.0002")
DERIVATIVE_TAKER = Decimal("0.0005")
PENDING_STATES = ("live", "partially_filled")
_AVG = Decimal("1e-10")


def _balances(
    value: Mapping[str, Decimal | str | int] | Iterable[tuple[str, Decimal | str | int]],
) -> tuple[tuple[str, Decimal], ...]:
    """Normalise starting balances given as a mapping or pairs into ``(ccy, Decimal)`` pairs."""
    pairs = value.items() if isinstance(value, Mapping) else value
    result = []
    for ccy, amount in pairs:
        number = Decimal(amount) if not isinstance(amount, float) else Decimal(repr(amount))
        if not number.is_finite() or number < 0:
            raise ValueError(f"starting balance of {ccy} must be a non-negative number")
        result.append((str(ccy), number))
    return tuple(result)


@frozen
class SimAccount:
    """
    An API key the simulator accepts, and the balances it starts with.

    ``balances`` may be given as a mapping (``{"USDT": "5000"}``) or as pairs; by default
    the account starts with 100000 USDT, 10 BTC and 100 ETH.
    """

    key: str
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)
    balances: tuple[tuple[str, Decimal], ...] = field(
        default=DEFAULT_BALANCES, converter=_balances
    )


@define
class Order:
    """One order and everything OKX reports about it."""

    ord_id: int
    account: str
    instrument: Instrument
    side: str
    ord_type: str
    td_mode: str
    sz: Decimal
    px: Decimal | None
    cl_ord_id: str
    tag: str
    pos_side: str
    reduce_only: bool
    tgt_ccy: str
    lever: str
    c_time: int
    u_time: int
    check_from: int
    state: str = "live"
    acc_fill_sz: Decimal = ZERO
    notional: Decimal = ZERO
    inverse_notional: Decimal = ZERO
    fill_sz: Decimal | None = None
    fill_px: Decimal | None = None
    fill_time: int | None = None
    trade_id: int | None = None
    fee: Decimal = ZERO
    fee_ccy: str = ""
    pnl: Decimal = ZERO
    frozen: Decimal = ZERO
    frozen_ccy: str = ""
    margin_unit: Decimal = ZERO
    cancel_source: str = ""
    cancel_reason: str = ""
    category: str = "normal"

    @property
    def pending(self) -> bool:
        """Still live or partially filled."""
        return self.state in PENDING_STATES

    @property
    def buy(self) -> bool:
        """A buy order."""
        return self.side == "buy"

    def avg_px(self) -> Decimal | None:
        """Average fill price (harmonic for inverse contracts), or ``None`` before a fill."""
        if self.acc_fill_sz == 0:
            return None
        if self.instrument.inverse:
            return (self.acc_fill_sz / self.inverse_notional).quantize(_AVG)
        return (self.notional / self.acc_fill_sz).quantize(_AVG)

    def to_json(self) -> dict[str, Any]:
        """The order object of GET /trade/order and the order lists."""
        inst = self.instrument
        avg = self.avg_px()
        return {
            "accFillSz": render(self.acc_fill_sz),
            "algoClOrdId": "",
            "algoId": "",
            "attachAlgoClOrdId": "",
            "attachAlgoOrds": [],
            "avgPx": "" if avg is None else render(avg),
            "cTime": str(self.c_time),
            "cancelSource": self.cancel_source,
            "cancelSourceReason": self.cancel_reason,
            "category": self.category,
            "ccy": "",
            "clOrdId": self.cl_ord_id,
            "fee": render(self.fee),
            "feeCcy": self.fee_ccy or inst.margin_ccy,
            "fillPx": "" if self.fill_px is None else render(self.fill_px),
            "fillSz": "0" if self.fill_sz is None else render(self.fill_sz),
            "fillTime": "" if self.fill_time is None else str(self.fill_time),
            "instId": inst.inst_id,
            "instType": inst.inst_type,
            "isTpLimit": "false",
            "lever": self.lever,
            "linkedAlgoOrd": {"algoId": ""},
            "ordId": str(self.ord_id),
            "ordType": self.ord_type,
            "pnl": render(self.pnl),
            "posSide": self.pos_side,
            "px": "" if self.px is None else render(self.px),
            "pxType": "",
            "pxUsd": "",
            "pxVol": "",
            "quickMgnType": "",
            "rebate": "0",
            "rebateCcy": inst.quote if not inst.derivative else inst.settle,
            "reduceOnly": "true" if self.reduce_only else "false",
            "side": self.side,
            "slOrdPx": "",
            "slTriggerPx": "",
            "slTriggerPxType": "",
            "source": "",
            "state": self.state,
            "stpId": "",
            "stpMode": "cancel_maker",
            "sz": render(self.sz),
            "tag": self.tag,
            "tdMode": self.td_mode,
            "tgtCcy": self.tgt_ccy,
            "tpOrdPx": "",
            "tpTriggerPx": "",
            "tpTriggerPxType": "",
            "tradeId": "" if self.trade_id is None else str(self.trade_id),
            "tradeQuoteCcy": inst.quote if not inst.derivative else "",
            "uTime": str(self.u_time),
        }


@define
class Position:
    """A derivatives position; ``qty`` is signed (short is negative) in contracts."""

    pos_id: int
    instrument: Instrument
    mgn_mode: str
    pos_side: str
    qty: Decimal = ZERO
    avg_px: Decimal = ZERO
    c_time: int = 0
    u_time: int = 0
    realized_pnl: Decimal = ZERO
    pnl: Decimal = ZERO
    fee: Decimal = ZERO
    funding_fee: Decimal = ZERO
    funded_until: int = 0
    trade_id: int = 0
    check_from: int = 0
    version: int = 0
    open_max: Decimal = ZERO
    closed: Decimal = ZERO
    close_value: Decimal = ZERO


@frozen
class Fill:
    """One execution of one order, as /trade/fills reports it."""

    bill_id: int
    trade_id: int
    order: Order
    px: Decimal
    sz: Decimal
    fee: Decimal
    fee_ccy: str
    pnl: Decimal
    maker: bool
    ts: int

    def to_json(self) -> dict[str, Any]:
        """A /trade/fills row."""
        inst = self.order.instrument
        return {
            "instType": inst.inst_type,
            "instId": inst.inst_id,
            "tradeId": str(self.trade_id),
            "ordId": str(self.order.ord_id),
            "clOrdId": self.order.cl_ord_id,
            "billId": str(self.bill_id),
            "subType": "1" if self.order.buy else "2",
            "tag": self.order.tag,
            "fillPx": render(self.px),
            "fillSz": render(self.sz),
            "fillIdxPx": render(self.px),
            "fillPnl": render(self.pnl),
            "fillPxVol": "",
            "fillPxUsd": "",
            "fillMarkVol": "",
            "fillFwdPx": "",
            "fillMarkPx": render(self.px),
            "side": self.order.side,
            "posSide": self.order.pos_side or "net",
            "execType": "M" if self.maker else "T",
            "feeCcy": self.fee_ccy,
            "fee": render(-self.fee),
            "feeRate": render(
                -(DERIVATIVE_MAKER if self.maker else DERIVATIVE_TAKER)
                if inst.derivative
                else -(SPOT_MAKER if self.maker else SPOT_TAKER)
            ),
            "ts": str(self.ts),
            "fillTime": str(self.ts),
            "tradeQuoteCcy": "" if inst.derivative else inst.quote,
        }


@frozen
class Bill:
    """One change of one currency's cash balance, as /account/bills reports it."""

    bill_id: int
    ccy: str
    bal_chg: Decimal
    bal: Decimal
    kind: str  # OKX bill type: 2 trade, 3 delivery, 5 liquidation, 8 funding fee
    sub_type: str
    ts: int
    inst: Instrument | None = None
    mgn_mode: str = ""
    order: Order | None = None
    trade_id: int | None = None
    exec_type: str = ""
    fee: Decimal = ZERO
    pnl: Decimal = ZERO
    px: Decimal | None = None
    sz: Decimal = ZERO

    def to_json(self) -> dict[str, Any]:
        """A /account/bills row."""
        order = self.order
        return {
            "bal": render(self.bal),
            "balChg": render(self.bal_chg),
            "billId": str(self.bill_id),
            "ccy": self.ccy,
            "clOrdId": order.cl_ord_id if order else "",
            "execType": self.exec_type,
            "fee": render(self.fee),
            "fillFwdPx": "",
            "fillIdxPx": "",
            "fillMarkPx": "",
            "fillMarkVol": "",
            "fillPxUsd": "",
            "fillPxVol": "",
            "fillTime": str(self.ts),
            "from": "",
            "instId": self.inst.inst_id if self.inst else "",
            "instType": self.inst.inst_type if self.inst else "",
            "interest": "0",
            "mgnMode": self.mgn_mode,
            "notes": "",
            "ordId": str(order.ord_id) if order else "",
            "pnl": render(self.pnl),
            "posBal": "0",
            "posBalChg": "0",
            "px": "" if self.px is None else render(self.px),
            "subType": self.sub_type,
            "sz": render(self.sz),
            "tag": order.tag if order else "",
            "to": "",
            "tradeId": "" if self.trade_id is None else str(self.trade_id),
            "ts": str(self.ts),
            "type": self.kind,
        }


@define
class Account:
    """One API key's trading account."""

    spec: SimAccount
    uid: str
    cash: dict[str, Decimal] = field(factory=dict)
    pos_mode: str = "net_mode"
    positions: dict[tuple[str, str, str], Position] = field(factory=dict)
    levers: dict[tuple[str, str, str], Decimal] = field(factory=dict)
    orders: dict[int, Order] = field(factory=dict)
    pending: dict[int, Order] = field(factory=dict)
    fills: list[Fill] = field(factory=list)
    bills: list[Bill] = field(factory=list)
    closed_positions: list[dict[str, Any]] = field(factory=list)
    u_time: int = 0
