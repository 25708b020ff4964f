# -*- test-case-name: tests.journal.test_prune -*-
"""
Retention: entries older than ``--journal-days`` are deleted on a timer, in bounded batches.

Each batch is one short transaction on the journal's thread, so orders queued behind a
prune wait for one batch at most, never for a whole backlog; a tick stops after
``max_batches`` and the next tick carries on. SQLite reuses the freed pages, so the file
stops growing once the retention window is full.

Unresolved entries (no outcome, or ``unknown``) past the window are deleted too -- a
request that old is never repeated by the docker -- with a warning that names how many.
"""

from __future__ import annotations

from attrs import define, field
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

from fmzokx.journal.errors import JournalUnavailable
from fmzokx.journal.store import Journal
from fmzokx.logs import logger

__all__ = ["DEFAULT_DAYS", "JournalPruner"]

DEFAULT_DAYS = 30.0
DAY_MS = 86_400_000

log = logger(__name__)


@define
class JournalPruner:
    """
    :ivar days: keep entries this many days.
    :ivar interval: seconds between prunes (the first runs at :meth:`start`).
    :ivar batch: entries per kind deleted by one transaction.
    :ivar max_batches: transactions per tick at most.
    """

    journal: Journal
    clock: IReactorTime
    days: float = DEFAULT_DAYS
    interval: float = 3600.0
    batch: int = 1000
    max_batches: int = 20
    _loop: LoopingCall | None = field(default=None, init=False)

    def start(self) -> None:
        loop = self._loop = LoopingCall(self._tick)
        loop.clock = self.clock
        loop.start(self.interval, now=True)

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def _tick(self) -> Deferred[int]:
        return ensureDeferred(self.run_once())

    async def run_once(self) -> int:
        """
        Delete what is past the window, ``max_batches`` batches at most; how many went.
        A journal that cannot be written is logged and retried at the next tick.
        """
        before = self.journal.now() - int(self.days * DAY_MS)
        deleted = unsettled = 0
        try:
            for _ in range(self.max_batches):
                gone, open_ones = await self.journal.prune(before, self.batch)
                deleted += gone
                unsettled += open_ones
                if gone < self.batch:
                    break
        except JournalUnavailable as error:
            log.warn("pruning the order journal failed ({error}); retrying later",
                     error=str(error))
        if deleted:
            log.info("order journal: pruned {count} entries older than {days:g} days",
                     count=deleted, days=self.days)
        if unsettled:
            log.warn(
                "order journal: {count} pruned entries had no final outcome (older than "
                "{days:g} days; check them on OKX if they matter)",
                count=unsettled, days=self.days,
            )
        return deleted
