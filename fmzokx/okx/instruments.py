# -*- test-case-name: tests.okx.test_instruments -*-
"""
Instrument metadata: parsed once, cached, refreshed.

Order sizing needs ``tickSz``/``lotSz``/``minSz``, contracts need ``ctVal``, dated
futures are told apart by their delivery, and the FMZ ``markets`` method lists all of it.
The cache loads one ``instType`` at a time on first use, refreshes on a timer
(:meth:`InstrumentCache.refresh` driven by the service) and, rate-limited, whenever a
symbol is not found -- a new listing must not need a restart, and a typo must not hammer
OKX.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from attrs import define, field, frozen
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from fmzokx.deferreds import SingleFlight
from fmzokx.logs import logger
from fmzokx.okx.errors import LocalRefusal
from fmzokx.okx.records import number

__all__ = [
    "DELIVERY_ALIASES",
    "INST_TYPES",
    "Instrument",
    "InstrumentCache",
    "UnknownInstrument",
    "decimals_of",
    "delivery_alias",
    "inst_type_of",
    "optional_decimal",
    "parse_instrument",
]

INST_TYPES = ("SPOT", "SWAP", "FUTURES")
log = logger(__name__)

_SPOT_ID = re.compile(r"^[A-Za-z0-9]{1,20}-[A-Za-z0-9]{1,20}$")
_SWAP_ID = re.compile(r"^[A-Za-z0-9]{1,20}-[A-Za-z0-9]{1,20}-SWAP$", re.IGNORECASE)
_FUTURES_ID = re.compile(r"^[A-Za-z0-9]{1,20}-[A-Za-z0-9]{1,20}-\d{6}$")
_OPTION_ID = re.compile(r"^[A-Za-z0-9]{1,20}-[A-Za-z0-9]{1,20}-\d{6}-\d+(?:\.\d+)?-[CP]$",
                        re.IGNORECASE)


DELIVERY_ALIASES = ("this_week", "next_week", "quarter", "next_quarter", "third_quarter")
"""OKX's names for a dated future by when it delivers (once its ``alias`` field)."""

_WEEK_MS = 7 * 24 * 3600 * 1000
_DAY_MS = 24 * 3600 * 1000
_DELIVERY_HOUR_MS = 8 * 3600 * 1000
_FRIDAY = 4  # datetime.weekday()


def _first_delivery_after(now_ms: int) -> int:
    """The first Friday 08:00 UTC strictly after ``now_ms`` (OKX's delivery time)."""
    day_start = now_ms - now_ms % _DAY_MS
    weekday = datetime.fromtimestamp(day_start / 1000, tz=timezone.utc).weekday()
    candidate = day_start + ((_FRIDAY - weekday) % 7) * _DAY_MS + _DELIVERY_HOUR_MS
    return candidate if candidate > now_ms else candidate + _WEEK_MS


def _last_friday_delivery(year: int, month: int) -> int:
    """The last Friday 08:00 UTC of ``month``: a quarterly contract's delivery."""
    nxt = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=timezone.utc)
    last = nxt - timedelta(days=1)
    last -= timedelta(days=(last.weekday() - _FRIDAY) % 7)
    return int(last.replace(hour=8).timestamp() * 1000)


def delivery_alias(expiry_ms: int, now_ms: int) -> str:
    """
    What OKX's ``alias`` said of a future delivering at ``expiry_ms``, seen at ``now_ms``.

    OKX stopped filling ``alias`` in 2026 and says to use ``expTime``. Dated futures
    deliver on Fridays at 08:00 UTC: the nearest delivery is ``this_week``, the one after
    ``next_week``; beyond those, contracts delivering on the last Friday of March, June,
    September or December are ``quarter``, ``next_quarter`` and ``third_quarter`` in
    order. Anything else (delivered, or an odd date) has no alias: ``""``.
    """
    this_week = _first_delivery_after(now_ms)
    if expiry_ms == this_week:
        return "this_week"
    if expiry_ms == this_week + _WEEK_MS:
        return "next_week"
    if expiry_ms <= this_week + _WEEK_MS:
        return ""
    moment = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc)
    year, month = moment.year, moment.month
    quarterlies: list[int] = []
    while len(quarterlies) < 3:
        if month in (3, 6, 9, 12):
            delivery = _last_friday_delivery(year, month)
            if delivery > this_week + _WEEK_MS:
                quarterlies.append(delivery)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    if expiry_ms in quarterlies:
        return DELIVERY_ALIASES[2 + quarterlies.index(expiry_ms)]
    return ""


class UnknownInstrument(LocalRefusal):
    """OKX lists no instrument matching what was asked (the message says what)."""


def inst_type_of(inst_id: str) -> str | None:
    """OKX's ``instType`` for an instId by its shape, ``None`` when it has none of them."""
    if _SWAP_ID.match(inst_id):
        return "SWAP"
    if _FUTURES_ID.match(inst_id):
        return "FUTURES"
    if _OPTION_ID.match(inst_id):
        return "OPTION"
    if _SPOT_ID.match(inst_id):
        return "SPOT"
    return None


optional_decimal = number
"""An OKX numeric string as a Decimal, ``None`` when empty or not a finite number."""


def decimals_of(step: Decimal | None) -> int:
    """Digits after the point in a tick or lot size (``0.001`` -> 3, ``10`` -> 0)."""
    if step is None or step <= 0:
        return 0
    exponent = step.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


@frozen
class Instrument:
    """
    One OKX instrument (its limits included), with the fields sizing, symbols and FMZ's
    ``markets`` need as Decimals; ``raw`` is OKX's item.
    """

    inst_type: str
    inst_id: str
    base: str
    quote: str
    settle: str
    family: str
    tick_size: Decimal
    lot_size: Decimal
    min_size: Decimal
    max_limit_size: Decimal | None
    max_market_size: Decimal | None
    max_limit_amount: Decimal | None
    ct_val: Decimal | None
    ct_val_ccy: str
    ct_type: str
    alias: str
    state: str
    expiry_ms: int | None
    raw: Mapping[str, Any] = field(eq=False, repr=False)
    #: the quote currencies a spot pair can be traded in (``tradeQuoteCcyList``)
    trade_quote_ccys: tuple[str, ...] = ()

    @property
    def is_contract(self) -> bool:
        return self.inst_type in ("SWAP", "FUTURES", "OPTION")

    @property
    def price_precision(self) -> int:
        return decimals_of(self.tick_size)

    @property
    def amount_precision(self) -> int:
        return decimals_of(self.lot_size)


def parse_instrument(item: Mapping[str, Any]) -> Instrument | None:
    """Parse one ``/public/instruments`` item; ``None`` for one we cannot trade (pre-open)."""
    inst_type = str(item.get("instType", "")).upper()
    inst_id = str(item.get("instId", ""))
    tick = optional_decimal(item.get("tickSz"))
    lot = optional_decimal(item.get("lotSz"))
    if not inst_id or tick is None or lot is None:
        return None
    family = str(item.get("instFamily") or item.get("uly") or "")
    if inst_type == "SPOT" or inst_type == "MARGIN":
        pieces = inst_id.split("-")
        base = str(item.get("baseCcy") or pieces[0])
        quote = str(item.get("quoteCcy") or (pieces[1] if len(pieces) > 1 else ""))
        family = family or f"{base}-{quote}"
    else:
        parts = (family or inst_id).split("-")
        if len(parts) < 2:
            return None
        base, quote = parts[0], parts[1]
        family = family or f"{base}-{quote}"
    expiry = item.get("expTime")
    return Instrument(
        inst_type=inst_type,
        inst_id=inst_id,
        base=base.upper(),
        quote=quote.upper(),
        settle=str(item.get("settleCcy") or ""),
        family=family,
        tick_size=tick,
        lot_size=lot,
        min_size=optional_decimal(item.get("minSz")) or lot,
        max_limit_size=optional_decimal(item.get("maxLmtSz")),
        max_market_size=optional_decimal(item.get("maxMktSz")),
        max_limit_amount=optional_decimal(item.get("maxLmtAmt")),
        ct_val=optional_decimal(item.get("ctVal")),
        ct_val_ccy=str(item.get("ctValCcy") or ""),
        ct_type=str(item.get("ctType") or ""),
        alias=str(item.get("alias") or ""),
        state=str(item.get("state") or ""),
        expiry_ms=int(expiry) if isinstance(expiry, str) and expiry.isdigit() else None,
        raw=dict(item),
        trade_quote_ccys=tuple(
            str(ccy).upper() for ccy in item.get("tradeQuoteCcyList") or () if ccy
        ),
    )


Fetch = Callable[[str], Awaitable[list[Mapping[str, Any]]]]


@define
class InstrumentCache:
    """
    Instruments by ``instType``, loaded on first use and refreshed.

    :ivar fetch: returns the raw ``data`` list of ``GET /public/instruments?instType=T``.
    :ivar clock: time source for the refresh-on-miss throttle.
    :ivar miss_refresh_interval: at most one refresh per type per this many seconds
        because of unknown symbols.
    :ivar now: OKX's time in seconds (the client's estimate), for telling which dated
        future is ``this_week``; the clock's time when not given.
    """

    fetch: Fetch
    clock: IReactorTime
    miss_refresh_interval: float = 30.0
    now: Callable[[], float] | None = None
    _by_type: dict[str, dict[str, Instrument]] = field(factory=dict, init=False)
    _loaded_at: dict[str, float] = field(factory=dict, init=False)
    _loading: SingleFlight[str, dict[str, Instrument]] = field(factory=SingleFlight, init=False)

    async def instruments(self, inst_type: str) -> dict[str, Instrument]:
        """Every instrument of ``inst_type`` by instId (loading it if needed)."""
        inst_type = inst_type.upper()
        cached = self._by_type.get(inst_type)
        if cached is not None:
            return cached
        return await self._load(inst_type)

    async def refresh(self, types: Iterable[str] | None = None) -> None:
        """Reload the given (default: already loaded) types; failures keep the old list."""
        for inst_type in list(types if types is not None else self._by_type):
            try:
                await self._load(inst_type)
            except Exception:
                log.failure("instrument refresh failed for {inst_type}", inst_type=inst_type)

    def _load(self, inst_type: str) -> Deferred[dict[str, Instrument]]:
        # Concurrent callers share one upstream call; a cancelled caller cannot cancel it.
        return self._loading.run(inst_type, lambda: self._fetch(inst_type))

    async def _fetch(self, inst_type: str) -> dict[str, Instrument]:
        items = await self.fetch(inst_type)
        parsed: dict[str, Instrument] = {}
        for item in items:
            instrument = parse_instrument(item)
            if instrument is not None:
                parsed[instrument.inst_id] = instrument
        self._by_type[inst_type] = parsed
        self._loaded_at[inst_type] = self.clock.seconds()
        log.debug("loaded {count} {inst_type} instruments", count=len(parsed), inst_type=inst_type)
        return parsed

    async def refresh_soon(self, inst_type: str) -> None:
        """
        Reload ``inst_type`` because OKX said an instrument changed, at most once per
        :attr:`miss_refresh_interval`; a failure keeps the old list.
        """
        try:
            await self._refresh_on_miss(inst_type)
        except Exception:
            log.failure("instrument refresh failed for {inst_type}", inst_type=inst_type)

    async def _refresh_on_miss(self, inst_type: str) -> dict[str, Instrument] | None:
        loaded_at = self._loaded_at.get(inst_type)
        if loaded_at is not None and self.clock.seconds() - loaded_at < self.miss_refresh_interval:
            return None
        return await self._load(inst_type)

    async def lookup(self, inst_id: str) -> Instrument:
        """
        The instrument for an OKX instId.

        :raises UnknownInstrument: when OKX lists none (after one throttled refresh).
        """
        inst_type = inst_type_of(inst_id)
        if inst_type is None or inst_type == "OPTION":
            what = "options are not supported" if inst_type else "not an OKX instId"
            raise UnknownInstrument(f"unknown instrument {inst_id[:40]!r}: {what}")
        return await self.find(inst_type, inst_id=inst_id)

    async def find(
        self,
        inst_type: str,
        *,
        inst_id: str | None = None,
        family: str | None = None,
        alias: str | None = None,
        describe: str = "",
    ) -> Instrument:
        """
        The one instrument of ``inst_type`` with ``inst_id``, or with ``family`` and
        ``alias`` (OKX's delivery names: ``this_week``, ``next_week``, ``quarter``,
        ``next_quarter``).

        :param describe: how the caller named it, for the error message.
        :raises UnknownInstrument: when OKX lists none (after one throttled refresh).
        """
        table = await self.instruments(inst_type)
        found = self._match(table, inst_id, family, alias)
        if found is None:
            fresh = await self._refresh_on_miss(inst_type)
            if fresh is not None:
                found = self._match(fresh, inst_id, family, alias)
        if found is None:
            wanted = inst_id or f"{alias} {inst_type.lower()} contract of {family}"
            prefix = f"unknown symbol {describe}: " if describe else ""
            raise UnknownInstrument(f"{prefix}OKX lists no {wanted}")
        return found

    def alias_of(self, instrument: Instrument) -> str:
        """
        The delivery alias of a dated future now (``this_week``, ``quarter``...): from its
        ``expTime`` and OKX's calendar, or OKX's own ``alias`` for an instrument without
        ``expTime``; ``""`` for anything else.
        """
        if instrument.inst_type != "FUTURES":
            return ""
        if instrument.expiry_ms is None:
            return instrument.alias
        now = self.now() if self.now is not None else self.clock.seconds()
        return delivery_alias(instrument.expiry_ms, int(now * 1000))

    def _match(
        self, table: Mapping[str, Instrument], inst_id: str | None, family: str | None,
        alias: str | None,
    ) -> Instrument | None:
        if inst_id is not None:
            return table.get(inst_id)
        for instrument in table.values():
            if instrument.family == family and self.alias_of(instrument) == alias:
                return instrument
        return None

    async def settled_in(self, inst_type: str, ccy: str) -> list[Instrument]:
        """The instruments of ``inst_type`` quoted or settled in ``ccy`` (``USDT`` swaps)."""
        table = await self.instruments(inst_type)
        return [inst for inst in table.values() if inst.quote == ccy or inst.settle == ccy]

    def cached(self, inst_id: str) -> Instrument | None:
        """An instrument already loaded, without I/O (for formatting replies)."""
        for table in self._by_type.values():
            found = table.get(inst_id)
            if found is not None:
                return found
        return None

