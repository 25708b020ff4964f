# -*- test-case-name: tests.journal.test_placement -*-
"""
Journalling the writes that are not orders: cancels and leverage changes.

Their intent is written before the POST and their outcome after, like an order's, so the
journal tells the whole story of what the daemon sent. Unlike an order, neither can be
duplicated into harm (a second cancel of a cancelled order, the same leverage set twice),
and a strategy cutting its risk must be able to cancel even when the disk is full; so a
journal that cannot be written is logged and the write goes ahead unrecorded.
"""

from __future__ import annotations

from typing import Literal

from twisted.python.failure import Failure

from fmzokx.journal import CancelRecord, Journal, JournalUnavailable, LeverageRecord
from fmzokx.journal.records import UNKNOWN
from fmzokx.logs import logger
from fmzokx.okx.placement.orders import is_ambiguous

__all__ = ["begin", "finish", "outcome_of_failure"]

log = logger(__name__)


async def begin(journal: Journal | None, record: CancelRecord | LeverageRecord) -> int | None:
    """The intent's entry id, or ``None`` (no journal, or it cannot be written: logged)."""
    if journal is None:
        return None
    try:
        if isinstance(record, CancelRecord):
            return await journal.record_cancel_intent(record)
        return await journal.record_leverage_intent(record)
    except JournalUnavailable as error:
        what = "cancel" if isinstance(record, CancelRecord) else "leverage change"
        log.warn("{what} on {inst_id} sent without a journal entry: {error}",
                 what=what, inst_id=record.inst_id, error=str(error))
        return None


def finish(
    journal: Journal | None,
    entry: int | None,
    kind: Literal["cancel", "leverage"],
    outcome: str,
    reason: str | None = None,
) -> None:
    """Record a cancel's or leverage change's outcome without waiting; failures are logged."""
    if journal is None or entry is None:
        return
    record = journal.record_cancel_outcome if kind == "cancel" else journal.record_leverage_outcome
    record(entry, outcome, reason).addErrback(_not_written)


def outcome_of_failure(error: Exception, refused: str) -> str:
    """``unknown`` when OKX may have processed the write anyway, else ``refused``."""
    return UNKNOWN if is_ambiguous(error) else refused


def _not_written(failure: Failure) -> None:
    log.error("could not record an outcome in the order journal: {error}",
              error=str(failure.value))
