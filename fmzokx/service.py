# -*- test-case-name: tests.test_service -*-
"""
The daemon's long-running parts as Twisted services.

:class:`GatewayService` owns the order journal's life (opened and locked at start,
closed last), the OKX client's (clock sync timer, pool), the WebSocket market-data
copies, the instrument refresh timer, and graceful shutdown: on SIGTERM it stops new
calls, lets the calls in flight finish (each bounded by its own deadline), then closes
the client and the journal.
:class:`SandboxService` runs okxsim on a loopback port inside the daemon and points the
client at it.
"""

from __future__ import annotations

import gc
import socket
from collections.abc import Callable
from typing import Any

from attrs import define, field
from twisted.application.service import Service
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import LoopingCall

from fmzokx.fmz.resource import RpcServer
from fmzokx.journal import (
    DEFAULT_DAYS,
    Executor,
    Journal,
    JournalOpenError,
    JournalPruner,
    ThreadExecutor,
)
from fmzokx.logs import logger
from fmzokx.okx.api import OkxApi
from fmzokx.okx.placement.reconcile import Reconciler
from fmzokx.okx.rest.client import OkxClient
from fmzokx.okx.stream.streams import StreamSet

__all__ = ["GatewayService", "SandboxService", "health_document"]

log = logger(__name__)

INSTRUMENT_REFRESH = 600.0
"""Seconds between instrument-list refreshes (new listings, changed tick sizes)."""
POSITION_MODE_SWEEP = 5.0
"""Seconds between looks for cached position modes to re-read before they expire."""
GC_FREEZE_AFTER = 30.0
"""Seconds after start-up at which the objects alive then are frozen (see ``freeze_gc``)."""


def freeze_gc() -> None:
    """
    Collect once, then move every object alive into the collector's permanent generation.

    What start-up and the first calls build (modules, classes, Klein's and Prometheus's
    tables, instrument lists, caches) lives as long as the process, yet the collector's
    full passes walked all of it -- about 88,000 objects, 60 ms per pass on the test VM,
    several passes a minute under load, each one a stall every call in flight waits for.
    Frozen, a full pass walks what was made since: 15 ms (``docs/performance.rst``).
    Frozen objects are still freed by reference counting; only a cycle among them would
    stay, hence the collection first.
    """
    gc.collect()
    gc.freeze()


def health_document(
    client: OkxClient, streams: StreamSet | None = None, journal: Journal | None = None
) -> dict[str, Any]:
    """
    ``/healthz``: ok while OKX's clock has been reached, with the offset; with
    ``--market-data ws`` also the WebSocket copies, degraded while one of their channels
    has been out of service for a while (answers then come over REST, only slower); and
    the order journal, degraded while it cannot be written or stalls (orders are refused
    then).
    """
    okx = client.health()
    reachable = bool(okx.get("clock_synced")) and not okx.get("clock_sync_error")
    document: dict[str, Any] = {"status": "ok" if reachable else "degraded", "okx": okx}
    if streams is not None:
        stream = document["stream"] = streams.health()
        if stream["status"] == "degraded":
            document["status"] = "degraded"
    if journal is not None:
        # Degraded while it cannot be written or has stalled (a frozen disk): orders are
        # refused as not placed meanwhile.
        document["journal"] = journal.health()
        if not journal.healthy:
            document["status"] = "degraded"
    return document


@define(slots=False)
class GatewayService(Service):
    """
    Open the order journal, start the client and the timers; drain and close on stop.

    :ivar journal_path: the order journal's file, opened (and locked) at start, relative
        to the working directory then (twistd has moved to ``--rundir``); ``None`` runs
        without a journal (tests of other parts).
    :ivar journal_days: retention of journal entries.
    :ivar reactor: runs the journal's thread (defaults to the OKX side's clock, which is
        the reactor in the daemon).
    :ivar journal_executor: where the journal's SQLite work runs (default: its own
        thread; tests inject an inline one).
    :ivar gc_freeze_after: seconds after start at which ``gc_freeze`` runs once (the
        daemon: :data:`GC_FREEZE_AFTER`); ``None`` never (tests: the process is pytest).
    """

    okx: OkxApi
    server: RpcServer
    refresh_interval: float = INSTRUMENT_REFRESH
    journal_path: str | None = None
    journal_days: float = DEFAULT_DAYS
    reactor: Any = None
    journal_executor: Executor | None = None
    gc_freeze_after: float | None = None
    gc_freeze: Callable[[], None] = freeze_gc
    journal: Journal | None = field(default=None, init=False)
    _refresh: LoopingCall | None = field(default=None, init=False)
    _modes: LoopingCall | None = field(default=None, init=False)
    _pruner: JournalPruner | None = field(default=None, init=False)
    _reconciler: Reconciler | None = field(default=None, init=False)
    _freeze_timer: Any = field(default=None, init=False)

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        if self.journal_path is not None:
            self._open_journal(self.journal_path)
        self.okx.client.start()
        if self.okx.streams is not None:
            self.okx.streams.start()
        loop = self._refresh = LoopingCall(self._refresh_instruments)
        loop.clock = self.okx.clock
        loop.start(self.refresh_interval, now=False)
        # refresh_due() logs its own failures and never fails, so this loop never stops.
        modes = self._modes = LoopingCall(self.okx.account.refresh_due)
        modes.clock = self.okx.clock
        modes.start(POSITION_MODE_SWEEP, now=False)
        if self.gc_freeze_after is not None:
            self._freeze_timer = self.okx.clock.callLater(self.gc_freeze_after, self._freeze)

    def _freeze(self) -> None:
        self._freeze_timer = None
        self.gc_freeze()
        log.info("froze {count} start-up objects out of the garbage collector's passes",
                 count=gc.get_freeze_count())

    def _open_journal(self, path: str) -> None:
        """
        Open, lock, check and migrate the journal; a problem ends the process with one
        line (no order may be taken without it).
        """
        executor = self.journal_executor or ThreadExecutor(
            self.reactor if self.reactor is not None else self.okx.clock
        )
        try:
            journal = Journal.open(path, self.okx.clock, executor)
        except JournalOpenError as error:
            log.critical("{error}", error=str(error))
            raise SystemExit(f"fmzokx: {error}") from None
        self.journal = journal
        reconciler = self._reconciler = self.okx.attach_journal(journal)
        ensureDeferred(reconciler.load()).addErrback(
            lambda failure: log.failure("reading the journal's unresolved orders failed",
                                        failure)
        )
        pruner = self._pruner = JournalPruner(journal, self.okx.clock, days=self.journal_days)
        pruner.start()

    def _refresh_instruments(self) -> Deferred[None]:
        # refresh() logs and swallows its own failures, so the loop never stops.
        return ensureDeferred(self.okx.instruments.refresh())

    def stopService(self) -> Deferred[None]:
        super().stopService()  # type: ignore[no-untyped-call]
        for loop in (self._refresh, self._modes):
            if loop is not None and loop.running:
                loop.stop()
        if self._freeze_timer is not None and self._freeze_timer.active():
            self._freeze_timer.cancel()
        return ensureDeferred(self._stop())

    async def _stop(self) -> None:
        inflight = self.server.inflight
        if inflight:
            log.info("shutting down: waiting for {count} call(s) in flight", count=inflight)
        await self.server.drain()
        if self._reconciler is not None:
            self._reconciler.stop()
        if self.okx.streams is not None:
            self.okx.streams.stop()
        await self.okx.client.stop()
        if self._pruner is not None:
            self._pruner.stop()
        if self.journal is not None:
            # After the drain: every outcome of the calls just finished is written first.
            await self.journal.close()
        log.info("shut down cleanly")


@define(slots=False)
class SandboxService(Service):
    """
    okxsim on a loopback port of this process, the port bound before the daemon starts.

    ``makeService`` binds the listening socket (so the simulator's URL is known when the
    client is built); starting this service hands the socket to the reactor, before the
    RPC listeners start, so the first docker call already reaches it.
    """

    simulator: Any
    listening: socket.socket
    port: int
    reactor: Any
    banner: str = ""
    _port: Any = field(default=None, init=False)

    @classmethod
    def bind(cls, simulator: Any, reactor: Any, banner: str = "") -> SandboxService:
        """A service for ``simulator`` with a socket bound to a free loopback port."""
        listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(("127.0.0.1", 0))
        listening.listen(128)
        listening.setblocking(False)
        port = listening.getsockname()[1]
        return cls(simulator, listening, port, reactor, banner)

    @property
    def url(self) -> str:
        """The simulator's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def startService(self) -> None:
        from twisted.web.server import Site

        super().startService()  # type: ignore[no-untyped-call]
        site = Site(self.simulator.resource())
        site.log = lambda request: None  # type: ignore[method-assign]
        self._port = self.reactor.adoptStreamPort(
            self.listening.fileno(), socket.AF_INET, site
        )
        # The reactor holds its own duplicate of the descriptor now.
        self.listening.close()
        log.info("{banner}", banner=self.banner.format(url=self.url))

    def stopService(self) -> Deferred[None] | None:
        super().stopService()  # type: ignore[no-untyped-call]
        if self._port is not None:
            result: Deferred[None] | None = self._port.stopListening()
            return result
        return None
