"""The operator's reader: ``python -m fmzokx journal`` (also ``python -m fmzokx.journal.cli``)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fmzokx.journal import CancelRecord, Journal, LeverageRecord
from fmzokx.journal import cli as journal_cli
from fmzokx.journal.cli import parse_when
from fmzokx.journal.lock import JournalLock
from tests.journal.support import KEY_FP, START, clock_at, intent, open_journal, result

ROOT = Path(__file__).resolve().parents[2]


def populate(path: Path) -> Journal:
    """Five entries from 12:11:08 UTC on 2026-11-25; the journal stays open (as a daemon)."""
    clock = clock_at()
    journal = open_journal(path, clock)
    result(journal.record_order_intent(intent("c1")))
    clock.advance(0.2)
    result(journal.record_order_outcome(KEY_FP, "c1", "placed", ord_id="123456"))
    clock.advance(60)
    result(journal.record_order_intent(intent(
        "c2", inst_id="BTC-USDT-SWAP",
        body={"tdMode": "cross", "posSide": "long", "ordType": "market", "px": None, "sz": "3"},
    )))
    clock.advance(10)
    result(journal.record_order_outcome(KEY_FP, "c2", "unknown", reason="OKX timed out"))
    clock.advance(30)
    result(journal.record_order_outcome(KEY_FP, "c2", "placed", ord_id="99"))
    result(journal.record_cancel_intent(CancelRecord(KEY_FP, "BTC-USDT", ord_id="123456")))
    result(journal.record_leverage_intent(LeverageRecord(KEY_FP, "BTC-USDT-SWAP", "10", "cross")))
    clock.advance(3600)
    result(journal.record_order_intent(intent("c3")))
    result(journal.record_order_outcome(KEY_FP, "c3", "not_placed",
                                        reason="51008 Insufficient\nUSDT balance"))
    return journal


def run(*argv: str, now: float = START + 7200) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = journal_cli.run(list(argv), out, err, now=lambda: now)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    path = tmp_path / "j.sqlite3"
    journal = populate(path)
    yield path  # type: ignore[misc]
    result(journal.close())


def test_table_while_the_daemon_holds_the_journal(journal_path: Path) -> None:
    """The writer keeps its lock open; the reader still reads, and takes no lock."""
    code, out, err = run("--journal", str(journal_path))
    assert (code, err) == (0, "")
    assert out == (
        "TIME (UTC)               KIND      KEY           INST           REQUEST                "
        "      CLORDID  OUTCOME               ORDID   SETTLED                  REASON\n"
        "2026-11-25 12:11:08.000  order     key-0a1b2c3d  BTC-USDT       buy limit 0.01 @ 30000 "
        "cash  c1       placed                123456  2026-11-25 12:11:08.200\n"
        "2026-11-25 12:12:08.200  order     key-0a1b2c3d  BTC-USDT-SWAP  buy market 3 cross long"
        "      c2       placed (was unknown)  99      2026-11-25 12:12:48.200\n"
        "2026-11-25 12:12:48.200  cancel    key-0a1b2c3d  BTC-USDT       cancel                 "
        "               pending               123456\n"
        "2026-11-25 12:12:48.200  leverage  key-0a1b2c3d  BTC-USDT-SWAP  lever 10 cross         "
        "               pending\n"
        "2026-11-25 13:12:48.200  order     key-0a1b2c3d  BTC-USDT       buy limit 0.01 @ 30000 "
        "cash  c3       not_placed                    2026-11-25 13:12:48.200  51008 "
        "Insufficient USDT balance\n"
    )
    # The daemon's lock was never needed, and no lock file was made by the reader.
    with pytest.raises(Exception, match="in use by another fmzokx"):
        JournalLock.acquire(str(journal_path))


def test_json_lines(journal_path: Path) -> None:
    code, out, _ = run("--journal", str(journal_path), "--json")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["kind"] for line in lines] == ["order", "order", "cancel", "leverage", "order"]
    second = lines[1]
    assert second["time"] == "2026-11-25T12:12:08.200Z"
    assert (second["outcome"], second["ord_id"], second["unknown_time"]) == (
        "placed", "99", "2026-11-25T12:12:18.200Z")
    assert second["body"] == {"clOrdId": "c2", "instId": "BTC-USDT-SWAP", "ordType": "market",
                              "posSide": "long", "px": None, "side": "buy", "sz": "3",
                              "tdMode": "cross"}
    assert lines[2]["outcome"] is None and lines[2]["ord_id"] == "123456"
    assert lines[3]["lever"] == "10"
    assert lines[4]["reason"] == "51008 Insufficient\nUSDT balance"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--since", "1h"], ["c3"]),
        (["--since", "2026-11-25T12:12", "--until", "2026-11-25T13:00:00+00:00"],
         ["c2", "cancel", "leverage"]),
        (["--until", "2026-11-25 12:12"], ["c1"]),
        (["--inst", "btc-usdt-swap"], ["c2", "leverage"]),
        (["--outcome", "pending"], ["cancel", "leverage"]),
        (["--outcome", "placed"], ["c1", "c2"]),
        (["--outcome", "not_placed"], ["c3"]),
        (["--kind", "cancel", "--kind", "leverage"], ["cancel", "leverage"]),
        (["--limit", "2"], ["leverage", "c3"]),
    ],
)
def test_filters(journal_path: Path, argv: list[str], expected: list[str]) -> None:
    code, out, _ = run("--journal", str(journal_path), "--json", *argv)
    assert code == 0
    found = [json.loads(line) for line in out.splitlines()]
    assert [d.get("cl_ord_id") if d["kind"] == "order" else d["kind"] for d in found] == expected


def test_nothing_matches(journal_path: Path) -> None:
    code, out, err = run("--journal", str(journal_path), "--inst", "DOGE-USDT")
    assert (code, out) == (0, "")
    assert err == f"journal: no entries match in {journal_path}\n"


def test_errors_are_one_line(tmp_path: Path) -> None:
    code, out, err = run("--journal", str(tmp_path / "absent.sqlite3"))
    assert (code, out) == (1, "")
    assert err == f"journal: order journal {tmp_path / 'absent.sqlite3'} does not exist\n"
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"not a database" * 300)
    code, _, err = run("--journal", str(bad))
    assert code == 1 and err.count("\n") == 1 and "corrupt or not an SQLite database" in err
    code, _, err = run("--journal", str(bad), "--since", "yesterday")
    assert code == 2 and "'yesterday' is neither ISO 8601" in err
    code, _, err = run("--journal", str(bad), "--sandbox")
    assert code == 2 and "not both" in err
    assert run("--outcome", "filled")[0] == 2


def test_parse_when() -> None:
    now = 1_000_000.0
    assert parse_when("90s", now) == 999_910_000
    assert parse_when("2h", now) == (1_000_000 - 7200) * 1000
    assert parse_when("1.5d", now) == (1_000_000 - 129_600) * 1000
    assert parse_when("1w", now) == (1_000_000 - 604_800) * 1000
    assert parse_when("1970-01-02", now) == 86_400_000
    assert parse_when("1970-01-02T01:00:00+01:00", now) == 86_400_000
    assert parse_when("1970-01-02T00:00:00Z", now) == 86_400_000


def test_default_journal_is_in_the_working_directory(tmp_path: Path) -> None:
    """``python -m fmzokx.journal.cli`` in the daemon's directory reads its default file."""
    result(populate(tmp_path / "fmzokx-journal.sqlite3").close())
    result(populate(tmp_path / "fmzokx-sandbox-journal.sqlite3").close())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "fmzokx.journal.cli", "--outcome", "not_placed"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2 and " c3 " in done.stdout
    done = subprocess.run([*command, "--sandbox", "--json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["cl_ord_id"] == "c3"


def test_a_sandbox_directory_gets_a_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """
    Without --journal, in a directory where only the --sandbox daemon wrote a journal (the
    quick start's), the one error line says where the journal is and what to add.
    """
    monkeypatch.chdir(tmp_path)
    missing = f"journal: order journal {tmp_path / 'fmzokx-journal.sqlite3'} does not exist"
    code, out, err = run()
    assert (code, out) == (1, "")
    assert err == f"{missing}\n"  # nothing to hint at
    result(populate(tmp_path / "fmzokx-sandbox-journal.sqlite3").close())
    code, out, err = run()
    assert (code, out) == (1, "")
    assert err == (
        f"{missing}; the --sandbox daemon's journal fmzokx-sandbox-journal.sqlite3 is "
        "here: add --sandbox\n"
    )
    code, out, _ = run("--sandbox")
    assert code == 0 and " c3 " in out
    code, _, err = run("--journal", "elsewhere.sqlite3")  # a path given: no guessing
    assert code == 1 and "--sandbox" not in err
