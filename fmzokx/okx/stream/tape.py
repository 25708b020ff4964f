# -*- test-case-name: tests.stream.test_market -*-
"""
The recent public trades of one instrument, from the ``trades-all`` channel and REST.

The ``trades-all`` channel (business URL) pushes every trade on its own, exactly as
``GET /market/trades`` lists them; the ``trades`` channel may aggregate several fills into
one push, which a strategy would see as different trades, so it is not used here.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MAX_TRADES", "TradeTape"]

MAX_TRADES = 500
"""The most trades kept (``GET /market/trades`` returns at most 500)."""

_SortKey = tuple[int, int, str]


def _sort_key(row: Mapping[str, Any]) -> _SortKey | None:
    ts, trade_id = str(row.get("ts", "")), str(row.get("tradeId", ""))
    if not ts.isdigit() or not trade_id:
        return None
    return (int(ts), int(trade_id) if trade_id.isdigit() else 0, trade_id)


class TradeTape:
    """Trades by ``tradeId``, oldest dropped past :data:`MAX_TRADES`."""

    def __init__(self, capacity: int = MAX_TRADES) -> None:
        self.capacity = capacity
        self._rows: dict[str, dict[str, Any]] = {}
        self._order: list[tuple[_SortKey, str]] = []

    def __len__(self) -> int:
        return len(self._order)

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Keep ``rows`` (OKX trade objects); repeated ``tradeId``\\ s are kept once."""
        for row in rows:
            key = _sort_key(row)
            trade_id = str(row.get("tradeId", ""))
            if key is None or trade_id in self._rows:
                continue
            self._rows[trade_id] = dict(row)
            insort(self._order, (key, trade_id))
        while len(self._order) > self.capacity:
            _, oldest = self._order.pop(0)
            del self._rows[oldest]

    def newest(self, limit: int) -> list[dict[str, Any]] | None:
        """The ``limit`` newest trades, newest first (as REST lists them), or ``None``."""
        if limit > len(self._order):
            return None
        return [dict(self._rows[trade_id]) for _, trade_id in reversed(self._order[-limit:])]

    def clear(self) -> None:
        """Forget every trade."""
        self._rows.clear()
        self._order.clear()
