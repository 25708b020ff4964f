# -*- test-case-name: tests.journal.test_database -*-
"""
A connection to a journal file, opened safely, and transactions over it.

Opening for writing checks everything before the daemon serves a call: the file is an
SQLite database (``quick_check``), an fmzokx journal (``application_id``), of a version
this code knows (then migrated forward); the connection uses WAL, so the operator's
reader and ``sqlite3 .backup`` work while the daemon writes.

Durability: ``synchronous=FULL`` for intents, so the WAL is on the disk (fsync) before the
order is sent and an intent survives power loss; ``NORMAL`` for outcomes, which WAL keeps
through a crash of the process and makes durable with the next fsync (the next intent or
checkpoint). An outcome lost to a power cut is not lost knowledge: its intent is there
and start-up reconciliation asks OKX again.

Every failure of SQLite or the file system while running becomes
:class:`~fmzokx.journal.errors.JournalUnavailable`; a failed write is rolled back
whole, so nothing half-written is ever read back.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import quote

from attrs import define, field

from fmzokx.journal.errors import JournalLocked, JournalOpenError, JournalUnavailable
from fmzokx.journal.lock import open_for_writing
from fmzokx.journal.schema import SCHEMA_VERSION, SchemaError, migrate, schema_version

__all__ = ["JournalDb"]

T = TypeVar("T")

BUSY_TIMEOUT = 5.0
"""Seconds to wait for SQLite's own locks (a reader's WAL recovery) before failing."""


def _describe(error: BaseException | str) -> str:
    """SQLite's or the OS's words for a failure, on one line; never SQL parameters."""
    if isinstance(error, str):
        text = error
    elif isinstance(error, OSError) and error.strerror:
        text = error.strerror
    else:
        text = str(error) or type(error).__name__
    words = " ".join(text.split())
    return words if len(words) <= 160 else words[:157] + "..."


def _is_journal_failure(error: BaseException) -> bool:
    """Failures of the file or the database, as opposed to bugs in our SQL."""
    if isinstance(error, (sqlite3.ProgrammingError, sqlite3.InterfaceError)):
        return False
    return isinstance(error, (sqlite3.DatabaseError, OSError))


@define
class JournalDb:
    """
    One SQLite connection to one journal file, used by one thread at a time.

    :ivar path: absolute path of the journal file.
    :ivar readonly: opened by a reader; writes are refused by SQLite itself.
    """

    path: str
    connection: sqlite3.Connection
    readonly: bool = False
    _synchronous: str = field(default="FULL", init=False)

    @classmethod
    def open(cls, path: str, now_ms: Callable[[], int]) -> JournalDb:
        """
        Open (creating if absent) and migrate a journal for writing. Does not lock: the
        caller holds the :class:`~fmzokx.journal.lock.JournalLock` first.

        :raises JournalOpenError: one line naming the file and what is wrong with it.
        """
        path = os.path.abspath(path)
        if os.path.isdir(path):
            raise JournalOpenError(f"order journal {path} is a directory, not a file", path)
        _create_private(path)
        try:
            connection = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise JournalOpenError(
                f"cannot open the order journal {path}: {_describe(error)}", path
            ) from None
        try:
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                _check_writable(path)
                raise JournalOpenError(
                    f"order journal {path} cannot use write-ahead logging (journal_mode "
                    f"{mode}); put it on a local file system",
                    path,
                )
            connection.execute("PRAGMA synchronous = FULL")
            _check_integrity(connection, path)
            migrate(connection, now_ms)
        except JournalOpenError:
            connection.close()
            raise
        except SchemaError as error:
            connection.close()
            raise JournalOpenError(f"order journal {path} is {error}", path) from None
        except sqlite3.OperationalError as error:
            # SQLite could not read, write or lock the file: a fault around it, not in it.
            connection.close()
            raise _not_opened(path, error) from None
        except sqlite3.DatabaseError as error:
            connection.close()
            raise JournalOpenError(_corrupt(path, error), path) from None
        return cls(path, connection)

    @classmethod
    def open_readonly(cls, path: str) -> JournalDb:
        """
        Open a journal for reading only: takes no lock, changes nothing on disk, works
        while the daemon writes. A journal of an older version is copied into memory and
        migrated there.

        :raises JournalOpenError: absent, unreadable, not a journal, or newer than this code.
        """
        path = os.path.abspath(path)
        if not os.path.isfile(path):
            raise JournalOpenError(f"order journal {path} does not exist", path)
        try:
            connection = sqlite3.connect(
                f"file:{quote(path)}?mode=ro", uri=True, timeout=BUSY_TIMEOUT,
                isolation_level=None,
            )
        except sqlite3.Error as error:
            raise JournalOpenError(
                f"cannot open the order journal {path}: {_describe(error)}", path
            ) from None
        try:
            connection.execute("PRAGMA query_only = ON")
            version = schema_version(connection)
            if version > SCHEMA_VERSION:
                raise SchemaError(
                    f"written by a newer fmzokx (schema version {version}; this one knows "
                    f"up to {SCHEMA_VERSION})"
                )
            if version < SCHEMA_VERSION:
                connection = _migrated_copy(connection)
        except SchemaError as error:
            connection.close()
            raise JournalOpenError(f"order journal {path} is {error}", path) from None
        except sqlite3.DatabaseError as error:
            connection.close()
            raise JournalOpenError(_corrupt(path, error), path) from None
        return cls(path, connection, readonly=True)

    def write(self, work: Callable[[sqlite3.Connection], T], durable: bool = True) -> T:
        """
        Run ``work`` in one write transaction; committed with an fsync when ``durable``.

        :raises JournalUnavailable: the write failed and was rolled back whole.
        """
        connection = self.connection
        try:
            wanted = "FULL" if durable else "NORMAL"
            if wanted != self._synchronous:
                connection.execute(f"PRAGMA synchronous = {wanted}")
                self._synchronous = wanted
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = work(connection)
                connection.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except Exception as error:
            if not _is_journal_failure(error):
                raise
            raise JournalUnavailable(
                f"order journal {self.path} cannot be written: {_describe(error)}", self.path
            ) from None
        return result

    def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """
        Run ``work`` in one read transaction (a consistent snapshot).

        :raises JournalUnavailable: the file cannot be read.
        """
        connection = self.connection
        try:
            connection.execute("BEGIN")
            try:
                return work(connection)
            finally:
                self._rollback()
        except Exception as error:
            if not _is_journal_failure(error):
                raise
            raise JournalUnavailable(
                f"order journal {self.path} cannot be read: {_describe(error)}", self.path
            ) from None

    def _rollback(self) -> None:
        # SQLite rolls back by itself after some I/O errors; ours is then a no-op.
        if self.connection.in_transaction:
            try:
                self.connection.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def close(self) -> None:
        self.connection.close()


def _create_private(path: str) -> None:
    """
    Create an absent journal readable by its owner only (SQLite's -wal/-shm follow), and
    check an existing one can be written, each failure with its own one-line reason.
    """
    os.close(open_for_writing(path))


def _check_writable(path: str) -> None:
    """Refuse with the true reason when the journal's directory cannot be written."""
    directory = os.path.dirname(path) or "."
    if not os.access(directory, os.W_OK):
        raise _unwritable(path, "its directory cannot be written")


def _unwritable(path: str, words: str) -> JournalOpenError:
    directory = os.path.dirname(path) or "."
    return JournalOpenError(
        f"order journal {path} cannot be written ({words}): the file and its directory "
        f"{directory} must be writable by this user (SQLite keeps -wal and -shm files beside "
        "it); fix the permissions or the mount (the file was not changed)",
        path,
    )


def _not_opened(path: str, error: sqlite3.OperationalError) -> JournalOpenError:
    """A start-up failure of SQLite around the file: locked, unwritable or unreadable."""
    words = _describe(error)
    lowered = words.lower()
    if "locked" in lowered or "busy" in lowered:
        return JournalLocked(
            f"order journal {path} is locked by another program ({words}); stop whatever "
            "has it open for writing, or give this daemon its own --journal",
            path,
        )
    if "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        return _unwritable(path, words)
    return JournalOpenError(
        f"order journal {path} cannot be opened ({words}); check the disk and the file's "
        "permissions (the file was not changed)",
        path,
    )


def _check_integrity(connection: sqlite3.Connection, path: str) -> None:
    rows = connection.execute("PRAGMA quick_check").fetchall()
    if rows != [("ok",)]:
        found = str(rows[0][0]) if rows else "no answer"
        raise JournalOpenError(_corrupt(path, found), path)


def _corrupt(path: str, reason: BaseException | str) -> str:
    return (
        f"order journal {path} is corrupt or not an SQLite database ({_describe(reason)}); "
        "move it aside to start a new journal, or restore a backup"
    )


def _migrated_copy(connection: sqlite3.Connection) -> sqlite3.Connection:
    """An in-memory copy of an older journal, migrated to the current schema."""
    memory = sqlite3.connect(":memory:", isolation_level=None)
    connection.backup(memory)
    connection.close()
    migrate(memory, lambda: 0)
    return memory
