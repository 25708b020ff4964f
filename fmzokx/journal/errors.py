# -*- test-case-name: tests.journal.test_store -*-
"""
What can go wrong with the order journal, as typed errors with one-line messages.

Each message names the journal file and says what to do; none carries a credential (the
journal never stores one) or SQL parameters.
"""

from __future__ import annotations

__all__ = [
    "JournalError",
    "JournalLocked",
    "JournalOpenError",
    "JournalStalled",
    "JournalUnavailable",
]


class JournalError(Exception):
    """Base class of every journal problem; ``path`` is the journal file."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class JournalOpenError(JournalError):
    """
    The journal cannot be opened at start-up: not an SQLite file, corrupt, not an fmzokx
    journal, written by a newer fmzokx, or not creatable. The daemon must not start.
    """


class JournalLocked(JournalOpenError):
    """Another process (a second daemon) holds the journal's lock."""


class JournalUnavailable(JournalError):
    """
    A journal read or write failed while running (disk full, read-only file system,
    corruption). New orders must fail closed on it: no order may be sent without its
    intent on disk.
    """


class JournalStalled(JournalUnavailable):
    """
    A journal read or write did not finish within its deadline: the disk under it has
    stalled (a frozen file system, a hung NFS server, a dying disk). The work may still
    finish later; whoever waited has been answered without it.
    """
