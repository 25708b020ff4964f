# -*- test-case-name: tests.journal.test_database -*-
"""
The journal's tables, and forward migrations from every earlier version.

``schema_version`` holds one row per applied migration; the highest is the file's
version. Each migration runs in one transaction with its version row, so a migration cut
short (crash, full disk) leaves the file at the previous version, untouched. A file
written by a newer fmzokx is refused rather than guessed at. ``application_id`` marks the
file as an fmzokx journal, so another program's SQLite database is never migrated into.

Versions:

1. ``orders``: one row per order intent, keyed by (key fingerprint, clOrdId), with its
   outcome columns filled in after the POST.
2. ``orders.unknown_at`` (when the outcome first became unknown, kept after it is
   resolved) and ``orders.reply`` (OKX's reply that settled it); indexes on creation time
   (pruning, audit) and on unresolved rows (reconciliation).
3. ``cancels`` and ``leverage_changes``: the other two kinds of write the daemon sends.
4. ``io_directions``: the legacy ``io`` SetDirection per key fingerprint and contract
   (``inst_id`` empty: every contract of the key), so a restart keeps it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

__all__ = ["APPLICATION_ID", "MIGRATIONS", "SCHEMA_VERSION", "migrate", "schema_version"]

APPLICATION_ID = 0x464D5A4A
"""``PRAGMA application_id`` of an fmzokx journal ("FMZJ")."""

V1 = (
    """
    CREATE TABLE schema_version (
        version INTEGER PRIMARY KEY,
        applied_at INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE orders (
        key_fp TEXT NOT NULL,
        cl_ord_id TEXT NOT NULL,
        inst_id TEXT NOT NULL,
        side TEXT NOT NULL,
        pos_side TEXT,
        ord_type TEXT NOT NULL,
        size TEXT NOT NULL,
        price TEXT,
        td_mode TEXT NOT NULL,
        nonce INTEGER,
        request_fp TEXT NOT NULL,
        exp_time INTEGER,
        body TEXT NOT NULL,
        created INTEGER NOT NULL,
        outcome TEXT CHECK (outcome IN ('placed', 'not_placed', 'unknown')),
        ord_id TEXT,
        reason TEXT,
        outcome_at INTEGER,
        PRIMARY KEY (key_fp, cl_ord_id)
    )
    """,
)

V2 = (
    "ALTER TABLE orders ADD COLUMN unknown_at INTEGER",
    "ALTER TABLE orders ADD COLUMN reply TEXT",
    "UPDATE orders SET unknown_at = outcome_at WHERE outcome = 'unknown'",
    "CREATE INDEX orders_created ON orders (created)",
    """
    CREATE INDEX orders_unresolved ON orders (created)
        WHERE outcome IS NULL OR outcome = 'unknown'
    """,
)

V3 = (
    """
    CREATE TABLE cancels (
        id INTEGER PRIMARY KEY,
        key_fp TEXT NOT NULL,
        inst_id TEXT NOT NULL,
        ord_id TEXT,
        cl_ord_id TEXT,
        created INTEGER NOT NULL,
        outcome TEXT CHECK (outcome IN ('canceled', 'not_canceled', 'unknown')),
        reason TEXT,
        outcome_at INTEGER,
        CHECK (ord_id IS NOT NULL OR cl_ord_id IS NOT NULL)
    )
    """,
    "CREATE INDEX cancels_created ON cancels (created)",
    """
    CREATE INDEX cancels_unresolved ON cancels (created)
        WHERE outcome IS NULL OR outcome = 'unknown'
    """,
    """
    CREATE TABLE leverage_changes (
        id INTEGER PRIMARY KEY,
        key_fp TEXT NOT NULL,
        inst_id TEXT NOT NULL,
        lever TEXT NOT NULL,
        mgn_mode TEXT NOT NULL,
        pos_side TEXT,
        created INTEGER NOT NULL,
        outcome TEXT CHECK (outcome IN ('set', 'not_set', 'unknown')),
        reason TEXT,
        outcome_at INTEGER
    )
    """,
    "CREATE INDEX leverage_changes_created ON leverage_changes (created)",
    """
    CREATE INDEX leverage_changes_unresolved ON leverage_changes (created)
        WHERE outcome IS NULL OR outcome = 'unknown'
    """,
)

V4 = (
    """
    CREATE TABLE io_directions (
        key_fp TEXT NOT NULL,
        inst_id TEXT NOT NULL,
        direction TEXT NOT NULL
            CHECK (direction IN ('buy', 'sell', 'closebuy', 'closesell')),
        updated INTEGER NOT NULL,
        PRIMARY KEY (key_fp, inst_id)
    )
    """,
)

MIGRATIONS: Sequence[Sequence[str]] = (V1, V2, V3, V4)
"""``MIGRATIONS[n - 1]`` takes a file from version ``n - 1`` to ``n`` (0 = empty)."""

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaError(Exception):
    """The file is not a journal this code can use (message says why, without the path)."""


def schema_version(connection: sqlite3.Connection) -> int:
    """
    The file's version: 0 for an empty database.

    :raises SchemaError: an SQLite database that is not an fmzokx journal.
    """
    application_id = connection.execute("PRAGMA application_id").fetchone()[0]
    tables = {
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    if not tables and application_id == 0:
        return 0
    if application_id != APPLICATION_ID or "schema_version" not in tables:
        raise SchemaError("an SQLite database, but not an fmzokx order journal")
    version = connection.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    if not isinstance(version, int) or version < 1:
        raise SchemaError("an fmzokx journal without a schema version")
    return version


def migrate(
    connection: sqlite3.Connection,
    now_ms: Callable[[], int],
    target: int = SCHEMA_VERSION,
) -> tuple[int, int]:
    """
    Bring the file up to ``target``, one transaction per version.

    ``connection`` must be in autocommit mode (``isolation_level=None``).

    :returns: (version found, version now).
    :raises SchemaError: not a journal, or newer than ``target``.
    """
    found = schema_version(connection)
    if found > target:
        raise SchemaError(
            f"written by a newer fmzokx (schema version {found}; this one knows up to "
            f"{target}): run the newer fmzokx, or move the file aside"
        )
    for version in range(found + 1, target + 1):
        connection.execute("BEGIN IMMEDIATE")
        try:
            if version == 1:
                connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            for statement in MIGRATIONS[version - 1]:
                connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (version, now_ms()),
            )
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
    return found, max(found, target)
