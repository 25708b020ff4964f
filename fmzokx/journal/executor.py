# -*- test-case-name: tests.journal.test_executor -*-
"""
Where journal work runs: one dedicated thread, off the reactor.

Why one thread of our own rather than ``twisted.enterprise.adbapi.ConnectionPool``
(``cp_min=cp_max=1``): the journal needs exactly one connection used by one thread at a
time, its file opened, locked, checked and migrated *synchronously* at start-up (so a
bad file stops the daemon with one line before it serves anything), and explicit
``BEGIN IMMEDIATE`` transactions whose fsync policy changes per write. adbapi brings
per-thread connections, reconnect logic that would reopen a corrupt file, and a reactor
start-up hook; none of it helps here. A single-worker ``ThreadPool`` also runs jobs in
the order they were queued, which keeps "intent before outcome" true without locks.

:class:`ImmediateExecutor` runs the same jobs inline for reactor-free tests and for the
operator's reader.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from attrs import define, field
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

__all__ = ["Executor", "ImmediateExecutor", "ThreadExecutor"]

T = TypeVar("T")


class Executor(Protocol):
    def run(self, work: Callable[[], T]) -> Deferred[T]:
        """Run ``work`` after every job queued before it; its result or failure."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@define
class ThreadExecutor:
    """One worker thread; jobs run one at a time, first in first out."""

    reactor: Any
    name: str = "fmzokx-journal"
    _pool: ThreadPool = field(init=False)

    def __attrs_post_init__(self) -> None:
        self._pool = ThreadPool(minthreads=1, maxthreads=1, name=self.name)

    def start(self) -> None:
        self._pool.start()

    def run(self, work: Callable[[], T]) -> Deferred[T]:
        result: Deferred[T] = deferToThreadPool(self.reactor, self._pool, work)
        return result

    def stop(self) -> None:
        """Finish the queued jobs, then join the thread (call once nothing new is queued)."""
        self._pool.stop()


@define
class ImmediateExecutor:
    """Runs each job at once in the calling thread (tests, command-line tools)."""

    def start(self) -> None:
        pass

    def run(self, work: Callable[[], T]) -> Deferred[T]:
        try:
            return succeed(work())
        except Exception:
            return fail()

    def stop(self) -> None:
        pass
