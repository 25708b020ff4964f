"""Retention: old entries go, in bounded batches, on a timer driven by the clock."""

from __future__ import annotations

from pathlib import Path

from fmzokx.journal import AuditFilter, CancelRecord, JournalPruner, LeverageRecord
from tests.helpers import LogEvents
from tests.journal.support import KEY_FP, clock_at, intent, open_journal, result

DAY = 86400.0


def test_pruning_is_bounded_per_tick_and_finishes_over_ticks(tmp_path: Path) -> None:
    clock = clock_at()
    journal = open_journal(tmp_path / "j.sqlite3", clock)
    for n in range(11):
        result(journal.record_order_intent(intent(f"old{n}")))
        result(journal.record_order_outcome(KEY_FP, f"old{n}", "placed", ord_id=str(n)))
    result(journal.record_cancel_intent(CancelRecord(KEY_FP, "BTC-USDT", ord_id="1")))
    result(journal.record_leverage_intent(LeverageRecord(KEY_FP, "BTC-USDT-SWAP", "3", "cross")))
    clock.advance(29 * DAY)
    result(journal.record_order_intent(intent("recent")))
    clock.advance(1.5 * DAY)

    pruner = JournalPruner(journal, clock, days=30, interval=600, batch=2, max_batches=2)
    pruner.start()  # the first tick runs now: 2 batches of at most 2 per kind
    remaining = result(journal.audit(AuditFilter()))
    assert [getattr(e, "cl_ord_id", e.kind) for e in remaining] == [
        "old4", "old5", "old6", "old7", "old8", "old9", "old10", "recent"]
    clock.advance(600)  # 4 more orders
    clock.advance(600)  # the last 3, a short batch: done
    remaining = result(journal.audit(AuditFilter()))
    assert [getattr(e, "cl_ord_id", e.kind) for e in remaining] == ["recent"]
    clock.advance(600)
    assert len(result(journal.audit(AuditFilter()))) == 1
    pruner.stop()
    pruner.stop()
    result(journal.close())


def test_unresolved_entries_past_the_window_are_pruned_with_a_warning(
    tmp_path: Path, info_events: LogEvents
) -> None:
    clock = clock_at()
    journal = open_journal(tmp_path / "j.sqlite3", clock)
    result(journal.record_order_intent(intent("lost")))
    result(journal.record_order_intent(intent("doubt")))
    result(journal.record_order_outcome(KEY_FP, "doubt", "unknown"))
    clock.advance(8 * DAY)
    with info_events.during() as events:
        pruner = JournalPruner(journal, clock, days=7)
        assert result(pruner._tick()) == 2
    warnings = [e for e in events if "no final outcome" in str(e.get("log_format"))]
    assert len(warnings) == 1 and warnings[0]["count"] == 2
    assert result(journal.unresolved()) == []
    result(journal.close())


def test_a_journal_that_cannot_be_written_is_retried_next_tick(tmp_path: Path) -> None:
    from tests.journal.support import read_only_underneath

    clock = clock_at()
    journal = open_journal(tmp_path / "j.sqlite3", clock)
    result(journal.record_order_intent(intent("old")))
    clock.advance(31 * DAY)
    pruner = JournalPruner(journal, clock, interval=60)
    with read_only_underneath(journal):
        pruner.start()
        assert len(result(journal.unresolved())) == 1
    clock.advance(60)
    assert result(journal.unresolved()) == []
    pruner.stop()
    result(journal.close())
