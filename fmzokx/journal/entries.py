# -*- test-case-name: tests.journal.test_store -*-
"""
Reading and writing journal entries over a connection (plain functions, no threads).

Outcome rules, enforced here for every kind: an entry without an outcome or with
``unknown`` may get any outcome; a final outcome (placed, not placed, canceled...) never
changes again, so a late or repeated write cannot rewrite history.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from attrs import frozen

from fmzokx.journal.records import (
    CANCEL_OUTCOMES,
    KINDS,
    LEVERAGE_OUTCOMES,
    ORDER_OUTCOMES,
    PENDING,
    CancelEntry,
    CancelRecord,
    Entry,
    LeverageEntry,
    LeverageRecord,
    OrderEntry,
    OrderRecord,
)

__all__ = [
    "AuditFilter",
    "audit",
    "count",
    "find_order",
    "insert_cancel",
    "insert_leverage",
    "insert_order",
    "prune",
    "directions",
    "set_cancel_outcome",
    "set_direction",
    "set_leverage_outcome",
    "set_order_outcome",
    "unresolved",
]

ORDER_COLUMNS = (
    "key_fp, cl_ord_id, inst_id, side, ord_type, size, td_mode, price, pos_side, nonce, "
    "request_fp, exp_time, body, created, outcome, ord_id, reason, outcome_at, unknown_at, "
    "reply"
)
CANCEL_COLUMNS = "id, key_fp, inst_id, ord_id, cl_ord_id, created, outcome, reason, outcome_at"
LEVERAGE_COLUMNS = (
    "id, key_fp, inst_id, lever, mgn_mode, pos_side, created, outcome, reason, outcome_at"
)

_TABLES = {"order": "orders", "cancel": "cancels", "leverage": "leverage_changes"}
_OUTCOMES = {"order": ORDER_OUTCOMES, "cancel": CANCEL_OUTCOMES, "leverage": LEVERAGE_OUTCOMES}
_UNRESOLVED = "(outcome IS NULL OR outcome = 'unknown')"

REASON_LIMIT = 1000
REPLY_LIMIT = 8000
"""Characters kept of a reason or an OKX reply (the file stays bounded per entry)."""


def _clip(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]


def _check_outcome(kind: str, outcome: str) -> None:
    if outcome not in _OUTCOMES[kind]:
        raise ValueError(f"{kind} outcome must be one of {_OUTCOMES[kind]}, got {outcome!r}")


# -- orders ---------------------------------------------------------------------------


def insert_order(connection: sqlite3.Connection, intent: OrderRecord, created: int) -> bool:
    """Record an intent; ``False`` (nothing written) when its clOrdId is already there."""
    cursor = connection.execute(
        "INSERT OR IGNORE INTO orders (key_fp, cl_ord_id, inst_id, side, ord_type, size, "
        "td_mode, price, pos_side, nonce, request_fp, exp_time, body, created) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            intent.key_fp, intent.cl_ord_id, intent.inst_id, intent.side, intent.ord_type,
            intent.size, intent.td_mode, intent.price, intent.pos_side, intent.nonce,
            intent.request_fp, intent.exp_time, intent.body, created,
        ),
    )
    return cursor.rowcount == 1


def set_order_outcome(
    connection: sqlite3.Connection,
    key_fp: str,
    cl_ord_id: str,
    outcome: str,
    at: int,
    *,
    ord_id: str | None = None,
    reason: str | None = None,
    reply: str | None = None,
) -> bool:
    """Record what became of an order; ``False`` when it is absent or already final."""
    _check_outcome("order", outcome)
    cursor = connection.execute(
        "UPDATE orders SET outcome = ?, ord_id = COALESCE(?, ord_id), reason = ?, "
        "reply = COALESCE(?, reply), outcome_at = ?, "
        "unknown_at = CASE WHEN ? = 'unknown' THEN COALESCE(unknown_at, ?) ELSE unknown_at END "
        f"WHERE key_fp = ? AND cl_ord_id = ? AND {_UNRESOLVED}",
        (
            outcome, ord_id, _clip(reason, REASON_LIMIT), _clip(reply, REPLY_LIMIT), at,
            outcome, at, key_fp, cl_ord_id,
        ),
    )
    return cursor.rowcount == 1


def find_order(connection: sqlite3.Connection, key_fp: str, cl_ord_id: str) -> OrderEntry | None:
    row = connection.execute(
        f"SELECT {ORDER_COLUMNS} FROM orders WHERE key_fp = ? AND cl_ord_id = ?",
        (key_fp, cl_ord_id),
    ).fetchone()
    return None if row is None else OrderEntry(*row)


# -- cancels and leverage changes -----------------------------------------------------


def insert_cancel(connection: sqlite3.Connection, intent: CancelRecord, created: int) -> int:
    """Record a cancel intent; its entry id."""
    cursor = connection.execute(
        "INSERT INTO cancels (key_fp, inst_id, ord_id, cl_ord_id, created) VALUES (?, ?, ?, ?, ?)",
        (intent.key_fp, intent.inst_id, intent.ord_id, intent.cl_ord_id, created),
    )
    return _rowid(cursor)


def insert_leverage(connection: sqlite3.Connection, intent: LeverageRecord, created: int) -> int:
    """Record a set-leverage intent; its entry id."""
    cursor = connection.execute(
        "INSERT INTO leverage_changes (key_fp, inst_id, lever, mgn_mode, pos_side, created) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (intent.key_fp, intent.inst_id, intent.lever, intent.mgn_mode, intent.pos_side, created),
    )
    return _rowid(cursor)


def _rowid(cursor: sqlite3.Cursor) -> int:
    if cursor.lastrowid is None:
        raise sqlite3.DatabaseError("no row id for the new entry")
    return cursor.lastrowid


def set_cancel_outcome(
    connection: sqlite3.Connection, entry_id: int, outcome: str, at: int,
    reason: str | None = None,
) -> bool:
    _check_outcome("cancel", outcome)
    return _set_by_id(connection, "cancels", entry_id, outcome, at, reason)


def set_leverage_outcome(
    connection: sqlite3.Connection, entry_id: int, outcome: str, at: int,
    reason: str | None = None,
) -> bool:
    _check_outcome("leverage", outcome)
    return _set_by_id(connection, "leverage_changes", entry_id, outcome, at, reason)


def _set_by_id(
    connection: sqlite3.Connection, table: str, entry_id: int, outcome: str, at: int,
    reason: str | None,
) -> bool:
    cursor = connection.execute(
        f"UPDATE {table} SET outcome = ?, reason = ?, outcome_at = ? "
        f"WHERE id = ? AND {_UNRESOLVED}",
        (outcome, _clip(reason, REASON_LIMIT), at, entry_id),
    )
    return cursor.rowcount == 1


# -- reading many ---------------------------------------------------------------------


def _select(kind: str) -> str:
    columns = {"order": ORDER_COLUMNS, "cancel": CANCEL_COLUMNS, "leverage": LEVERAGE_COLUMNS}
    return f"SELECT {columns[kind]} FROM {_TABLES[kind]}"


def _entry(kind: str, row: Sequence[Any]) -> Entry:
    if kind == "order":
        return OrderEntry(*row)
    if kind == "cancel":
        return CancelEntry(*row)
    return LeverageEntry(*row)


def unresolved(
    connection: sqlite3.Connection, kind: str = "order", limit: int = 1000
) -> list[Entry]:
    """Entries without an outcome or with ``unknown``, oldest first (to reconcile)."""
    rows = connection.execute(
        f"{_select(kind)} WHERE {_UNRESOLVED} ORDER BY created, rowid LIMIT ?", (limit,)
    )
    return [_entry(kind, row) for row in rows]


@frozen
class AuditFilter:
    """
    Which entries an audit lists. Times in ms; ``until`` is exclusive. ``outcome`` is one
    of the kinds' outcomes or :data:`~fmzokx.journal.records.PENDING` (no outcome yet).
    ``limit`` keeps the most recent entries.
    """

    since: int | None = None
    until: int | None = None
    inst_id: str | None = None
    outcome: str | None = None
    kinds: tuple[str, ...] = KINDS
    limit: int = 1000

    def __attrs_post_init__(self) -> None:
        known = {PENDING, *ORDER_OUTCOMES, *CANCEL_OUTCOMES, *LEVERAGE_OUTCOMES}
        if self.outcome is not None and self.outcome not in known:
            raise ValueError(
                f"unknown outcome {self.outcome!r}; one of {', '.join(sorted(known))}"
            )
        for kind in self.kinds:
            if kind not in KINDS:
                raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
        if self.limit < 1:
            raise ValueError("limit must be at least 1")


def audit(connection: sqlite3.Connection, wanted: AuditFilter) -> list[Entry]:
    """The entries ``wanted`` selects, oldest first, at most ``limit`` (the newest)."""
    found: list[Entry] = []
    for kind in wanted.kinds:
        clauses: list[str] = []
        args: list[Any] = []
        if wanted.outcome == PENDING:
            clauses.append("outcome IS NULL")
        elif wanted.outcome is not None:
            if wanted.outcome not in _OUTCOMES[kind]:
                continue
            clauses.append("outcome = ?")
            args.append(wanted.outcome)
        if wanted.since is not None:
            clauses.append("created >= ?")
            args.append(wanted.since)
        if wanted.until is not None:
            clauses.append("created < ?")
            args.append(wanted.until)
        if wanted.inst_id is not None:
            clauses.append("inst_id = ?")
            args.append(wanted.inst_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = connection.execute(
            f"{_select(kind)}{where} ORDER BY created DESC, rowid DESC LIMIT ?",
            (*args, wanted.limit),
        )
        found.extend(_entry(kind, row) for row in rows)
    found.sort(key=lambda entry: (entry.created, KINDS.index(entry.kind)), reverse=True)
    return found[: wanted.limit][::-1]


def prune(connection: sqlite3.Connection, before: int, batch: int) -> tuple[int, int]:
    """
    Delete up to ``batch`` entries of each kind created before ``before`` (oldest first).

    :returns: (entries deleted, of which unresolved) -- the caller warns about the latter.
    """
    deleted = unsettled = 0
    for table in _TABLES.values():
        rows = connection.execute(
            f"SELECT rowid, {_UNRESOLVED} FROM {table} WHERE created < ? "
            "ORDER BY created, rowid LIMIT ?",
            (before, batch),
        ).fetchall()
        connection.executemany(
            f"DELETE FROM {table} WHERE rowid = ?", ((row[0],) for row in rows)
        )
        deleted += len(rows)
        unsettled += sum(1 for row in rows if row[1])
    return deleted, unsettled


def count(connection: sqlite3.Connection, kinds: Iterable[str] = KINDS) -> int:
    """How many entries the journal holds."""
    return sum(
        connection.execute(f"SELECT COUNT(*) FROM {_TABLES[kind]}").fetchone()[0]
        for kind in kinds
    )



def set_direction(
    connection: sqlite3.Connection, key_fp: str, inst_id: str, direction: str, at: int
) -> None:
    """
    Keep a SetDirection for a key's contract (``inst_id`` empty: every contract of the
    key, replacing the contract-specific ones).
    """
    if not inst_id:
        connection.execute("DELETE FROM io_directions WHERE key_fp = ?", (key_fp,))
    connection.execute(
        "INSERT OR REPLACE INTO io_directions (key_fp, inst_id, direction, updated) "
        "VALUES (?, ?, ?, ?)",
        (key_fp, inst_id, direction, at),
    )


def directions(connection: sqlite3.Connection, key_fp: str) -> dict[str, str]:
    """A key's SetDirection per contract (``""``: every contract)."""
    rows = connection.execute(
        "SELECT inst_id, direction FROM io_directions WHERE key_fp = ?", (key_fp,)
    )
    return {str(inst_id): str(direction) for inst_id, direction in rows}
