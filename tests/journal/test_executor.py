"""The journal's own thread, on the real reactor (the only journal tests that need one)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor

from fmzokx.journal import Journal, JournalUnavailable, ThreadExecutor
from tests.journal.support import KEY_FP, intent


@pytest_twisted.ensureDeferred
async def test_jobs_run_in_order_on_one_other_thread() -> None:
    executor = ThreadExecutor(reactor)
    executor.start()
    try:
        seen: list[tuple[int, int]] = []

        def job(n: int) -> int:
            seen.append((n, threading.get_ident()))
            return n * 10

        waiting = [executor.run(lambda n=n: job(n)) for n in range(20)]  # type: ignore[misc]
        results = [await each for each in waiting]
        assert results == [n * 10 for n in range(20)]
        assert [n for n, _ in seen] == list(range(20))
        threads = {ident for _, ident in seen}
        assert len(threads) == 1 and threading.get_ident() not in threads

        def boom() -> None:
            raise ZeroDivisionError("x")

        with pytest.raises(ZeroDivisionError):
            await executor.run(boom)
    finally:
        executor.stop()


@pytest_twisted.ensureDeferred
async def test_journal_on_its_thread(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal.open(str(path), reactor, ThreadExecutor(reactor))
    pending = [journal.record_order_intent(intent(f"c{n}")) for n in range(10)]
    outcomes = [journal.record_order_outcome(KEY_FP, f"c{n}", "placed", ord_id=str(n))
                for n in range(10)]
    assert [await d for d in pending] == [True] * 10
    assert [await d for d in outcomes] == [True] * 10
    entry = await journal.find_order(KEY_FP, "c7")
    assert entry is not None and entry.ord_id == "7"
    await journal.close()
    assert journal.lock is not None and not journal.lock.held
    with pytest.raises(JournalUnavailable):
        await journal.record_order_intent(intent("late"))
    again = Journal.open(str(path), reactor, ThreadExecutor(reactor))
    assert len(await again.unresolved()) == 0
    await again.close()
