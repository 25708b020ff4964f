# -*- test-case-name: tests.journal.test_store -*-
"""
The order journal as the daemon uses it: each read and write a Deferred, the SQLite work
on the journal's own thread (:mod:`~fmzokx.journal.executor`), times from the
injected clock.

A write that fails errbacks with :class:`~fmzokx.journal.errors.JournalUnavailable`
and leaves the file as it was; the store keeps trying later writes, so a disk that
recovers (space freed, remounted read-write) makes the journal usable again without a
restart. The first failure and the recovery are logged once each, not per order.

A disk can also stall rather than fail (``fsfreeze``, a hung NFS server): the journal's
thread then waits in ``fsync`` for as long as the disk does, and nothing can interrupt
it. So a caller never waits longer than :attr:`Journal.deadline` for the work it needs:
past it, its Deferred fails with :class:`~fmzokx.journal.errors.JournalStalled` and the
work, if it has not started, is dropped. Work that was already running finishes when
the disk comes back; an order intent that becomes durable that late is marked
``not_placed`` at once (the order was never sent and never will be). While work waits
longer than the deadline the journal reports itself stalled (:meth:`Journal.health`).
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

from fmzokx.deferreds import with_deadline
from fmzokx.journal import entries
from fmzokx.journal.database import JournalDb
from fmzokx.journal.entries import AuditFilter
from fmzokx.journal.errors import JournalStalled, JournalUnavailable
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
    deadline: float | None = None
    """
    Seconds a caller waits for a write or read it needs (``None``: as long as it takes).
    The daemon sets :data:`fmzokx.okx.bounds.JOURNAL_WRITE`.
    """
    writable: bool = field(default=True, init=False)
    """Whether the last write succeeded (for health reports)."""
    _closed: bool = field(default=False, init=False)
    _pending: dict[int, float] = field(factory=dict, init=False)
    """Work handed to the thread and not finished: job number -> when it was handed over."""
    _jobs: int = field(default=0, init=False)
    _stall_logged: bool = field(default=False, init=False)

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

    @property
    def stalled_for(self) -> float:
        """
        Seconds the oldest unfinished journal work has waited, once that is longer than
        :attr:`deadline` (a stalled disk); ``0.0`` otherwise.
        """
        if not self._pending:
            return 0.0
        waited = self.clock.seconds() - next(iter(self._pending.values()))
        limit = self.deadline if self.deadline is not None else STALLED_AFTER
        return waited if waited >= limit else 0.0

    def health(self) -> dict[str, object]:
        """The journal's part of ``/healthz`` and the status page."""
        stalled = self.stalled_for
        return {
            "path": self.path,
            "writable": self.writable,
            "stalled": stalled > 0,
            "stalled_for_s": round(stalled, 1),
        }

    @property
    def healthy(self) -> bool:
        """Writable and not stalled: orders can be journalled now."""
        return self.writable and not self.stalled_for

    # -- writes ---------------------------------------------------------------------

    def record_order_intent(self, intent: OrderRecord) -> Deferred[bool]:
        """
        Commit an order's intent to disk (fsync) before it is sent.

        Fires ``True`` once durable, ``False`` when that clOrdId is already journalled
        (nothing written: look it up instead); fails with
        :class:`~fmzokx.journal.errors.JournalStalled` when not durable within
        :attr:`deadline`, and then the entry, should it still become durable, is marked
        ``not_placed`` (the caller must never send the order).
        """
        created = self.now()

        def durable_too_late(fresh: bool) -> None:
            if not fresh:
                return
            log.warn("order {cl_ord_id}: its intent became durable only after the caller "
                     "gave up; recording it as not placed (it was never sent)",
                     cl_ord_id=intent.cl_ord_id)
            self.record_order_outcome(
                intent.key_fp, intent.cl_ord_id, "not_placed",
                reason=f"order not placed: the order journal did not make its intent durable "
                f"within {self.deadline:g} s; it was never sent",
            ).addErrback(_late_outcome_failed, intent.cl_ord_id)

        return self._write(
            lambda c: entries.insert_order(c, intent, created), durable=True,
            wait=self.deadline, late=durable_too_late,
        )

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
        return self._write(lambda c: entries.insert_cancel(c, intent, created), durable=True,
                           wait=self.deadline)

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
        return self._write(lambda c: entries.insert_leverage(c, intent, created), durable=True,
                           wait=self.deadline)

    def record_leverage_outcome(
        self, entry_id: int, outcome: str, reason: str | None = None
    ) -> Deferred[bool]:
        at = self.now()
        return self._write(
            lambda c: entries.set_leverage_outcome(c, entry_id, outcome, at, reason),
            durable=False,
        )

    def record_direction(self, key_fp: str, inst_id: str, direction: str) -> Deferred[None]:
        """Keep a legacy ``io`` SetDirection (durable: a restart finds it)."""
        at = self.now()
        return self._write(
            lambda c: entries.set_direction(c, key_fp, inst_id, direction, at), durable=True,
            wait=self.deadline,
        )

    def prune(self, before: int, batch: int) -> Deferred[tuple[int, int]]:
        """Delete up to ``batch`` entries per kind created before ``before`` (ms)."""
        return self._write(lambda c: entries.prune(c, before, batch), durable=False)

    # -- reads ----------------------------------------------------------------------

    def find_order(self, key_fp: str, cl_ord_id: str) -> Deferred[OrderEntry | None]:
        """An order's entry (within :attr:`deadline`: a repeat is waiting for it)."""
        return self._read(lambda c: entries.find_order(c, key_fp, cl_ord_id), wait=self.deadline)

    def directions(self, key_fp: str) -> Deferred[dict[str, str]]:
        """A key's kept SetDirection per contract (``""``: every contract)."""
        return self._read(lambda c: entries.directions(c, key_fp), wait=self.deadline)

    def unresolved(self, kind: str = "order", limit: int = 1000) -> Deferred[list[Entry]]:
        """Entries without an outcome or ``unknown``, oldest first."""
        return self._read(lambda c: entries.unresolved(c, kind, limit))

    def audit(self, wanted: AuditFilter) -> Deferred[list[Entry]]:
        return self._read(lambda c: entries.audit(c, wanted))

    # -- plumbing -------------------------------------------------------------------

    def _write(
        self,
        work: Callable[[sqlite3.Connection], T],
        durable: bool,
        *,
        wait: float | None = None,
        late: Callable[[T], object] | None = None,
    ) -> Deferred[T]:
        if self._closed:
            return fail(self._closed_error())
        return self._run(lambda: self.db.write(work, durable), wait, late, tracked=True)

    def _read(
        self, work: Callable[[sqlite3.Connection], T], *, wait: float | None = None
    ) -> Deferred[T]:
        if self._closed:
            return fail(self._closed_error())
        return self._run(lambda: self.db.read(work), wait)

    def _run(
        self,
        job: Callable[[], T],
        wait: float | None,
        late: Callable[[T], object] | None = None,
        *,
        tracked: bool = False,
    ) -> Deferred[T]:
        """
        Hand ``job`` to the journal's thread; its result, or :class:`JournalStalled` once
        ``wait`` seconds pass first (then ``late`` gets the result should it still come,
        and the job is skipped if it has not started).
        """
        number = self._jobs = self._jobs + 1
        self._pending[number] = self.clock.seconds()
        abandoned: list[bool] = []

        def guarded() -> T:
            # Read on the journal's thread: a job whose caller already gave up never runs.
            if abandoned:
                raise _Dropped()
            return job()

        inner = self.executor.run(guarded)
        inner.addBoth(self._finished, number)
        if tracked:
            inner.addCallbacks(self._wrote, self._write_failed)
        if wait is None:
            return inner

        def stalled() -> JournalStalled:
            abandoned.append(True)
            self._stalled(wait)
            return JournalStalled(
                f"order journal {self.path} did not answer within {wait:g} s (its disk is "
                "stalled: a frozen file system, a hung network mount?)",
                self.path,
            )

        # The job cannot be interrupted (it may be in fsync): it is left to finish, and a
        # late failure is dropped (_write_failed logged it, or it is a dropped job).
        return with_deadline(inner, self.clock, wait, stalled, cancel=False, late=late)

    def _finished(self, result: T, number: int) -> T:
        started = self._pending.pop(number, None)
        if not self._pending and self._stall_logged:
            self._stall_logged = False
            waited = 0.0 if started is None else self.clock.seconds() - started
            log.info("order journal {path} answers again (after {seconds:.1f} s): orders are "
                     "accepted", path=self.path, seconds=waited)
        return result

    def _stalled(self, wait: float) -> None:
        if not self._stall_logged:
            self._stall_logged = True
            log.error(
                "order journal {path} has not answered for {seconds:g} s (its disk is stalled: "
                "a frozen file system, a hung network mount?); orders are refused as not "
                "placed until it answers", path=self.path, seconds=wait,
            )

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


STALLED_AFTER = 5.0
"""Without a :attr:`Journal.deadline`, seconds of waiting work that count as stalled."""


class _Dropped(Exception):
    """A job whose caller gave up before it started: it is not run."""


def _late_outcome_failed(failure: Failure, cl_ord_id: str) -> None:
    log.error("could not mark order {cl_ord_id} not placed in the journal: {error}",
              cl_ord_id=cl_ord_id, error=str(failure.value))


def _ms(clock: IReactorTime) -> int:
    return int(clock.seconds() * 1000)
