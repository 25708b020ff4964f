# -*- test-case-name: tests.sim.test_ws_protocol,tests.sim.test_ws_private -*-
"""
okxsim's WebSocket server: the open sessions, the push tick and the faults.

One :class:`WsServer` belongs to one :class:`~fmzokx.sim.simulator.Simulator` and uses its
clock, market, exchange and rate-limit switch. It serves OKX's paths ``/ws/v5/public``,
``/ws/v5/business`` and ``/ws/v5/private`` as Twisted web resources
(:meth:`WsServer.resources`), to be mounted on the same site, hence the same port, as the
REST API. A :class:`~twisted.internet.task.LoopingCall` on the simulator's clock pushes
every 100 ms while any session is open, and closes sessions that have been idle for 30 s
as OKX does (public paths: silent both ways; the private path: by the ``private_idle``
setting). It listens to the exchange's change feed (:mod:`fmzokx.sim.changes`) and hands
each change to the private sessions logged in with that account's key, and while any
is logged in it brings the exchange forward at every tick, so resting orders fill, and
funding settles, without a REST call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerFactory
from twisted.internet.task import LoopingCall
from twisted.web.resource import IResource

from fmzokx.logs import logger
from fmzokx.sim.changes import Change
from fmzokx.sim.ws.faults import NOTICE_LEAD, PATHS, PRIVATE, WsFaults
from fmzokx.sim.ws.limits import CONNECT_RULE, IDLE_CLOSE, IDLE_TIMEOUT, PUSH_INTERVAL
from fmzokx.sim.ws.private import PrivateSession
from fmzokx.sim.ws.protocol import OkxServerProtocol, Session

if TYPE_CHECKING:
    from fmzokx.sim.simulator import Simulator

__all__ = ["CONNECT_RULE", "IDLE_TIMEOUT", "PUSH_INTERVAL", "WsServer"]

BUFFER_FULL_CLOSE = (4005, "Buffer full, please reconnect")
"""How okxsim closes a slow reader's connection (OKX's 4005)."""
UPGRADE_CLOSE = (1000, "Service upgrade")
"""How okxsim closes a connection 30 s after its upgrade ``notice`` (OKX's is undocumented)."""
CLOSE_GRACE = 2.0
"""Seconds a closing session may take to answer the close frame before it is dropped."""

# fmzokx.logs's logger: --log-level applies to the simulator embedded by --sandbox too.
log = logger(__name__)


class WsServer:
    """
    The WebSocket side of one simulator.

    :param interval: seconds between pushes.
    :param idle_timeout: seconds without traffic before a session is closed.
    :param notice_lead: seconds from an upgrade ``notice`` to the close.
    """

    def __init__(
        self,
        sim: Simulator,
        *,
        interval: float = PUSH_INTERVAL,
        idle_timeout: float = IDLE_TIMEOUT,
        notice_lead: float = NOTICE_LEAD,
    ) -> None:
        self.sim = sim
        self.interval = interval
        self.idle_timeout = idle_timeout
        self.notice_lead = notice_lead
        self.faults = WsFaults()
        self.sessions: dict[str, list[Session]] = {path: [] for path in PATHS}
        #: logged-in private sessions by API key
        self.by_key: dict[str, list[PrivateSession]] = {}
        self.connections = 0
        self._loop: LoopingCall | None = None
        sim.exchange.changes.listeners.append(self._changed)

    @property
    def rate_limits(self) -> bool:
        """Whether OKX's limits are enforced (the simulator's ``rate_limits`` switch)."""
        return self.sim.limiter.enabled

    # -- web resources ---------------------------------------------------------------------

    def resources(self) -> dict[str, IResource]:
        """One Twisted web resource per WebSocket path, keyed by the path."""
        return {path: self._resource(path) for path in PATHS}

    def _resource(self, path: str) -> IResource:
        server = self

        class Protocol(OkxServerProtocol):
            pass

        Protocol.server = server
        Protocol.path = path
        factory = WebSocketServerFactory(reactor=self.sim.clock)
        factory.protocol = Protocol
        # Every timer this server needs runs on the simulator's clock; autobahn's own
        # (handshake and close timeouts) would run on the global reactor, so they are off.
        factory.setProtocolOptions(
            openHandshakeTimeout=0,
            closeHandshakeTimeout=0,
            autoPingInterval=0,
            maxMessagePayloadSize=64 * 1024,
        )
        resource: IResource = WebSocketResource(factory)
        return resource

    # -- sessions --------------------------------------------------------------------------

    def admit(self, ip: str) -> bool:
        """Whether a new connection from ``ip`` is within OKX's connection limit."""
        return self.sim.limiter.allow("WS connect", CONNECT_RULE, ip)

    def opened(
        self,
        path: str,
        send: Callable[[str], None],
        close: Callable[[int, str], None],
        abort: Callable[[], None],
    ) -> Session:
        """Register a new session on ``path`` (the handshake succeeded)."""
        self.connections += 1
        conn_id = f"{self.connections:08x}"

        def close_then_drop(code: int, reason: str) -> None:
            close(code, reason)
            session.drop_call = self.sim.clock.callLater(CLOSE_GRACE, abort)

        kind = PrivateSession if path == PRIVATE else Session
        session = kind(self, path, conn_id, send, close_then_drop, abort)
        self.sessions[path].append(session)
        if self._loop is None:
            loop = self._loop = LoopingCall(self._tick)
            loop.clock = self.sim.clock
            loop.start(self.interval, now=False)
        log.debug("okxsim WebSocket session {conn} opened on {path}", conn=conn_id, path=path)
        return session

    def closed(self, session: Session) -> None:
        """Forget a session whose connection is gone."""
        sessions = self.sessions[session.path]
        if session in sessions:
            sessions.remove(session)
        session.closing = True
        if isinstance(session, PrivateSession) and session.key is not None:
            account = self.sim.exchange.account_key(session.key)
            keyed = self.by_key.get(account, [])
            if session in keyed:
                keyed.remove(session)
            if not keyed:
                self.by_key.pop(account, None)
        if session.drop_call is not None and session.drop_call.active():
            session.drop_call.cancel()
        if not any(self.sessions.values()) and self._loop is not None:
            loop, self._loop = self._loop, None
            if loop.running:
                loop.stop()

    def logged_in(self, session: PrivateSession) -> None:
        """
        Deliver the changes of ``session.key``'s account to ``session`` from now on (every
        key of one account gets that account's changes: :attr:`by_key` is by account).
        """
        assert session.key is not None
        self.by_key.setdefault(self.sim.exchange.account_key(session.key), []).append(session)

    def channel_connections(self, key: str, channel: str) -> int:
        """How many connections of ``key``'s account are subscribed to the private ``channel``."""
        sessions = self.by_key.get(self.sim.exchange.account_key(key), [])
        return sum(1 for session in sessions if channel in session.channels())

    def _changed(self, change: Change) -> None:
        rendered: dict[Any, Any] = {}
        for session in list(self.by_key.get(change.account.spec.key, [])):
            session.changed(change, rendered)

    def _tick(self) -> None:
        now = self.sim.clock.seconds()
        now_ms = self.sim.now_ms()
        if self.by_key:
            self.sim.exchange.advance(now_ms)
        client_only = self.sim.settings.private_idle == "client"
        for path, sessions in self.sessions.items():
            for session in list(sessions):
                if session.stalled or session.closing:
                    continue
                quiet_since = session.last_traffic
                if path == PRIVATE and client_only:
                    quiet_since = session.last_received
                if now - quiet_since >= self.idle_timeout:
                    session.close(*IDLE_CLOSE)
                    continue
                session.push(now_ms)

    # -- faults ----------------------------------------------------------------------------

    def add_fault(
        self, path: str, mode: str, count: int = 1, delay_ms: float = 0, key: str = ""
    ) -> dict[str, Any]:
        """
        Apply or queue a WebSocket fault (see :mod:`fmzokx.sim.ws.faults`), on the private
        path for ``key``'s sessions only if given; the answer is what the control API shows.

        :raises ValueError: for an unknown path or mode, or a bad count, delay or key.
        """
        WsFaults.check(path, mode, count, delay_ms, key)
        hit = [
            session for session in self.sessions[path]
            if not key or (isinstance(session, PrivateSession) and session.key == key)
        ]
        if mode == "disconnect":
            for session in hit:
                session.abort()
        elif mode == "stall":
            for session in hit:
                session.stalled = True
        elif mode == "notice":
            for session in hit:
                self._announce_upgrade(session)
        elif mode == "buffer-full":
            for session in hit:
                session.close(*BUFFER_FULL_CLOSE)
        else:
            self.faults.queue(path, mode, count, delay_ms, key)
        log.info("WebSocket fault {mode} on {path}", mode=mode, path=path)
        applied: dict[str, Any] = {
            "path": path, "mode": mode, "count": count,
            "delay_ms": delay_ms if mode == "delay" else 0,
        }
        if key:
            applied["apiKey"] = key
        return applied

    def _announce_upgrade(self, session: Session) -> None:
        session.send(
            {
                "event": "notice",
                "code": "64008",
                "msg": "The connection will soon be closed for a service upgrade. "
                "Please reconnect.",
                "connId": session.conn_id,
            }
        )
        self.sim.clock.callLater(self.notice_lead, session.close, *UPGRADE_CLOSE)

    def reset(self) -> None:
        """
        Forget queued faults and drop stalled sessions (the simulator's reset), and every
        private session: its account jumps back to the start with no push, so its client
        must log in again and start over from REST.
        """
        self.faults.clear()
        for path, sessions in self.sessions.items():
            for session in list(sessions):
                if session.stalled or path == PRIVATE:
                    session.abort()

    def state(self) -> dict[str, Any]:
        """Open sessions and their subscriptions, for GET /_sim/state."""
        return {
            path: [
                {
                    "connId": session.conn_id,
                    "stalled": session.stalled,
                    "subscriptions": session.subscriptions(),
                    # The private path: the key logged in (None before a login).
                    **({"apiKey": session.key} if isinstance(session, PrivateSession) else {}),
                }
                for session in sessions
            ]
            for path, sessions in self.sessions.items()
        }

