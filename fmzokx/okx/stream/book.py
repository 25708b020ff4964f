# -*- test-case-name: tests.stream.test_book -*-
"""
A local copy of one OKX ``books`` channel: a snapshot, then increments in ``seqId`` order.

OKX's rules (Order book channel, "Sequence ID" and "Checksum" in the v5 docs):

- the snapshot has ``prevSeqId`` -1; each later message's ``prevSeqId`` is the previous
  message's ``seqId``. Anything else means a message was lost: the copy is out of sync
  and must be rebuilt from a new snapshot. A message that changes nothing has
  ``prevSeqId`` equal to ``seqId``; after maintenance ``seqId`` may restart lower, still
  chained by ``prevSeqId``;
- in an increment, a level with size ``"0"`` is deleted, any other level replaces or
  inserts the level at that price;
- ``checksum`` is CRC32, as a signed 32-bit integer, of the top 25 bids and asks written
  ``bid1px:bid1sz:ask1px:ask1sz:...`` with OKX's own strings (``"0.5000"`` stays as
  sent); a shorter side just ends early. OKX announced in 2026 that it would send 0 there
  from June 2026 on: a checksum of 0 is therefore not checked, and the ``seqId`` chain
  alone guards the copy.
"""

from __future__ import annotations

import zlib
from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from attrs import define, field

__all__ = ["BOOK_DEPTH", "BookError", "OrderBook", "checksum", "checksum_text"]

BOOK_DEPTH = 400
CHECKSUM_LEVELS = 25


class BookError(Exception):
    """The copy can no longer be trusted; ``reason`` is ``gap``, ``checksum`` or ``malformed``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def checksum_text(bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]) -> str:
    """The string OKX's checksum is computed over (best levels first on both sides)."""
    parts: list[str] = []
    for index in range(min(CHECKSUM_LEVELS, max(len(bids), len(asks)))):
        if index < len(bids):
            parts.append(f"{bids[index][0]}:{bids[index][1]}")
        if index < len(asks):
            parts.append(f"{asks[index][0]}:{asks[index][1]}")
    return ":".join(parts)


def checksum(bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]) -> int:
    """OKX's book checksum: signed 32-bit CRC32 of :func:`checksum_text`."""
    value = zlib.crc32(checksum_text(bids, asks).encode("ascii"))
    return value - (1 << 32) if value >= 1 << 31 else value


@define
class _Side:
    """One side: levels by price, and the prices sorted best first."""

    descending: bool
    levels: dict[Decimal, list[str]] = field(factory=dict)
    _keys: list[Decimal] = field(factory=list)  # ascending; negated for bids

    def _key(self, price: Decimal) -> Decimal:
        return -price if self.descending else price

    def clear(self) -> None:
        self.levels.clear()
        self._keys.clear()

    def apply(self, row: list[str], price: Decimal, size_is_zero: bool) -> None:
        key = self._key(price)
        if size_is_zero:
            if self.levels.pop(price, None) is not None:
                del self._keys[bisect_left(self._keys, key)]
            return
        if price not in self.levels:
            insort(self._keys, key)
        self.levels[price] = row

    def truncate(self, depth: int) -> None:
        while len(self._keys) > depth:
            key = self._keys.pop()
            self.levels.pop(-key if self.descending else key, None)

    def top(self, count: int) -> list[list[str]]:
        return [self.levels[-k if self.descending else k] for k in self._keys[:count]]

    def __len__(self) -> int:
        return len(self._keys)


@define
class OrderBook:
    """
    The book of one instrument as the ``books`` channel describes it.

    ``seq_id`` is ``None`` until a snapshot arrived and after :meth:`reset`.
    """

    depth: int = BOOK_DEPTH
    seq_id: int | None = None
    ts: str = ""
    _asks: _Side = field(factory=lambda: _Side(descending=False))
    _bids: _Side = field(factory=lambda: _Side(descending=True))

    @property
    def synced(self) -> bool:
        """Whether the copy follows the channel (a snapshot and an unbroken chain)."""
        return self.seq_id is not None

    def reset(self) -> None:
        """Forget everything; the next message must be a snapshot."""
        self.seq_id = None
        self.ts = ""
        self._asks.clear()
        self._bids.clear()

    def apply(self, action: str, data: Mapping[str, Any]) -> None:
        """
        Apply one ``books`` push (``action`` ``snapshot`` or ``update``).

        :raises BookError: on a broken ``seqId`` chain, a checksum mismatch or a malformed
            message; the book is then reset.
        """
        try:
            self._apply(action, data)
        except BookError:
            self.reset()
            raise

    def _apply(self, action: str, data: Mapping[str, Any]) -> None:
        seq_id, prev_seq_id = _integer(data.get("seqId")), _integer(data.get("prevSeqId"))
        if seq_id is None or prev_seq_id is None:
            raise BookError("malformed", "seqId and prevSeqId must be integers")
        asks, bids = _levels(data.get("asks")), _levels(data.get("bids"))
        if action == "snapshot":
            self._asks.clear()
            self._bids.clear()
        elif action != "update":
            raise BookError("malformed", f"unknown action {str(action)[:20]!r}")
        elif self.seq_id is None:
            raise BookError("gap", "an update arrived before any snapshot")
        elif prev_seq_id != self.seq_id:
            raise BookError("gap", f"prevSeqId {prev_seq_id} does not follow seqId {self.seq_id}")
        for side, rows in ((self._asks, asks), (self._bids, bids)):
            for row, price, zero in rows:
                side.apply(row, price, zero)
            side.truncate(self.depth)
        self.seq_id = seq_id
        self.ts = str(data.get("ts", ""))
        expected = _integer(data.get("checksum"))
        if expected:
            actual = checksum(self._bids.top(CHECKSUM_LEVELS), self._asks.top(CHECKSUM_LEVELS))
            if actual != expected:
                raise BookError("checksum", f"computed {actual}, OKX sent {expected}")

    def levels(self, limit: int) -> dict[str, Any]:
        """
        The best ``limit`` levels of each side as OKX's book object (``asks`` ascending,
        ``bids`` descending, rows ``[px, sz, "0", orders]``, ``ts``, ``seqId``).
        """
        return {
            "asks": [list(row) for row in self._asks.top(limit)],
            "bids": [list(row) for row in self._bids.top(limit)],
            "ts": self.ts,
            "seqId": self.seq_id,
        }


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _levels(rows: Any) -> Iterable[tuple[list[str], Decimal, bool]]:
    if not isinstance(rows, list):
        raise BookError("malformed", "asks and bids must be lists")
    parsed = []
    for row in rows:
        if not isinstance(row, list) or len(row) < 2 or not all(isinstance(v, str) for v in row):
            raise BookError("malformed", "a level must be a list of strings")
        try:
            price, size = Decimal(row[0]), Decimal(row[1])
        except InvalidOperation:
            raise BookError("malformed", "a level's price and size must be numbers") from None
        if not price.is_finite() or not size.is_finite() or size < 0:
            raise BookError("malformed", "a level's price and size must be finite")
        parsed.append((list(row), price, size == 0))
    return parsed
