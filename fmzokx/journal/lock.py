# -*- test-case-name: tests.journal.test_lock -*-
"""
One daemon per journal: an exclusive ``flock`` on the journal file itself for the
daemon's life, so whatever path reaches the file -- its name, a hard link, a symlink,
a bind mount -- finds it held.

Why the file itself: a lock on a path beside it (``<journal>.lock``, all this module took
before) is a different file for each name of the journal, and SQLite keeps its ``-wal``
beside the name it was given, so a second daemon on a hard link started, wrote its own
write-ahead log and sent the same orders again. ``flock`` locks the open file's inode,
whichever name opened it.

Why ``flock`` rather than SQLite's ``locking_mode=EXCLUSIVE``: an exclusive SQLite lock
also shuts out the operator's read-only reader (``python -m fmzokx journal``) and
``sqlite3 .backup`` while the daemon runs, which WAL otherwise allows. On Linux ``flock``
and the POSIX byte-range locks SQLite uses on the same file do not interact (on NFS they
would: the journal must be on a local file system anyway, for WAL's shared memory).
``flock`` belongs to the open file, so the kernel drops it when the process dies however
it dies (SIGKILL, OOM): a crashed daemon leaves nothing stale behind.

The descriptor stays open until :meth:`JournalLock.release`, which the journal calls
after closing its SQLite connection: closing any descriptor of a file drops the POSIX
locks the process holds on it, SQLite's included.

``<journal>.lock`` is still locked too, for a daemon of an earlier version starting on the
same path during an upgrade (it looks there only), and it still holds the holder's pid.
"""

from __future__ import annotations

import errno
import fcntl
import os

from attrs import define

from fmzokx.journal.errors import JournalLocked, JournalOpenError

__all__ = ["JournalLock", "holder_pid", "lock_path", "open_for_writing", "unwritable_reason"]


def lock_path(journal: str) -> str:
    """The sidecar lock file of a journal (what earlier versions locked)."""
    return journal + ".lock"


def unwritable_reason(error: OSError) -> str:
    """Why a journal path could not be opened for writing, in the operator's words."""
    if error.errno == errno.EROFS:
        return "it is on a read-only file system"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (this user may not write it)"
    return error.strerror or type(error).__name__


def open_for_writing(journal: str) -> int:
    """The journal file opened read-write (created 0600 when absent)."""
    try:
        return os.open(journal, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except IsADirectoryError:
        raise JournalOpenError(f"order journal {journal} is a directory, not a file",
                               journal) from None
    except FileNotFoundError:
        directory = os.path.dirname(journal) or "."
        raise JournalOpenError(
            f"order journal {journal} cannot be created: its directory {directory} does not "
            "exist; create it, or choose another --journal",
            journal,
        ) from None
    except OSError as error:
        if os.path.lexists(journal):
            raise JournalOpenError(
                f"order journal {journal} cannot be written: {unwritable_reason(error)}; fix "
                "its permissions or mount, or choose another --journal (the file was not "
                "changed)",
                journal,
            ) from None
        raise JournalOpenError(
            f"order journal {journal} cannot be created: {unwritable_reason(error)}; fix the "
            "directory's permissions or mount, or choose another --journal",
            journal,
        ) from None


@define
class JournalLock:
    """A held lock; :meth:`release` (or process exit) frees it."""

    path: str
    _fd: int | None
    _sidecar: int | None = None

    @classmethod
    def acquire(cls, journal: str) -> JournalLock:
        """
        Take the lock of ``journal`` (creating the file if absent) without waiting.

        :raises JournalLocked: another process holds it, by whatever path.
        :raises JournalOpenError: the file cannot be opened for writing (one line saying
            why: directory missing, read-only, permission denied, a directory).
        """
        fd = open_for_writing(journal)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = holder_pid(fd)
            os.close(fd)
            raise _locked(journal, holder) from None
        sidecar = _lock_sidecar(journal, fd)
        return cls(journal, fd, sidecar)

    def claim(self) -> None:
        """
        Write this process's pid into the sidecar lock file: a daemon takes the lock
        before twistd forks, and the child, which keeps the lock, is the holder to name.
        Never into the journal itself, which the lock is also taken on: that wrote the
        pid over the database at every start.
        """
        if self._fd is not None and self._sidecar is not None:
            try:
                os.ftruncate(self._sidecar, 0)
                os.pwrite(self._sidecar, f"{os.getpid()}\n".encode("ascii"), 0)
            except OSError:
                pass

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Drop the lock (idempotent). The files stay: deleting one would race a new holder."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        sidecar, self._sidecar = self._sidecar, None
        if sidecar is not None:
            try:
                os.ftruncate(sidecar, 0)
            except OSError:
                pass
            os.close(sidecar)
        os.close(fd)


def _locked(journal: str, holder: str) -> JournalLocked:
    who = f"pid {holder}" if holder else "another process"
    return JournalLocked(
        f"order journal {journal} is in use by another fmzokx ({who} holds it, by this or "
        "another path to the same file); stop it, or give this daemon its own --journal",
        journal,
    )


def _lock_sidecar(journal: str, fd: int) -> int | None:
    """
    Also lock ``<journal>.lock`` (for earlier versions) and write our pid in it. A sidecar
    that cannot be created (an unwritable directory) is left to SQLite to report.
    """
    path = lock_path(journal)
    try:
        sidecar = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(sidecar, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        # An earlier version holds the sidecar on this path: the same journal.
        holder = _read_pid(sidecar)
        os.close(sidecar)
        os.close(fd)
        raise _locked(journal, holder) from None
    try:
        os.ftruncate(sidecar, 0)
        os.pwrite(sidecar, f"{os.getpid()}\n".encode("ascii"), 0)
    except OSError:
        pass
    return sidecar


def holder_pid(fd: int) -> str:
    """
    The pid holding an ``flock`` on the file open at ``fd`` (from ``/proc/locks``, which
    names the inode), or ``""`` when it cannot be told.
    """
    try:
        stat = os.fstat(fd)
        with open("/proc/locks", encoding="ascii", errors="replace") as table:
            lines = table.read().splitlines()
    except OSError:
        return ""
    wanted = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:2146932 0 EOF" (a blocked waiter: "->")
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == wanted:
            if fields[4].isdigit():
                return fields[4]
    return ""


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""
