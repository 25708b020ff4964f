"""
Helpers for the journal tests: a journal on a temporary file driven inline (no threads,
no reactor), intents, and a real way to make its writes fail while reads keep working.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from attrs import define, field
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from fmzokx.journal import ImmediateExecutor, Journal, OrderRecord

START = 1_795_608_668.0
"""The fake clock's start (2026-11-25 12:11:08 UTC)."""

KEY_FP = "key-0a1b2c3d"


def clock_at(seconds: float = START) -> Clock:
    clock = Clock()
    clock.advance(seconds)
    return clock


def open_journal(path: Path, clock: Clock | None = None) -> Journal:
    """A journal at ``path`` whose work runs inline."""
    return Journal.open(str(path), clock or clock_at(), ImmediateExecutor())


def result(deferred: Deferred[Any]) -> Any:
    """The result of an already-fired Deferred, or raise its failure."""
    outcome: list[Any] = []
    deferred.addBoth(outcome.append)
    assert outcome, "the Deferred has not fired (inline executor expected)"
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    return outcome[0]


def intent(cl_ord_id: str = "c1", inst_id: str = "BTC-USDT", **changes: Any) -> OrderRecord:
    body = {
        "instId": inst_id, "tdMode": "cash", "side": "buy", "ordType": "limit",
        "px": "30000", "sz": "0.01", "clOrdId": cl_ord_id,
    }
    body.update(changes.pop("body", {}))
    made = OrderRecord.from_body(
        changes.pop("key_fp", KEY_FP), body, nonce=changes.pop("nonce", 42),
        request_fp=changes.pop("request_fp", "r" * 16), exp_time=changes.pop("exp_time", None),
    )
    assert not changes, changes
    return made


@contextmanager
def read_only_underneath(journal: Journal) -> Iterator[None]:
    """
    Swap the journal's connection for a read-only one on the same file, as if the file
    system had been remounted read-only: SQLite itself refuses every write
    ("attempt to write a readonly database") while reads see the same data.
    """
    writable = journal.db.connection
    readonly = sqlite3.connect(
        f"file:{quote(journal.path)}?mode=ro", uri=True, isolation_level=None,
        check_same_thread=False,
    )
    journal.db.connection = readonly
    try:
        yield
    finally:
        journal.db.connection = writable
        readonly.close()


@define
class StalledExecutor:
    """
    The journal's thread stuck in ``fsync`` (a frozen disk): jobs are queued and run, in
    order, only when :meth:`thaw` is called (or at once while not :attr:`frozen`).
    """

    frozen: bool = True
    jobs: list[tuple[Callable[[], Any], Deferred[Any]]] = field(factory=list)
    ran: int = 0

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def run(self, work: Callable[[], Any]) -> Deferred[Any]:
        done: Deferred[Any] = Deferred()
        self.jobs.append((work, done))
        if not self.frozen:
            self.thaw()
        return done

    def thaw(self) -> None:
        self.frozen = False
        while self.jobs:
            work, done = self.jobs.pop(0)
            self.ran += 1
            try:
                value = work()
            except Exception:
                done.errback()
            else:
                done.callback(value)
