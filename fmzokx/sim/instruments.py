# -*- test-case-name: tests.sim.test_market,tests.sim.test_public -*-
"""
The simulator's instrument catalogue.

Specs (tick, lot, minimum size, contract value) follow real OKX values so that clients
round exactly as they would against the exchange. Dated futures are not a fixed list:
OKX lists this-week, next-week, quarter and next-quarter contracts that roll every
Friday at 08:00 UTC, so :func:`catalogue` computes them from the (injected) clock time.
Since 2026 OKX no longer names them (``alias`` is ``""``, "Public Data > Get instruments":
"use expTime"): a client tells them apart by ``expTime`` alone.

An instrument's ``state``, tick size and market-order cap can be changed while the
simulator runs (:meth:`LiveCatalogue.patch`, ``POST /_sim/instruments``), as OKX suspends
pairs, lists contracts ``preopen`` and retunes tick sizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from attrs import evolve, frozen

__all__ = [
    "STATES",
    "LiveCatalogue",
    "SimInstrument",
    "Underlying",
    "catalogue",
    "future_expiries",
]

#: Instrument states okxsim can put an instrument in ("Public Data > Get instruments",
#: ``state``): trading, halted, listed but not trading yet, a test pair that cannot be
#: traded, a book that takes post-only orders only, and the rebase and settlement states
#: in which no order is taken.
STATES = ("live", "suspend", "preopen", "test", "post_only", "rebase", "settling")

#: States in which okxsim takes no order at all, and its code for each.
NO_ORDERS = {"suspend": "51022", "preopen": "51021", "test": "51022", "rebase": "51022",
             "settling": "51022"}

_DAY_MS = 86_400_000


@frozen
class Underlying:
    """
    One simulated price path; every instrument on the same underlying trades on it.

    :ivar key: the path's name (the base currency), mixed into the seed.
    :ivar start: a typical price, in quote currency.
    :ivar daily_volume: a typical day's traded size, in base currency.
    """

    key: str
    start: Decimal
    daily_volume: Decimal


@frozen
class SimInstrument:
    """
    One tradable instrument of the simulated exchange and its trading rules, as GET
    /public/instruments shows them. (The daemon parses OKX's instruments into its own
    type; this one is the exchange's side.)
    """

    inst_type: str  # SPOT, SWAP, FUTURES
    inst_id: str
    base: str
    quote: str
    tick_sz: Decimal
    lot_sz: Decimal
    min_sz: Decimal
    underlying: Underlying
    settle: str = ""
    ct_val: Decimal = Decimal(0)
    ct_val_ccy: str = ""
    ct_type: str = ""  # linear or inverse
    max_lever: int = 0
    max_lmt_sz: Decimal = Decimal("9999999999")
    max_mkt_sz: Decimal = Decimal("1000000")
    list_time_ms: int = 1_546_300_800_000
    exp_time_ms: int = 0
    state: str = "live"

    @property
    def derivative(self) -> bool:
        """True for swaps and futures (sizes in contracts, positions, margin)."""
        return self.inst_type in ("SWAP", "FUTURES")

    @property
    def inverse(self) -> bool:
        """True for coin-margined contracts (face value in USD, settled in the coin)."""
        return self.ct_type == "inverse"

    @property
    def family(self) -> str:
        """The instrument family, e.g. ``BTC-USDT``."""
        return f"{self.base}-{self.quote}"

    @property
    def margin_ccy(self) -> str:
        """The currency margin, PnL and fees are in."""
        return self.settle if self.derivative else self.quote


_BTC = Underlying("BTC", Decimal("60000"), Decimal("12000"))
_ETH = Underlying("ETH", Decimal("3000"), Decimal("150000"))
_LTC = Underlying("LTC", Decimal("80"), Decimal("300000"))
_SOL = Underlying("SOL", Decimal("150"), Decimal("2000000"))
_XRP = Underlying("XRP", Decimal("0.5"), Decimal("200000000"))
_DOGE = Underlying("DOGE", Decimal("0.15"), Decimal("900000000"))
_OKB = Underlying("OKB", Decimal("45"), Decimal("200000"))
_ETHBTC = Underlying("ETHBTC", Decimal("0.05"), Decimal("5000"))


def _spot(
    under: Underlying, base: str, quote: str, tick: str, lot: str, minimum: str
) -> SimInstrument:
    return SimInstrument(
        inst_type="SPOT",
        inst_id=f"{base}-{quote}",
        base=base,
        quote=quote,
        tick_sz=Decimal(tick),
        lot_sz=Decimal(lot),
        min_sz=Decimal(minimum),
        underlying=under,
    )


def _swap(
    under: Underlying, base: str, quote: str, tick: str, lot: str, ct_val: str, lever: int
) -> SimInstrument:
    inverse = quote == "USD"
    return SimInstrument(
        inst_type="SWAP",
        inst_id=f"{base}-{quote}-SWAP",
        base=base,
        quote=quote,
        tick_sz=Decimal(tick),
        lot_sz=Decimal(lot),
        min_sz=Decimal(lot),
        underlying=under,
        settle=base if inverse else quote,
        ct_val=Decimal(ct_val),
        ct_val_ccy="USD" if inverse else base,
        ct_type="inverse" if inverse else "linear",
        max_lever=lever,
        max_lmt_sz=Decimal("100000000"),
        max_mkt_sz=Decimal("12000"),
    )


SPOT: Sequence[SimInstrument] = (
    _spot(_BTC, "BTC", "USDT", "0.1", "0.00000001", "0.00001"),
    _spot(_ETH, "ETH", "USDT", "0.01", "0.000001", "0.0001"),
    _spot(_LTC, "LTC", "USDT", "0.01", "0.000001", "0.001"),
    _spot(_SOL, "SOL", "USDT", "0.01", "0.000001", "0.001"),
    _spot(_XRP, "XRP", "USDT", "0.0001", "0.000001", "0.1"),
    _spot(_DOGE, "DOGE", "USDT", "0.00001", "0.000001", "10"),
    _spot(_OKB, "OKB", "USDT", "0.001", "0.000001", "0.01"),
    _spot(_ETHBTC, "ETH", "BTC", "0.00001", "0.000001", "0.001"),
)

SWAPS: Sequence[SimInstrument] = (
    _swap(_BTC, "BTC", "USDT", "0.1", "0.01", "0.01", 100),
    _swap(_ETH, "ETH", "USDT", "0.01", "0.01", "0.1", 100),
    _swap(_LTC, "LTC", "USDT", "0.01", "0.01", "1", 75),
    _swap(_SOL, "SOL", "USDT", "0.01", "0.01", "1", 50),
    _swap(_BTC, "BTC", "USD", "0.1", "1", "100", 100),
    _swap(_ETH, "ETH", "USD", "0.01", "1", "10", 100),
)


def _last_friday(year: int, month: int) -> datetime:
    if month == 12:
        first_next = datetime(year + 1, 1, 1, 8, tzinfo=timezone.utc)
    else:
        first_next = datetime(year, month + 1, 1, 8, tzinfo=timezone.utc)
    day = first_next - timedelta(days=1)
    while day.weekday() != 4:
        day -= timedelta(days=1)
    return day


def future_expiries(now_ms: int) -> list[tuple[str, int]]:
    """
    The live dated-futures expiries at ``now_ms``, as ``(kind, expiry_ms)`` pairs.

    Weekly contracts expire every Friday 08:00 UTC; quarterlies on the last Friday of
    March, June, September and December. A quarterly that is due within two weeks is
    already the ``this_week``/``next_week`` contract, so ``quarter`` moves one quarter out.
    """
    now = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc)
    friday = now.replace(hour=8, minute=0, second=0, microsecond=0)
    friday += timedelta(days=(4 - friday.weekday()) % 7)
    if friday <= now:
        friday += timedelta(days=7)
    this_week = friday
    next_week = friday + timedelta(days=7)
    quarters: list[datetime] = []
    year, month = now.year, ((now.month - 1) // 3 + 1) * 3
    while len(quarters) < 2:
        candidate = _last_friday(year, month)
        if candidate > next_week:
            quarters.append(candidate)
        month += 3
        if month > 12:
            year, month = year + 1, 3
    moments = [
        ("this_week", this_week),
        ("next_week", next_week),
        ("quarter", quarters[0]),
        ("next_quarter", quarters[1]),
    ]
    return [(alias, int(moment.timestamp() * 1000)) for alias, moment in moments]


def _future(
    under: Underlying, base: str, quote: str, kind: str, expiry_ms: int
) -> SimInstrument:
    inverse = quote == "USD"
    stamp = datetime.fromtimestamp(expiry_ms / 1000, tz=timezone.utc).strftime("%y%m%d")
    listed = expiry_ms - (14 if kind in ("this_week", "next_week") else 180) * _DAY_MS
    return SimInstrument(
        inst_type="FUTURES",
        inst_id=f"{base}-{quote}-{stamp}",
        base=base,
        quote=quote,
        tick_sz=Decimal("0.1"),
        lot_sz=Decimal("1") if inverse else Decimal("0.1"),
        min_sz=Decimal("1") if inverse else Decimal("0.1"),
        underlying=under,
        settle=base if inverse else quote,
        ct_val=Decimal("100") if inverse else Decimal("0.01"),
        ct_val_ccy="USD" if inverse else base,
        ct_type="inverse" if inverse else "linear",
        max_lever=100,
        max_lmt_sz=Decimal("1000000"),
        max_mkt_sz=Decimal("10000"),
        list_time_ms=listed,
        exp_time_ms=expiry_ms,
    )


def catalogue(now_ms: int) -> list[SimInstrument]:
    """
    Every instrument live at ``now_ms``: spot pairs, perpetual swaps and dated futures.
    """
    futures = [
        _future(_BTC, "BTC", quote, kind, expiry)
        for quote in ("USD", "USDT")
        for kind, expiry in future_expiries(now_ms)
    ]
    return [*SPOT, *SWAPS, *futures]


class LiveCatalogue:
    """
    The instruments live at a given moment, by id, with any changes made while running.

    Building the catalogue parses dates, so it is rebuilt only when the set of futures
    expiries changes (once a week) or an instrument is patched, not on every lookup.
    """

    def __init__(self) -> None:
        self._key: tuple[tuple[str, int], ...] = ()
        self._by_id: dict[str, SimInstrument] = {}
        self._patches: dict[str, dict[str, Any]] = {}

    def at(self, now_ms: int) -> list[SimInstrument]:
        """Instruments live at ``now_ms``."""
        key = tuple(future_expiries(now_ms))
        if key != self._key:
            self._key = key
            self._by_id = {
                inst.inst_id: evolve(inst, **self._patches.get(inst.inst_id, {}))
                for inst in catalogue(now_ms)
            }
        return list(self._by_id.values())

    def get(self, inst_id: str, now_ms: int) -> SimInstrument | None:
        """The live instrument ``inst_id``, or ``None``."""
        self.at(now_ms)
        return self._by_id.get(inst_id)

    def patch(self, inst_id: str, now_ms: int, changes: Mapping[str, Any]) -> SimInstrument:
        """
        Change a live instrument from now on: ``state`` (:data:`STATES`), ``tickSz`` or
        ``maxMktSz`` (positive decimals). Orders already placed keep what they were
        placed with.

        :raises ValueError: for an unknown instrument, field or value.
        """
        if self.get(inst_id, now_ms) is None:
            raise ValueError(f"no live instrument {inst_id!r}")
        fields: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "state":
                if value not in STATES:
                    raise ValueError(f"state must be one of {', '.join(STATES)}")
                fields["state"] = value
            elif name in ("tickSz", "maxMktSz"):
                number = _positive(value, name)
                fields["tick_sz" if name == "tickSz" else "max_mkt_sz"] = number
            else:
                raise ValueError(f"cannot change {name!r}; expected state, tickSz or maxMktSz")
        if not fields:
            raise ValueError("nothing to change: give state, tickSz or maxMktSz")
        self._patches.setdefault(inst_id, {}).update(fields)
        self._key = ()
        found = self.get(inst_id, now_ms)
        assert found is not None
        return found

    def reset(self) -> None:
        """Forget every patch."""
        self._patches.clear()
        self._key = ()


def _positive(value: object, name: str) -> Decimal:
    try:
        number = Decimal(str(value)) if isinstance(value, (str, int)) else None
    except ArithmeticError:
        number = None
    if number is None or isinstance(value, bool) or not number.is_finite() or number <= 0:
        raise ValueError(f"{name} must be a positive decimal string")
    return number
