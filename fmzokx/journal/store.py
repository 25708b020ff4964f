# -*- test-case-name: tests.journal.test_store -*-
"""
The order journal as the daemon uses it: each read and write a Deferred, the SQLite work
on the journal's own thread (:mod:`~fmzokx.journal.executor`), times from the
injected clock.

A write that fails errbacks with :class:`~fmzokx.journal.errors.JournalUnavailable`
and leaves the file as it was; the store keeps trying later writes, so a disk that
recovers (space freed, remounted read-write) makes the journal usable again without a
restart. The first failure and the recovery are logged once each, not per order.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from typing import TypeVar

from attrs import define, field
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from fmzokx.journal import entries
from fmzokx.journal.database import JournalDb
from fmzokx.journal.entries import AuditFilter
from fmzokx.journal.errors import JournalUnavailable
from fmzokx.journal.executor import Executor
from fmzokx.journal.lock import JournalLock
from fmzokx.journal.records import (
    CancelRecord,
    Entry,
    LeverageRecord,
    OrderEntry,
    OrderRecord,
)
from fmzokx.journal.schema import schema_version
from fmzokx.logs import logger

__all__ = ["DEFAULT_JOURNAL", "SANDBOX_JOURNAL", "Journal"]

DEFAULT_JOURNAL = "fmzokx-journal.sqlite3"
"""The journal's file name in the daemon's working directory (twistd ``--rundir``)."""

SANDBOX_JOURNAL = "fmzokx-sandbox-journal.sqlite3"
"""``--sandbox`` keeps its own journal: simulated orders never mix with real ones."""

T = TypeVar("T")

log = logger(__name__)


@define
class Journal:
    """
    An open, locked journal. Build it with :meth:`open`; :meth:`close` after the last
    call in flight has finished.
    """

    db: JournalDb
    clock: IReactorTime
    executor: Executor
    lock: JournalLock | None = None
    writable: bool = field(default=True, init=False)
    """Whether the last write succeeded (for health reports)."""
    _closed: bool = field(default=False, init=False)

    @classmethod
    def open(cls, path: str, clock: IReactorTime, executor: Executor) -> Journal:
        """
        Lock, open, check and migrate the journal at ``path`` (synchronously: call it at
        start-up, before serving), then start the executor.

        :raises JournalOpenError: one line naming the file; nothing is left open.
        """
        path = os.path.abspath(path)
        lock = JournalLock.acquire(path)
        try:
            db = JournalDb.open(path, lambda: _ms(clock))
        except BaseException:
            lock.release()
            raise
        journal = cls(db=db, clock=clock, executor=executor, lock=lock)
        executor.start()
        version = schema_version(db.connection)
        held = db.connection.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
        log.info(
            "order journal {path} open (schema version {version}, {orders} orders)",
            path=path, version=version, orders=held,
        )
        return journal

    @property
    def path(self) -> str:
        return self.db.path

    def now(self) -> int:
        """The clock's time in milliseconds, the unit of every time in the journal."""
        return _ms(self.clock)

    # -- writes ---------------------------------------------------------------------

    def record_order_intent(self, intent: OrderRecord) -> Deferred[bool]:
        """
        Commit an order's intent to disk (fsync) before it is sent.

        Fires ``True`` once durable, ``False`` when that clOrdId is already journalled
        (nothing written: look it up instead).
        """
        created = self.now()
        return self._write(lambda c: entries.insert_order(c, intent, created), durable=True)

    def record_order_outcome(
        self,
        key_fp: str,
        cl_ord_id: str,
        outcome: str,
        *,
        ord_id: str | None = None,
        reason: str | None = None,
        reply: str | None = None,
    ) -> Deferred[bool]:
        """
        Record ``placed`` (with ``ord_id``), ``not_placed`` (with ``reason``) or
        ``unknown``. Fires ``False`` when the entry is absent or already final.
        """
        at = self.now()
        return self._write(
            lambda c: entries.set_order_outcome(
                c, key_fp, cl_ord_id, outcome, at, ord_id=ord_id, reason=reason, reply=reply
            ),
            durable=False,
        )

    def record_cancel_intent(self, intent: CancelRecord) -> Deferred[int]:
        """Commit a cancel's intent before it is sent; fires its entry id."""
        created = self.now()
        return self._write(lambda c: entries.insert_cancel(c, intent, created), durable=True)

    def record_cancel_outcome(
        self, entry_id: int, outcome: str, reason: str | None = None
    ) -> Deferred[bool]:
        at = self.now()
        return self._write(
            lambda c: entries.set_cancel_outcome(c, entry_id, outcome, at, reason),
            durable=False,
        )

    def record_leverage_intent(self, intent: LeverageRecord) -> Deferred[int]:
        """Commit a set-leverage intent before it is sent; fires its entry id."""
        created = self.now()
        return self._write(lambda c: entries.insert_leverage(c, intent, created), durable=True)

    def record_leverage_outcome(
        self, entry_id: int, outcome: str, reason: str | None = None
    ) -> Deferred[bool]:
        at = self.now()
        return self._write(
            lambda c: entries.set_leverage_outcome(c, entry_id, outcome, at, reason),
            durable=False,
        )

    def prune(self, before: int, batch: int) -> Deferred[tuple[int, int]]:
        """Delete up to ``batch`` entries per kind created before ``before`` (ms)."""
        return self._write(lambda c: entries.prune(c, before, batch), durable=False)

    # -- reads ----------------------------------------------------------------------

    def find_order(self, key_fp: str, cl_ord_id: str) -> Deferred[OrderEntry | None]:
        return self._read(lambda c: entries.find_order(c, key_fp, cl_ord_id))

    def unresolved(self, kind: str = "order", limit: int = 1000) -> Deferred[list[Entry]]:
        """Entries without an outcome or ``unknown``, oldest first."""
        return self._read(lambda c: entries.unresolved(c, kind, limit))

    def audit(self, wanted: AuditFilter) -> Deferred[list[Entry]]:
        return self._read(lambda c: entries.audit(c, wanted))

    # -- plumbing -------------------------------------------------------------------

    def _write(self, work: Callable[[sqlite3.Connection], T], durable: bool) -> Deferred[T]:
        if self._closed:
            return fail(self._closed_error())
        result = self.executor.run(lambda: self.db.write(work, durable))
        result.addCallbacks(self._wrote, self._write_failed)
        return result

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> Deferred[T]:
        if self._closed:
            return fail(self._closed_error())
        return self.executor.run(lambda: self.db.read(work))

    def _wrote(self, result: T) -> T:
        if not self.writable:
            self.writable = True
            log.info("order journal {path} is writable again: orders are accepted",
                     path=self.path)
        return result

    def _write_failed(self, failure: Failure) -> Failure:
        if failure.check(JournalUnavailable) and self.writable:
            self.writable = False
            log.error(
                "{reason}; new orders are refused until it can be written",
                reason=str(failure.value),
            )
        return failure

    def _closed_error(self) -> JournalUnavailable:
        return JournalUnavailable(f"order journal {self.path} is closed", self.path)

    def close(self) -> Deferred[None]:
        """
        Finish the queued work, close the file, stop the thread and release the lock.
        Idempotent.
        """
        if self._closed:
            return succeed(None)
        self._closed = True
        done = self.executor.run(self.db.close)

        def finish(result: object) -> None:
            if isinstance(result, Failure):
                log.failure("closing the order journal {path} failed", result, path=self.path)
            self.executor.stop()
            if self.lock is not None:
                self.lock.release()
            log.info("order journal {path} closed", path=self.path)

        done.addBoth(finish)
        return done


def _ms(clock: IReactorTime) -> int:
    return int(clock.seconds() * 1000)
