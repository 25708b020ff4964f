"""
The durable order journal: every order, cancel and leverage change the daemon sends to
OKX, written to an SQLite file before it is sent, with its outcome after.

- :mod:`~fmzokx.journal.records` -- intents and entries (no credential fits in one)
- :mod:`~fmzokx.journal.schema` -- tables, versions, forward migrations
- :mod:`~fmzokx.journal.database` -- opening a file safely; transactions
- :mod:`~fmzokx.journal.entries` -- the SQL of each read and write
- :mod:`~fmzokx.journal.lock` -- one daemon per journal
- :mod:`~fmzokx.journal.executor` -- the journal's own thread
- :mod:`~fmzokx.journal.store` -- :class:`Journal`, the Deferred-returning facade
- :mod:`~fmzokx.journal.prune` -- retention
"""

from fmzokx.journal.entries import AuditFilter
from fmzokx.journal.errors import (
    JournalError,
    JournalLocked,
    JournalOpenError,
    JournalStalled,
    JournalUnavailable,
)
from fmzokx.journal.executor import Executor, ImmediateExecutor, ThreadExecutor
from fmzokx.journal.prune import DEFAULT_DAYS, JournalPruner
from fmzokx.journal.records import (
    CancelEntry,
    CancelRecord,
    Entry,
    LeverageEntry,
    LeverageRecord,
    OrderEntry,
    OrderRecord,
)
from fmzokx.journal.store import DEFAULT_JOURNAL, SANDBOX_JOURNAL, Journal

__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_JOURNAL",
    "SANDBOX_JOURNAL",
    "AuditFilter",
    "CancelEntry",
    "CancelRecord",
    "Entry",
    "Executor",
    "ImmediateExecutor",
    "Journal",
    "JournalError",
    "JournalLocked",
    "JournalOpenError",
    "JournalPruner",
    "JournalStalled",
    "JournalUnavailable",
    "LeverageEntry",
    "LeverageRecord",
    "OrderEntry",
    "OrderRecord",
    "ThreadExecutor",
]
