"""One daemon per journal, checked with real processes (``flock`` is per open file)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fmzokx.journal import JournalLocked
from fmzokx.journal.lock import JournalLock
from tests.journal.support import KEY_FP, open_journal, result

ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import sys
from twisted.internet.task import Clock
from fmzokx.journal import ImmediateExecutor, Journal, JournalOpenError
try:
    journal = Journal.open(sys.argv[1], Clock(), ImmediateExecutor())
except JournalOpenError as error:
    print(error, file=sys.stderr)
    sys.exit(1)
print("holding", flush=True)
sys.stdin.readline()
"""


def start_holder(path: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], cwd=ROOT, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line == "holding\n", child.stderr.read() if child.stderr else line
    return child


def test_a_second_process_is_refused_while_the_first_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    holder = start_holder(path)
    try:
        with pytest.raises(JournalLocked) as caught:
            open_journal(path)
        message = str(caught.value)
        assert "\n" not in message
        assert f"order journal {path} is in use by another fmzokx (pid {holder.pid}" in message
        assert "--journal" in message
    finally:
        holder.kill()
        holder.wait(timeout=30)
    # SIGKILL freed the lock: the kernel drops flock locks with the process.
    journal = open_journal(path)
    result(journal.close())


def test_a_second_daemon_process_exits_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = open_journal(path)
    try:
        second = subprocess.run(
            [sys.executable, "-c", HOLDER, str(path)], cwd=ROOT, text=True,
            capture_output=True, timeout=60, check=False, input="",
        )
        assert second.returncode == 1
        assert second.stdout == ""
        lines = second.stderr.strip().splitlines()
        assert lines == [
            f"order journal {path} is in use by another fmzokx (pid {os.getpid()} holds "
            "it, by this or another path to the same file); stop it, or give this daemon its "
            "own --journal"
        ]
    finally:
        result(journal.close())
    holder = start_holder(path)
    holder.send_signal(signal.SIGTERM)
    holder.wait(timeout=30)


def test_release_is_idempotent_and_frees_the_lock(tmp_path: Path) -> None:
    lock = JournalLock.acquire(str(tmp_path / "j"))
    with pytest.raises(JournalLocked, match="is in use"):
        JournalLock.acquire(str(tmp_path / "j"))
    lock.release()
    lock.release()
    assert not lock.held
    JournalLock.acquire(str(tmp_path / "j")).release()


@pytest.mark.parametrize("link", ["hard", "symbolic"])
def test_another_path_to_the_same_file_is_refused(tmp_path: Path, link: str) -> None:
    """
    The lock is on the file, not on its name: a second process reaching the journal
    through a hard link or a symlink (each with a lock file and a ``-wal`` of its own
    beside it before) is refused, and leaves nothing beside the link.
    """
    path = tmp_path / "j.sqlite3"
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    alias = elsewhere / "alias.sqlite3"
    holder = start_holder(path)
    try:
        if link == "hard":
            os.link(path, alias)
        else:
            alias.symlink_to(path)
        second = subprocess.run(
            [sys.executable, "-c", HOLDER, str(alias)], cwd=ROOT, text=True,
            capture_output=True, timeout=60, check=False, input="",
        )
        assert second.returncode == 1, second.stdout
        assert second.stderr.strip().splitlines() == [
            f"order journal {alias} is in use by another fmzokx (pid {holder.pid} holds "
            "it, by this or another path to the same file); stop it, or give this daemon its "
            "own --journal"
        ]
        assert sorted(p.name for p in elsewhere.iterdir()) == ["alias.sqlite3"]
    finally:
        holder.kill()
        holder.wait(timeout=30)
    # The holder gone, the alias opens: it is the same journal.
    journal = open_journal(alias)
    result(journal.close())


FORKED_HOLDER = """
import os, sys, time
from fmzokx.journal.lock import JournalLock
lock = JournalLock.acquire(sys.argv[1])
if os.fork():
    os._exit(0)  # as twistd's parent does once the daemon is forked
lock.claim()
print(os.getpid(), flush=True)
time.sleep(60)
"""


def test_a_lock_taken_before_a_fork_names_the_child_and_keeps_the_journal(
    tmp_path: Path,
) -> None:
    """
    makeService locks the journal before twistd forks: the child that keeps the lock is
    the holder a second daemon is told about, and claiming it leaves the journal intact.
    """
    path = tmp_path / "j.sqlite3"
    journal = open_journal(path)
    result(journal.close())
    before = path.read_bytes()
    parent = subprocess.Popen(
        [sys.executable, "-c", FORKED_HOLDER, str(path)], cwd=ROOT, text=True,
        stdout=subprocess.PIPE,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert parent.wait(timeout=30) == 0
    try:
        with pytest.raises(JournalLocked) as caught:
            JournalLock.acquire(str(path))
        assert f"(pid {child} holds it," in str(caught.value)
        assert path.read_bytes() == before
        assert (tmp_path / "j.sqlite3.lock").read_text() == f"{child}\n"
    finally:
        os.kill(child, signal.SIGKILL)
        parent.stdout.close()
def test_claim_names_the_holder_without_touching_the_journal(tmp_path: Path) -> None:
    """
    ``claim`` (a daemon's child after twistd's fork) writes its pid into the sidecar, never
    into the locked descriptor, which is the journal file itself: writing there truncated
    the journal to a pid and every daemon start failed ("not an SQLite database").
    """
    from tests.journal.support import intent

    path = tmp_path / "j.sqlite3"
    journal = open_journal(path)
    assert result(journal.record_order_intent(intent("c1"))) is True
    result(journal.close())
    lock = JournalLock.acquire(str(path))
    before = path.read_bytes()
    lock.claim()
    assert path.read_bytes() == before
    assert (tmp_path / "j.sqlite3.lock").read_text() == f"{os.getpid()}\n"
    lock.release()
    journal = open_journal(path)
    assert result(journal.find_order(KEY_FP, "c1")) is not None
    result(journal.close())
def test_naming_the_holder_leaves_the_journal_intact(tmp_path: Path) -> None:
    """
    ``claim`` (after twistd's fork) writes the pid into ``<journal>.lock``, never into
    the journal: the lock is on the journal file too, and the pid once overwrote the
    database at every start ("file is not a database", every pending order forgotten).
    """
    journal = tmp_path / "journal.sqlite3"
    connection = sqlite3.connect(journal)
    connection.execute("CREATE TABLE t (x)")
    connection.commit()
    connection.close()
    before = journal.read_bytes()
    lock = JournalLock.acquire(str(journal))
    try:
        lock.claim()
        assert journal.read_bytes() == before
        assert (tmp_path / "journal.sqlite3.lock").read_text() == f"{os.getpid()}\n"
    finally:
        lock.release()
