"""
Opening journal files: empty, from the previous schema, corrupt, foreign, newer; and
migrations that stop half-way.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fmzokx.journal import JournalOpenError
from fmzokx.journal import schema as schema_module
from fmzokx.journal.database import JournalDb
from fmzokx.journal.schema import APPLICATION_ID, SCHEMA_VERSION, schema_version
from tests.journal.support import KEY_FP, clock_at, intent, open_journal, result

# The version-1 schema as it shipped, kept here verbatim so a change to the migration
# code cannot silently change what "a v1 file" means.
V1_FILE_SQL = """
PRAGMA application_id = 1179474506;
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);
CREATE TABLE orders (
    key_fp TEXT NOT NULL, cl_ord_id TEXT NOT NULL, inst_id TEXT NOT NULL,
    side TEXT NOT NULL, pos_side TEXT, ord_type TEXT NOT NULL, size TEXT NOT NULL,
    price TEXT, td_mode TEXT NOT NULL, nonce INTEGER, request_fp TEXT NOT NULL,
    exp_time INTEGER, body TEXT NOT NULL, created INTEGER NOT NULL,
    outcome TEXT CHECK (outcome IN ('placed', 'not_placed', 'unknown')),
    ord_id TEXT, reason TEXT, outcome_at INTEGER,
    PRIMARY KEY (key_fp, cl_ord_id)
);
INSERT INTO schema_version VALUES (1, 1000);
INSERT INTO orders VALUES ('key-0a1b2c3d', 'placed1', 'BTC-USDT', 'buy', NULL, 'limit',
    '0.01', '30000', 'cash', 1, 'r', NULL, '{}', 2000, 'placed', '11', NULL, 2100);
INSERT INTO orders VALUES ('key-0a1b2c3d', 'unknown1', 'BTC-USDT', 'sell', NULL, 'market',
    '0.01', NULL, 'cash', 2, 'r', 9000, '{}', 3000, 'unknown', NULL, 'timeout', 3500);
INSERT INTO orders VALUES ('key-0a1b2c3d', 'pending1', 'ETH-USDT', 'buy', NULL, 'market',
    '5', NULL, 'cash', 3, 'r', NULL, '{}', 4000, NULL, NULL, NULL, NULL);
"""


def v1_file(path: Path) -> Path:
    connection = sqlite3.connect(path)
    connection.executescript(V1_FILE_SQL)
    connection.commit()
    connection.close()
    return path


def columns(path: Path, table: str) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        return [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]
    finally:
        connection.close()


def test_v1_literal_matches_the_first_migration() -> None:
    """The frozen v1 text above creates the same orders columns as MIGRATIONS[0]."""
    ours = sqlite3.connect(":memory:", isolation_level=None)
    schema_module.migrate(ours, lambda: 0, target=1)
    theirs = sqlite3.connect(":memory:")
    theirs.executescript(V1_FILE_SQL)
    info = "SELECT name, type, \"notnull\", pk FROM pragma_table_info('orders')"
    assert ours.execute(info).fetchall() == theirs.execute(info).fetchall()
    assert ours.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_a_new_file_gets_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = open_journal(path)
    assert schema_version(journal.db.connection) == SCHEMA_VERSION == 4
    mode = journal.db.connection.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    versions = journal.db.connection.execute("SELECT version FROM schema_version").fetchall()
    assert versions == [(1,), (2,), (3,), (4,)]
    assert path.stat().st_mode & 0o777 == 0o600
    result(journal.close())


def test_an_empty_file_is_initialised(tmp_path: Path) -> None:
    """A zero-byte file (touched by an installer) is an empty database."""
    path = tmp_path / "j.sqlite3"
    path.write_bytes(b"")
    journal = open_journal(path)
    assert schema_version(journal.db.connection) == SCHEMA_VERSION
    result(journal.close())


def test_a_v1_file_is_migrated_keeping_its_entries(tmp_path: Path) -> None:
    path = v1_file(tmp_path / "j.sqlite3")
    assert "unknown_at" not in columns(path, "orders")
    journal = open_journal(path)
    placed = result(journal.find_order(KEY_FP, "placed1"))
    assert (placed.outcome, placed.ord_id, placed.unknown_at, placed.reply) == (
        "placed", "11", None, None)
    unknown = result(journal.find_order(KEY_FP, "unknown1"))
    assert (unknown.outcome, unknown.unknown_at, unknown.exp_time) == ("unknown", 3500, 9000)
    assert [e.cl_ord_id for e in result(journal.unresolved())] == ["unknown1", "pending1"]
    # The new tables work at once.
    assert result(journal.unresolved("cancel")) == []
    result(journal.record_order_intent(intent("new")))
    result(journal.close())
    assert "unknown_at" in columns(path, "orders")
    connection = sqlite3.connect(path)
    indexes = {row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index'")}
    connection.close()
    assert {"orders_created", "orders_unresolved", "cancels_created"} <= indexes


def test_a_migration_cut_short_leaves_the_previous_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """v2 fails on its last statement: no column, no index, still v1; then it succeeds."""
    path = v1_file(tmp_path / "j.sqlite3")
    broken = (*schema_module.V2, "CREATE INDEX broken ON no_such_table (x)")
    monkeypatch.setattr(schema_module, "MIGRATIONS", (schema_module.V1, broken,
                                                      schema_module.V3))
    with pytest.raises(JournalOpenError, match="no such table"):
        open_journal(path)
    assert "unknown_at" not in columns(path, "orders")
    connection = sqlite3.connect(path)
    assert connection.execute("SELECT MAX(version) FROM schema_version").fetchone() == (1,)
    connection.close()
    monkeypatch.undo()
    journal = open_journal(path)
    assert schema_version(journal.db.connection) == SCHEMA_VERSION
    result(journal.close())


@pytest.mark.parametrize(
    "content",
    [b"this is not a database, it is a text file\n" * 100, b"SQLite format 3\x00" + b"\xff" * 4080],
    ids=["text", "bad-header"],
)
def test_a_file_that_is_not_sqlite_is_one_line_naming_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "j.sqlite3"
    path.write_bytes(content)
    with pytest.raises(JournalOpenError) as caught:
        open_journal(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert "corrupt or not an SQLite database" in message
    assert path.read_bytes() == content, "a bad file is never rewritten"
    # Nothing is left held: the lock is free again.
    from fmzokx.journal.lock import JournalLock

    JournalLock.acquire(str(path)).release()


def test_a_damaged_journal_is_refused(tmp_path: Path) -> None:
    """Pages overwritten in the middle of a real journal: quick_check finds it."""
    path = tmp_path / "j.sqlite3"
    journal = open_journal(path)
    for n in range(300):
        result(journal.record_order_intent(intent(f"c{n}")))
    result(journal.close())
    data = bytearray(path.read_bytes())
    assert len(data) > 8 * 4096
    for page in range(2, len(data) // 4096):
        data[page * 4096 + 100: page * 4096 + 400] = b"\x07" * 300
    path.write_bytes(bytes(data))
    with pytest.raises(JournalOpenError) as caught:
        open_journal(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_another_programs_database_is_not_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE accounts (id INTEGER)")
    connection.commit()
    connection.close()
    with pytest.raises(JournalOpenError, match="not an fmzokx order journal"):
        open_journal(path)
    assert columns(path, "accounts") == ["id"]


def test_a_newer_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    result(open_journal(path).close())
    connection = sqlite3.connect(path)
    connection.execute("INSERT INTO schema_version VALUES (99, 0)")
    connection.commit()
    connection.close()
    with pytest.raises(JournalOpenError, match="newer fmzokx .schema version 99"):
        open_journal(path)
    with pytest.raises(JournalOpenError, match="newer fmzokx"):
        JournalDb.open_readonly(str(path))


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(JournalOpenError, match="is a directory"):
        open_journal(tmp_path)


def test_read_only_open_of_a_v1_file_changes_nothing(tmp_path: Path) -> None:
    """The reader migrates a copy in memory; the file stays at version 1."""
    path = v1_file(tmp_path / "j.sqlite3")
    before = path.read_bytes()
    db = JournalDb.open_readonly(str(path))
    entry = db.read(lambda c: c.execute(
        "SELECT outcome, unknown_at FROM orders WHERE cl_ord_id = 'unknown1'").fetchone())
    assert entry == ("unknown", 3500)
    db.close()
    assert path.read_bytes() == before
    assert "unknown_at" not in columns(path, "orders")


def test_read_only_open_refuses_writes_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    result(open_journal(path, clock_at()).close())
    db = JournalDb.open_readonly(str(path))
    with pytest.raises(Exception, match="cannot be written"):
        db.write(lambda c: c.execute("DELETE FROM orders"))
    db.close()
    with pytest.raises(JournalOpenError, match="does not exist"):
        JournalDb.open_readonly(str(tmp_path / "absent.sqlite3"))
