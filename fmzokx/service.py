# -*- test-case-name: tests.test_service -*-
"""
The daemon's long-running parts as Twisted services.

:class:`GatewayService` is the gateway's tree (:class:`InOrder`: started in order, stopped
one at a time in reverse): the order journal (:class:`JournalService`), the OKX client
(:class:`~fmzokx.okx.rest.client.OkxClientService`), the journal's reconciliation, the
WebSocket market data (:class:`StreamService`), the RPC server's drain
(:class:`DrainService`) and the timers on the injected clock (:class:`ClockTimer`). On
SIGTERM the calls in flight finish before the client and then the journal close.
:class:`SandboxService` runs okxsim on a loopback port inside the daemon and points the
client at it.
"""

from __future__ import annotations

import gc
import os
import socket
from collections.abc import Callable
from typing import Any

from attrs import define, field
from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, ensureDeferred, maybeDeferred, succeed
from twisted.internet.interfaces import IReactorTime
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
from fmzokx.journal.database import JournalDb
from fmzokx.journal.lock import JournalLock
from fmzokx.journal.schema import schema_version
from fmzokx.logs import logger
from fmzokx.okx.api import OkxApi
from fmzokx.okx.placement.reconcile import Reconciler
from fmzokx.okx.rest.client import OkxClient, OkxClientService
from fmzokx.okx.stream.privatesessions import PrivateSessions
from fmzokx.okx.stream.streams import StreamSet
from fmzokx.startup import StartupError

__all__ = [
    "ClockTimer",
    "DrainService",
    "GatewayService",
    "InOrder",
    "JournalService",
    "ReconcilerService",
    "SandboxService",
    "StreamService",
    "health_document",
]

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


class InOrder(MultiService):
    """
    Children start in the order they were added and stop in reverse, one at a time: each
    child's stop has finished (its Deferred fired) before the next one's begins, so that,
    say, the journal closes only after the calls in flight have been answered.
    (:class:`~twisted.application.service.MultiService` stops them all at once.)
    """

    def stopService(self) -> Deferred[None]:
        Service.stopService(self)
        return ensureDeferred(self._stop_in_reverse())

    async def _stop_in_reverse(self) -> None:
        for child in reversed(list(self)):
            try:
                await maybeDeferred(child.stopService)
            except Exception:
                log.failure("stopping {service} failed", service=type(child).__name__)


@define(slots=False, eq=False)
class JournalService(Service):
    """
    The order journal: locked and checked by :meth:`prepare` (``makeService``, before
    twistd daemonises, so a locked or corrupt journal is one line and exit status 1),
    opened and attached to the OKX side at start, pruned while running, closed last.

    The SQLite file is closed again after the check and reopened at start: a connection
    must not cross the daemon's ``fork``. The lock (``flock``, which a forked child keeps)
    stays held from :meth:`prepare` to the end.
    """

    okx: OkxApi
    path: str
    days: float = DEFAULT_DAYS
    reactor: Any = None
    executor: Executor | None = None
    owner: tuple[int | None, int | None] = (None, None)
    """twistd's ``--uid``/``--gid``: who the files must belong to once privileges drop."""
    journal: Journal | None = field(default=None, init=False)
    reconciler: Reconciler | None = field(default=None, init=False)
    _lock: JournalLock | None = field(default=None, init=False)
    _pruner: JournalPruner | None = field(default=None, init=False)

    def prepare(self) -> None:
        """
        Take the journal's lock, then open, check and migrate the file and close it.

        :raises StartupError: one line naming the file and what is wrong.
        """
        if self._lock is not None:
            return
        path = self.path = os.path.abspath(self.path)
        try:
            lock = JournalLock.acquire(path)
        except JournalOpenError as error:
            raise StartupError(str(error)) from None
        try:
            JournalDb.open(path, lambda: int(self.okx.clock.seconds() * 1000)).close()
            self._hand_over(path, *filter(None, [lock.sidecar_path]))
        except JournalOpenError as error:
            lock.release()
            raise StartupError(str(error)) from None
        self._lock = lock

    def _hand_over(self, *paths: str) -> None:
        """Give files created here (as root, before ``--uid``) to the daemon's user."""
        uid, gid = self.owner
        if (uid is None and gid is None) or os.geteuid() != 0:
            return
        for path in paths:
            try:
                os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
            except OSError as error:
                raise JournalOpenError(
                    f"cannot give {path} to uid {uid}, gid {gid}: {error.strerror}", path
                ) from None

    def abandon(self) -> None:
        """Release what :meth:`prepare` took (another start-up step failed)."""
        if self._lock is not None and self.journal is None:
            self._lock.release()
            self._lock = None

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        if self._lock is None:
            self.prepare()
        assert self._lock is not None
        self._lock.claim()  # after a daemon's fork, name this process as the holder
        executor = self.executor or ThreadExecutor(
            self.reactor if self.reactor is not None else self.okx.clock
        )
        db = JournalDb.open(self.path, lambda: int(self.okx.clock.seconds() * 1000))
        journal = self.journal = Journal(
            db=db, clock=self.okx.clock, executor=executor, lock=self._lock
        )
        executor.start()
        log.info(
            "order journal {path} open (schema version {version}, {orders} orders)",
            path=self.path, version=schema_version(db.connection),
            orders=db.connection.execute("SELECT COUNT(*) FROM orders").fetchone()[0],
        )
        reconciler = self.reconciler = self.okx.attach_journal(journal)
        ensureDeferred(reconciler.load()).addErrback(
            lambda failure: log.failure("reading the journal's unresolved orders failed",
                                        failure)
        )
        pruner = self._pruner = JournalPruner(journal, self.okx.clock, days=self.days)
        pruner.start()

    def stopService(self) -> Deferred[None]:
        super().stopService()  # type: ignore[no-untyped-call]
        if self._pruner is not None:
            self._pruner.stop()
        if self.journal is None:
            self.abandon()
            return succeed(None)
        # Stopped last: every outcome of the calls just drained is written first.
        return self.journal.close()


@define(slots=False, eq=False)
class ReconcilerService(Service):
    """Stops the journal's background order lookups before the OKX client closes."""

    journal: JournalService

    def stopService(self) -> None:
        super().stopService()  # type: ignore[no-untyped-call]
        if self.journal.reconciler is not None:
            self.journal.reconciler.stop()


@define(slots=False, eq=False)
class StreamService(Service):
    """The WebSocket market-data copies: connect at start, close at stop."""

    streams: StreamSet

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        self.streams.start()

    def stopService(self) -> None:
        super().stopService()  # type: ignore[no-untyped-call]
        self.streams.stop()


@define(slots=False, eq=False)
class PrivateStreamService(Service):
    """Each key's private WebSocket copy: housekeeping from start, every session closed at stop."""

    private: PrivateSessions

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        self.private.start()

    def stopService(self) -> None:
        super().stopService()  # type: ignore[no-untyped-call]
        self.private.stop()


@define(slots=False, eq=False)
class DrainService(Service):
    """On stop, new calls are refused and the ones in flight finish (each has a deadline)."""

    server: RpcServer

    def stopService(self) -> Deferred[None]:
        super().stopService()  # type: ignore[no-untyped-call]
        inflight = self.server.inflight
        if inflight:
            log.info("shutting down: waiting for {count} call(s) in flight", count=inflight)
        return self.server.drain()


@define(slots=False, eq=False)
class ClockTimer(Service):
    """
    Call ``work`` every ``interval`` seconds of ``clock`` (first after one interval), or,
    with ``repeat=False``, once. ``work`` logs its own failures: a failed
    :class:`~twisted.internet.task.LoopingCall` would stop for good.
    """

    clock: IReactorTime
    interval: float
    work: Callable[[], object]
    repeat: bool = True
    _loop: LoopingCall | None = field(default=None, init=False)
    _call: Any = field(default=None, init=False)

    def startService(self) -> None:
        super().startService()  # type: ignore[no-untyped-call]
        if self.repeat:
            loop = self._loop = LoopingCall(self.work)
            loop.clock = self.clock
            loop.start(self.interval, now=False)
        else:
            self._call = self.clock.callLater(self.interval, self._once)

    def _once(self) -> None:
        self._call = None
        self.work()

    def stopService(self) -> None:
        super().stopService()  # type: ignore[no-untyped-call]
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self._call is not None and self._call.active():
            self._call.cancel()


@define(slots=False, eq=False)
class GatewayService(InOrder):
    """
    The gateway's running parts as a tree, started in this order and stopped in reverse:
    the order journal (:class:`JournalService`), the OKX client (clock sync, pool), the
    journal's reconciliation, the WebSocket market data, the RPC server's drain, then the
    timers on the injected clock (instrument refresh, position-mode sweep, the one-off
    garbage-collector freeze). On SIGTERM the timers stop, the calls in flight finish,
    then the streams, the client and last the journal close.

    :ivar journal_path: the order journal's file; ``None`` runs without a journal (tests
        of other parts).
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
    journal_owner: tuple[int | None, int | None] = (None, None)
    journal_service: JournalService | None = field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        MultiService.__init__(self)
        clock = self.okx.clock
        if self.journal_path is not None:
            self.journal_service = JournalService(
                self.okx, self.journal_path, self.journal_days, self.reactor,
                self.journal_executor, self.journal_owner,
            )
            self.journal_service.setServiceParent(self)  # type: ignore[no-untyped-call]
        OkxClientService(self.okx.client).setServiceParent(self)  # type: ignore[no-untyped-call]
        if self.journal_service is not None:
            ReconcilerService(self.journal_service).setServiceParent(self)  # type: ignore[no-untyped-call]
        if self.okx.streams is not None:
            StreamService(self.okx.streams).setServiceParent(self)  # type: ignore[no-untyped-call]
        if self.okx.private is not None:
            PrivateStreamService(self.okx.private).setServiceParent(self)  # type: ignore[no-untyped-call]
        DrainService(self.server).setServiceParent(self)  # type: ignore[no-untyped-call]
        # refresh() and refresh_due() log and swallow their own failures.
        timers = [
            ClockTimer(clock, self.refresh_interval, self._refresh_instruments),
            ClockTimer(clock, POSITION_MODE_SWEEP, self.okx.account.refresh_due),
        ]
        if self.gc_freeze_after is not None:
            timers.append(ClockTimer(clock, self.gc_freeze_after, self._freeze, repeat=False))
        for timer in timers:
            timer.setServiceParent(self)  # type: ignore[no-untyped-call]

    @property
    def journal(self) -> Journal | None:
        """The open order journal (``None`` before start or without one)."""
        return None if self.journal_service is None else self.journal_service.journal

    def _refresh_instruments(self) -> Deferred[None]:
        return ensureDeferred(self.okx.instruments.refresh())

    def _freeze(self) -> None:
        self.gc_freeze()
        log.info("froze {count} start-up objects out of the garbage collector's passes",
                 count=gc.get_freeze_count())

    def stopService(self) -> Deferred[None]:
        stopped = super().stopService()
        stopped.addCallback(lambda _: log.info("shut down cleanly"))
        return stopped


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
    banner: str | Callable[[], str] = ""
    """Logged at start (``{url}`` is the simulator's); a callable is asked then."""
    _port: Any = field(default=None, init=False)

    @classmethod
    def bind(
        cls, simulator: Any, reactor: Any, banner: str | Callable[[], str] = ""
    ) -> SandboxService:
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
        text = self.banner() if callable(self.banner) else self.banner
        log.info("{banner}", banner=text.format(url=self.url))

    def stopService(self) -> Deferred[None] | None:
        super().stopService()  # type: ignore[no-untyped-call]
        if self._port is not None:
            result: Deferred[None] | None = self._port.stopListening()
            return result
        return None
