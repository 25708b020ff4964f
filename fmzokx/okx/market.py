# -*- test-case-name: tests.okx.test_domain -*-
"""
OKX's public market data as typed calls: tickers, books, trades, candles, funding.

Each call owns its endpoint and query fields and returns OKX's items parsed into records
(:mod:`fmzokx.okx.records`) with the envelope(s) to pass on as FMZ's ``raw``. Candle
history is walked here, across ``/market/candles`` and ``/market/history-candles``,
because where one ends and the other begins is OKX's rule.

With ``streams`` (``--market-data ws``), the ticker, books and trades calls answer from
the live WebSocket copy (:mod:`fmzokx.okx.stream`) when it is in sync and fresh, parsed by
the same record functions and with the envelope REST would have returned, and go to REST
otherwise. A demo-trading key reads OKX's demo market: its copy, or REST with the key
(``x-simulated-trading: 1``). An instrument REST calls unknown (51001) is dropped from
the copy and not subscribed again for a while, so a typo in a symbol costs no channel and
does not degrade ``/healthz``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import frozen

from fmzokx.okx.codes import UNKNOWN_INSTRUMENT
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.endpoints import (
    BOOKS,
    CANDLES,
    FUNDING_RATE,
    HISTORY_CANDLES,
    TICKER,
    TICKERS,
    TRADES,
)
from fmzokx.okx.errors import OkxApiError, OkxError
from fmzokx.okx.records import (
    BookRecord,
    CandleRecord,
    Fetched,
    FundingRecord,
    Paged,
    TickerRecord,
    TradeRecord,
    parse_items,
)
from fmzokx.okx.rest.client import OkxClient, OkxReply
from fmzokx.okx.rest.pagination import page_failed
from fmzokx.okx.stream.market import MarketStream
from fmzokx.okx.stream.streams import StreamSet

__all__ = ["BAR_SIZES", "CANDLE_PAGE", "IncompleteHistory", "MarketData"]

BAR_SIZES: dict[int, str] = {
    1: "1m",
    3: "3m",
    5: "5m",
    15: "15m",
    30: "30m",
    60: "1H",
    120: "2H",
    240: "4H",
    360: "6Hutc",
    720: "12Hutc",
    1440: "1Dutc",
    2880: "2Dutc",
    4320: "3Dutc",
    10080: "1Wutc",
    43200: "1Mutc",
}
"""Bar length in minutes -> OKX's ``bar``; daily and longer bars are UTC-aligned."""

CANDLE_PAGE = 300
"""The most candles OKX returns per page."""


class IncompleteHistory(OkxError):
    """OKX's candle history stopped before the requested number of bars."""


def _streamed(data: list[Any]) -> OkxReply:
    """A reply built from the WebSocket copy, shaped as REST's."""
    return OkxReply(200, {"code": "0", "msg": "", "data": data})


def _demo_key(credentials: Credentials | None) -> Credentials | None:
    """The key to sign a public read with: only a demo key, so OKX serves its demo market."""
    return credentials if credentials is not None and credentials.simulated else None


@frozen
class MarketData:
    """Public market-data calls over the one OKX client (and the WebSocket copies)."""

    client: OkxClient
    streams: StreamSet | None = None

    def _stream(self, credentials: Credentials | None) -> MarketStream | None:
        if self.streams is None:
            return None
        return self.streams.for_demo(credentials is not None and credentials.simulated)

    async def _read(
        self,
        stream: MarketStream | None,
        inst_id: str,
        path: str,
        params: Mapping[str, Any],
        credentials: Credentials | None,
    ) -> OkxReply:
        """REST's answer; an unknown instrument is dropped from ``stream``'s copy."""
        try:
            return await self.client.get(path, params, credentials=_demo_key(credentials))
        except OkxApiError as error:
            if stream is not None and error.code == UNKNOWN_INSTRUMENT:
                stream.unknown_instrument(inst_id)
            raise

    async def ticker(
        self, inst_id: str, credentials: Credentials | None = None
    ) -> Fetched[TickerRecord]:
        """One instrument's ticker (no record when OKX sends none)."""
        stream = self._stream(credentials)
        reply = None
        if stream is not None:
            ticker = stream.ticker(inst_id)
            if ticker is not None:
                reply = _streamed([ticker])
        if reply is None:
            reply = await self._read(
                stream, inst_id, TICKER.path, {"instId": inst_id}, credentials
            )
        return Fetched(parse_items(TickerRecord.from_okx, reply.data), reply.raw)

    async def tickers(self, inst_type: str) -> Fetched[TickerRecord]:
        """The tickers of every instrument of one ``instType``."""
        reply = await self.client.get(TICKERS.path, {"instType": inst_type})
        return Fetched(parse_items(TickerRecord.from_okx, reply.data), reply.raw)

    async def books(
        self, inst_id: str, depth: int, credentials: Credentials | None = None
    ) -> Fetched[BookRecord]:
        """One instrument's book, ``depth`` levels a side."""
        stream = self._stream(credentials)
        reply = None
        if stream is not None:
            book = stream.depth(inst_id, depth)
            if book is not None:
                reply = _streamed([book])
        if reply is None:
            reply = await self._read(
                stream, inst_id, BOOKS.path, {"instId": inst_id, "sz": depth}, credentials
            )
        return Fetched(parse_items(BookRecord.from_okx, reply.data), reply.raw)

    async def trades(
        self, inst_id: str, limit: int, credentials: Credentials | None = None
    ) -> Fetched[TradeRecord]:
        """The latest ``limit`` public trades, newest first as OKX sends them."""
        stream = self._stream(credentials)
        mark = None
        if stream is not None:
            rows = stream.trades(inst_id, limit)
            if rows is not None:
                streamed = _streamed(rows)
                return Fetched(parse_items(TradeRecord.from_okx, streamed.data), streamed.raw)
            mark = stream.trades_mark(inst_id)
        reply = await self._read(
            stream, inst_id, TRADES.path, {"instId": inst_id, "limit": limit}, credentials
        )
        if stream is not None:
            stream.seed_trades(
                inst_id, [row for row in reply.data if isinstance(row, Mapping)], mark
            )
        return Fetched(parse_items(TradeRecord.from_okx, reply.data), reply.raw)

    async def funding_rates(self, inst_id: str = "ANY") -> Fetched[FundingRecord]:
        """Current funding of one swap, or of every swap with ``ANY``."""
        reply = await self.client.get(FUNDING_RATE.path, {"instId": inst_id})
        return Fetched(parse_items(FundingRecord.from_okx, reply.data), reply.raw)

    async def candles(self, inst_id: str, minutes: int, count: int) -> Paged[CandleRecord]:
        """
        The latest ``count`` bars of ``minutes`` each (at most fewer when OKX has no more),
        newest first, one per open time, and every page's envelope.

        Every page shares the read deadline (:meth:`OkxClient.read_scope`).

        :raises KeyError: for a bar length OKX does not offer (see :data:`BAR_SIZES`).
        :raises IncompleteHistory: when OKX's history stops moving backwards.
        :raises OkxPaginationError: when a page fails or the deadline passes.
        """
        bar = BAR_SIZES[minutes]
        with self.client.read_scope():
            return await self._candles(inst_id, bar, count)

    async def _candles(self, inst_id: str, bar: str, count: int) -> Paged[CandleRecord]:
        pages: list[Mapping[str, Any]] = []
        rows: dict[str, list[Any]] = {}
        path = CANDLES.path
        params: dict[str, Any] = {"instId": inst_id, "bar": bar, "limit": min(count, CANDLE_PAGE)}
        while len(rows) < count:
            try:
                reply = await self.client.get(path, params)
            except OkxError as error:
                raise page_failed(path, error, pages, list(rows.values())) from error
            pages.append(reply.raw)
            page = [row for row in reply.data if isinstance(row, list) and row]
            if not page:
                break
            before = len(rows)
            for row in page:
                rows.setdefault(str(row[0]), row)
            oldest = min(page, key=lambda row: int(row[0]))[0]
            if len(rows) == before:
                raise IncompleteHistory(
                    f"OKX candles for {inst_id} did not go further back than {oldest}: refusing "
                    "to return an incomplete list",
                    path=path,
                )
            # Older bars live behind history-candles; `after` is exclusive (older than ts).
            path = HISTORY_CANDLES.path
            params = {
                "instId": inst_id,
                "bar": bar,
                "after": oldest,
                "limit": min(count - len(rows), CANDLE_PAGE),
            }
            if params["limit"] <= 0:
                break
        candles = [CandleRecord.from_okx(row) for row in rows.values()]
        return Paged([candle for candle in candles if candle is not None], pages)
