# -*- test-case-name: tests.journal.test_lock -*-
"""
One daemon per journal: an exclusive ``flock`` on ``<journal>.lock`` for the daemon's life.

Why a sidecar lock rather than SQLite's ``locking_mode=EXCLUSIVE``: an exclusive SQLite
lock also shuts out the operator's read-only reader (``python -m fmzokx journal``) and
``sqlite3 .backup`` while the daemon runs, which WAL otherwise allows. ``flock`` belongs
to the open file, so the kernel drops it when the process dies however it dies
(SIGKILL, OOM), and a stale lock file left behind blocks nobody. The holder's pid is
written into the file only to make the refusal message useful.
"""

from __future__ import annotations

import fcntl
import os

from attrs import define

from fmzokx.journal.errors import JournalLocked, JournalOpenError

__all__ = ["JournalLock", "lock_path"]


def lock_path(journal: str) -> str:
    """The sidecar lock file of a journal."""
    return journal + ".lock"


@define
class JournalLock:
    """A held lock; :meth:`release` (or process exit) frees it."""

    path: str
    _fd: int | None

    @classmethod
    def acquire(cls, journal: str) -> JournalLock:
        """
        Take the lock of ``journal`` without waiting.

        :raises JournalLocked: another process holds it.
        :raises JournalOpenError: the lock file cannot be created.
        """
        path = lock_path(journal)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise JournalOpenError(
                f"cannot create the order journal's lock file {path}: {error.strerror}",
                journal,
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"pid {holder}" if holder else "another process"
            raise JournalLocked(
                f"order journal {journal} is in use by another fmzokx ({who} holds {path}); "
                "stop it, or give this daemon its own --journal",
                journal,
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        return cls(path, fd)

    def claim(self) -> None:
        """
        Write this process's pid into the lock file: a daemon takes the lock before
        twistd forks, and the child, which keeps the lock, is the holder to name.
        """
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{os.getpid()}\n".encode("ascii"), 0)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Drop the lock (idempotent). The file stays: deleting it would race a new holder."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        os.close(fd)


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""
