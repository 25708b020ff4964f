# -*- test-case-name: tests.okx.test_records -*-
"""
OKX's items as typed, frozen records: what the OKX side hands the FMZ side.

Each record is parsed once, here, from one OKX item -- a REST ``data`` element or a
WebSocket push of the same shape -- by its ``from_okx`` function, so every source of an
item reads it the same way. Numbers are :class:`~decimal.Decimal`; OKX's ``""`` (no
value), a missing field and anything that is not a finite number are ``None``, never 0:
what "no value" means to a strategy is the FMZ side's decision. Times are OKX's
milliseconds as ``int`` (``None`` likewise). Every record keeps OKX's item as ``raw``.

A field read from OKX is declared with :func:`okx_field`: the OKX name it comes from and
how it is parsed. :func:`okx_field_names` lists every such name, which the boundary test
(``tests/okx/test_domain.py``) forbids on the FMZ side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, Generic, TypeVar

from attrs import AttrsInstance, field, fields, frozen

__all__ = [
    "BalanceDetail",
    "BalanceRecord",
    "BookLevel",
    "BookRecord",
    "CandleRecord",
    "Fetched",
    "FundingRecord",
    "OrderRecord",
    "Paged",
    "PositionRecord",
    "RECORDS",
    "TickerRecord",
    "TradeRecord",
    "flag",
    "millis",
    "number",
    "okx_field",
    "okx_field_names",
    "parse_items",
    "text",
]

_OKX = "fmzokx.okx"
_PARSE = "fmzokx.parse"

R = TypeVar("R")
A = TypeVar("A", bound=AttrsInstance)


def number(value: Any) -> Decimal | None:
    """An OKX numeric string as a Decimal, ``None`` when empty or not a finite number."""
    if not value and (value is None or value == ""):
        return None
    try:
        parsed = Decimal(value if value.__class__ is str else str(value))
    except InvalidOperation:
        return None
    return parsed if parsed.is_finite() else None


def millis(value: Any) -> int | None:
    """OKX's millisecond timestamp (a string of digits) as an int; ``None`` when it is not."""
    if value is None:
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


def text(value: Any) -> str:
    """An OKX text field; ``""`` when absent."""
    return "" if value is None else str(value)


def flag(value: Any) -> bool:
    """OKX's ``"true"``/``"false"`` (absent: false)."""
    return str(value).lower() == "true"


def okx_field(name: str, parse: Callable[[Any], Any]) -> Any:
    """An attribute read from OKX's field ``name`` with ``parse``."""
    return field(metadata={_OKX: name, _PARSE: parse})


def _raw() -> Any:
    """OKX's item as it came, for FMZ's ``raw``; not part of a record's equality."""
    return field(eq=False, repr=False)


@cache
def _parser(cls: type[AttrsInstance]) -> Callable[[Mapping[str, Any]], Any]:
    """
    The function that makes a ``cls`` from an OKX item: every :func:`okx_field` read and
    parsed, the item as ``raw``. Written out once per class, as attrs writes ``__init__``
    (a loop over the fields cost a third more per item, and lists have thousands).
    """
    attributes = fields(cls)
    reads = [attribute for attribute in attributes if _OKX in attribute.metadata]
    if [a.name for a in attributes] != [a.name for a in reads] + ["raw"]:
        raise TypeError(f"{cls.__name__}: OKX fields first, then raw, and nothing else")
    namespace: dict[str, Any] = {"cls": cls}
    arguments = []
    for index, attribute in enumerate(reads):
        namespace[f"parse{index}"] = attribute.metadata[_PARSE]
        arguments.append(f"parse{index}(get({str(attribute.metadata[_OKX])!r}))")
    source = (
        f"def from_okx(item):\n    get = item.get\n    return cls({', '.join(arguments)}, item)\n"
    )
    exec(compile(source, f"<{cls.__name__}.from_okx>", "exec"), namespace)
    parse: Callable[[Mapping[str, Any]], Any] = namespace["from_okx"]
    return parse


def _parsed(cls: type[A], item: Mapping[str, Any]) -> A:
    """An instance of record class ``cls`` with every :func:`okx_field` read from ``item``."""
    made: A = _parser(cls)(item)
    return made


@frozen
class TickerRecord:
    """One ``/market/ticker(s)`` item or ``tickers`` channel push."""

    inst_id: str = okx_field("instId", text)
    bid_px: Decimal | None = okx_field("bidPx", number)
    ask_px: Decimal | None = okx_field("askPx", number)
    last: Decimal | None = okx_field("last", number)
    open_24h: Decimal | None = okx_field("open24h", number)
    high_24h: Decimal | None = okx_field("high24h", number)
    low_24h: Decimal | None = okx_field("low24h", number)
    vol_24h: Decimal | None = okx_field("vol24h", number)
    ts: int | None = okx_field("ts", millis)
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> TickerRecord:
        return _parsed(cls, item)


BookLevel = tuple[Decimal | None, Decimal | None]
"""
One price level of a book, ``(price, size)`` from OKX's ``[price, size, ...]``: a plain
tuple, as a book has hundreds of levels and an attrs or named tuple costs several times
as much to make.
"""


def _levels(value: Any) -> tuple[BookLevel, ...]:
    """A side of a book, as OKX sent it (levels of fewer than two columns skipped)."""
    if not isinstance(value, list):
        return ()
    return tuple([
        (number(level[0]), number(level[1]))
        for level in value
        if isinstance(level, (list, tuple)) and len(level) >= 2
    ])


@frozen
class BookRecord:
    """One ``/market/books`` item or ``books`` channel snapshot; levels in OKX's order."""

    asks: tuple[BookLevel, ...] = okx_field("asks", _levels)
    bids: tuple[BookLevel, ...] = okx_field("bids", _levels)
    ts: int | None = okx_field("ts", millis)
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> BookRecord:
        return _parsed(cls, item)


@frozen
class TradeRecord:
    """One public trade (``/market/trades`` item or ``trades-all`` push)."""

    inst_id: str = okx_field("instId", text)
    trade_id: str = okx_field("tradeId", text)
    px: Decimal | None = okx_field("px", number)
    sz: Decimal | None = okx_field("sz", number)
    side: str = okx_field("side", text)
    ts: int | None = okx_field("ts", millis)
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> TradeRecord:
        return _parsed(cls, item)


@frozen
class CandleRecord:
    """One candle: OKX's row ``[ts, o, h, l, c, vol, ...]`` (an array, not an object)."""

    ts: int | None
    open: Decimal | None
    high: Decimal | None
    low: Decimal | None
    close: Decimal | None
    volume: Decimal | None
    raw: Sequence[Any] = _raw()

    @classmethod
    def from_okx(cls, row: Sequence[Any]) -> CandleRecord | None:
        """The candle of one row; ``None`` for a row of fewer than six columns."""
        if isinstance(row, str) or len(row) < 6:
            return None
        return cls(
            ts=millis(row[0]), open=number(row[1]), high=number(row[2]), low=number(row[3]),
            close=number(row[4]), volume=number(row[5]), raw=row,
        )


@frozen
class OrderRecord:
    """
    One order as OKX reports it (``/trade/order``, the order lists, the ``orders``
    channel).
    """

    inst_type: str = okx_field("instType", text)
    inst_id: str = okx_field("instId", text)
    ord_id: str = okx_field("ordId", text)
    cl_ord_id: str = okx_field("clOrdId", text)
    side: str = okx_field("side", text)
    pos_side: str = okx_field("posSide", text)
    reduce_only: bool = okx_field("reduceOnly", flag)
    px: Decimal | None = okx_field("px", number)
    sz: Decimal | None = okx_field("sz", number)
    acc_fill_sz: Decimal | None = okx_field("accFillSz", number)
    avg_px: Decimal | None = okx_field("avgPx", number)
    state: str = okx_field("state", text)
    c_time: int | None = okx_field("cTime", millis)
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> OrderRecord:
        return _parsed(cls, item)


@frozen
class PositionRecord:
    """One position (``/account/positions`` item or ``positions`` channel push)."""

    inst_id: str = okx_field("instId", text)
    pos_side: str = okx_field("posSide", text)
    pos: Decimal | None = okx_field("pos", number)
    avail_pos: Decimal | None = okx_field("availPos", number)
    avg_px: Decimal | None = okx_field("avgPx", number)
    upl: Decimal | None = okx_field("upl", number)
    lever: Decimal | None = okx_field("lever", number)
    margin: Decimal | None = okx_field("margin", number)
    imr: Decimal | None = okx_field("imr", number)
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> PositionRecord:
        return _parsed(cls, item)


@frozen
class BalanceDetail:
    """One currency of an account balance (an element of its ``details``)."""

    ccy: str = okx_field("ccy", text)
    avail_eq: Decimal | None = okx_field("availEq", number)
    avail_bal: Decimal | None = okx_field("availBal", number)
    ord_frozen: Decimal | None = okx_field("ordFrozen", number)
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> BalanceDetail:
        return _parsed(cls, item)


def _details(value: Any) -> tuple[BalanceDetail, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(BalanceDetail.from_okx(item) for item in value if isinstance(item, Mapping))


@frozen
class BalanceRecord:
    """One account of ``/account/balance`` (or an ``account`` channel push)."""

    details: tuple[BalanceDetail, ...] = okx_field("details", _details)
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> BalanceRecord:
        return _parsed(cls, item)


@frozen
class FundingRecord:
    """One swap's current funding (``/public/funding-rate`` item)."""

    inst_id: str = okx_field("instId", text)
    funding_rate: Decimal | None = okx_field("fundingRate", number)
    funding_time: int | None = okx_field("fundingTime", millis)
    next_funding_time: int | None = okx_field("nextFundingTime", millis)
    raw: Mapping[str, Any] = _raw()

    @classmethod
    def from_okx(cls, item: Mapping[str, Any]) -> FundingRecord:
        return _parsed(cls, item)


RECORDS: tuple[type[AttrsInstance], ...] = (
    TickerRecord, BookRecord, TradeRecord, CandleRecord, OrderRecord, PositionRecord,
    BalanceDetail, BalanceRecord, FundingRecord,
)
"""Every record class (the instrument is :class:`~fmzokx.okx.instruments.Instrument`)."""


def okx_field_names(classes: Iterable[type[AttrsInstance]] = RECORDS) -> set[str]:
    """The OKX field names the record classes read."""
    return {
        str(attribute.metadata[_OKX])
        for cls in classes
        for attribute in fields(cls)
        if _OKX in attribute.metadata
    }


def parse_items(
    parse: Callable[[Mapping[str, Any]], R], items: Iterable[Any]
) -> list[R]:
    """``parse`` applied to every object of an OKX ``data`` array (anything else skipped)."""
    return [parse(item) for item in items if isinstance(item, Mapping)]


@frozen
class Fetched(Generic[R]):
    """
    The records of one OKX reply, and its envelope for FMZ's ``raw``.

    :ivar records: the parsed ``data`` items, in OKX's order.
    :ivar raw: the envelope as OKX sent it (or, from a WebSocket copy, as REST would have).
    """

    records: list[R]
    raw: Mapping[str, Any]


@frozen
class Paged(Generic[R]):
    """
    The records of a walk over several OKX pages, and every page's envelope.

    :ivar records: the parsed items (the call says in which order).
    :ivar pages: the envelopes, in the order read.
    """

    records: list[R]
    pages: list[Mapping[str, Any]]
