# -*- test-case-name: tests.sim.test_shapes,tests.sim.test_trading -*-
"""
The simulator's value types: accounts, orders, positions, fills and bills. Plain data;
the arithmetic lives in the engine modules and OKX's JSON for them in
:mod:`fmzokx.sim.views`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from attrs import define, field, frozen, validators

from fmzokx.sim.instruments import SimInstrument
from fmzokx.sim.numbers import AVG_STEP, ZERO

__all__ = [
    "ACCOUNT_MODES",
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

#: OKX's account modes by name, with the ``acctLv`` GET /account/config reports for each
#: ("Trading Account > Get account configuration"): Spot mode, Futures mode (spot and
#: futures), Multi-currency margin, Portfolio margin.
ACCOUNT_MODES: Mapping[str, str] = {
    "spot": "1",
    "futures": "2",
    "multi_currency": "3",
    "portfolio": "4",
}


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

    :ivar mode: the account mode (:data:`ACCOUNT_MODES`), which decides the balance fields
        OKX fills in (and, in ``spot`` mode, that contracts cannot be traded).
    :ivar demo: a demo-trading key: OKX accepts it only with ``x-simulated-trading: 1``,
        and a live key only without it (50101 otherwise).
    :ivar account_of: empty for a key with an account of its own; otherwise the key of
        the account this key also reaches (OKX lets one account, one User ID, hold
        several API keys: they see the same orders, balances and positions and share
        its private rate budgets). Its ``balances`` and ``mode`` are then ignored.
    """

    key: str
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)
    balances: tuple[tuple[str, Decimal], ...] = field(
        default=DEFAULT_BALANCES, converter=_balances
    )
    mode: str = field(default="futures", validator=validators.in_(tuple(ACCOUNT_MODES)))
    demo: bool = False
    account_of: str = ""


@define
class Order:
    """One order and everything OKX reports about it."""

    ord_id: int
    account: str
    instrument: SimInstrument
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
    #: read-after-write lag: the order is invisible to queries before this moment (ms)
    visible_from: int = 0
    #: an accepted cancel that takes effect at this moment (ms); 0 when none is under way
    cancel_at: int = 0

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
            return (self.acc_fill_sz / self.inverse_notional).quantize(AVG_STEP)
        return (self.notional / self.acc_fill_sz).quantize(AVG_STEP)


@define
class Position:
    """A derivatives position; ``qty`` is signed (short is negative) in contracts."""

    pos_id: int
    instrument: SimInstrument
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
    inst: SimInstrument | None = None
    mgn_mode: str = ""
    order: Order | None = None
    trade_id: int | None = None
    exec_type: str = ""
    fee: Decimal = ZERO
    pnl: Decimal = ZERO
    px: Decimal | None = None
    sz: Decimal = ZERO


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
