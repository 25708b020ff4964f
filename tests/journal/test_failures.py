"""
A journal that cannot be written: every write fails with ``JournalUnavailable``, reads
keep working, nothing half-written is read back, and writes work again once the disk
does. Two real causes: a file SQLite may only read, and a kernel that refuses to let the
process write past one byte (``RLIMIT_FSIZE``, what a full disk looks like from inside).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fmzokx.journal import CancelRecord, JournalUnavailable, LeverageRecord
from tests.helpers import LogEvents
from tests.journal.support import KEY_FP, intent, open_journal, read_only_underneath, result

ROOT = Path(__file__).resolve().parents[2]


def test_read_only_file_fails_writes_and_keeps_reads(
    tmp_path: Path, info_events: LogEvents
) -> None:
    path = tmp_path / "j.sqlite3"
    journal = open_journal(path)
    result(journal.record_order_intent(intent("pending")))
    result(journal.record_order_intent(intent("placed")))
    result(journal.record_order_outcome(KEY_FP, "placed", "placed", ord_id="1"))

    with info_events.during() as events, read_only_underneath(journal):
        with pytest.raises(JournalUnavailable) as caught:
            result(journal.record_order_intent(intent("new")))
        message = str(caught.value)
        assert message == (
            f"order journal {path} cannot be written: attempt to write a readonly database"
        )
        assert caught.value.path == str(path)
        assert not journal.writable
        # An outcome that cannot be written leaves the entry as it was.
        with pytest.raises(JournalUnavailable):
            result(journal.record_order_outcome(KEY_FP, "pending", "placed", ord_id="2"))
        with pytest.raises(JournalUnavailable):
            result(journal.record_cancel_intent(CancelRecord(KEY_FP, "BTC-USDT", ord_id="1")))
        with pytest.raises(JournalUnavailable):
            result(journal.record_leverage_intent(
                LeverageRecord(KEY_FP, "BTC-USDT-SWAP", "5", "cross")))
        # Reads are unaffected.
        assert result(journal.find_order(KEY_FP, "pending")).outcome is None
        assert result(journal.find_order(KEY_FP, "placed")).ord_id == "1"
        assert result(journal.find_order(KEY_FP, "new")) is None
        assert [e.cl_ord_id for e in result(journal.unresolved())] == ["pending"]
    errors = [e for e in events if e.get("log_level") is not None
              and e["log_level"].name == "error"]
    assert len(errors) == 1, "the first failure is logged, not every one"
    assert "new orders are refused" in errors[0]["log_format"]

    with info_events.during() as events:
        assert result(journal.record_order_outcome(KEY_FP, "pending", "placed", ord_id="2"))
    assert journal.writable
    assert any("writable again" in e.get("log_format", "") for e in events)
    assert result(journal.find_order(KEY_FP, "pending")).ord_id == "2"
    result(journal.close())


DISK_FULL = r"""
import json, resource, sys
from twisted.internet.task import Clock
from fmzokx.journal import ImmediateExecutor, Journal, JournalUnavailable
from tests.journal.support import KEY_FP, intent, result

journal = Journal.open(sys.argv[1], Clock(), ImmediateExecutor())
for n in range(50):
    result(journal.record_order_intent(intent(f"old{n}")))
result(journal.record_order_intent(intent("c1")))
report = {}
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard))
for name, write in [
    ("outcome", lambda: journal.record_order_outcome(KEY_FP, "c1", "placed", ord_id="9")),
    ("intent", lambda: journal.record_order_intent(intent("c2"))),
    ("prune", lambda: journal.prune(10**15, 1000)),
]:
    try:
        result(write())
        report[name] = "written"
    except JournalUnavailable as error:
        report[name] = str(error)
report["read c1"] = result(journal.find_order(KEY_FP, "c1")).outcome
report["read c2"] = result(journal.find_order(KEY_FP, "c2")) is not None
report["unresolved"] = len(result(journal.unresolved(limit=100)))
report["writable"] = journal.writable
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
result(journal.record_order_intent(intent("c3")))
report["after"] = journal.writable
if sys.argv[2] == "crash":
    import os, signal
    print(json.dumps(report), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
result(journal.close())
print(json.dumps(report), flush=True)
"""


@pytest.mark.parametrize("ending", ["close", "crash"])
def test_disk_full_mid_run(tmp_path: Path, ending: str) -> None:
    """Writes past the first byte refused by the kernel (EFBIG, like ENOSPC)."""
    path = tmp_path / "j.sqlite3"
    child = subprocess.run(
        [sys.executable, "-c", DISK_FULL, str(path), ending], cwd=ROOT, capture_output=True,
        text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert child.stdout, child.stderr
    report = json.loads(child.stdout)
    for name in ("outcome", "intent", "prune"):
        assert report[name].startswith(f"order journal {path} cannot be written: "), report
    assert report["read c1"] is None, "the failed outcome was not half-written"
    assert report["read c2"] is False
    assert report["unresolved"] == 51, "the failed prune deleted nothing"
    assert report["writable"] is False and report["after"] is True

    # What is on disk, as the next daemon start sees it.
    journal = open_journal(path)
    c1 = result(journal.find_order(KEY_FP, "c1"))
    assert c1.outcome is None and c1.ord_id is None
    assert result(journal.find_order(KEY_FP, "c2")) is None
    assert result(journal.find_order(KEY_FP, "c3")) is not None
    assert len(result(journal.unresolved(limit=100))) == 52
    result(journal.close())
