# -*- test-case-name: tests.stream.test_private_faults,tests.stream.test_private_equality -*-
"""
Private sessions, one per API key (:class:`~.privatesession.PrivateSession`): OKX's
private WebSocket keeping a copy of the key's balance, positions and orders, so that a
strategy's polling (``GetAccount``, ``GetPositions``, ``GetOrders``, ``GetOrder``) is
answered without a REST round trip. The account and trade calls ask here first.

**Sessions.** The first private call for a key -- a balance, positions or orders read,
or a ``trade``, ``cancel`` or ``setmarginlevel`` -- opens its session (that call is
answered over REST); a session whose key made no such call for ``linger`` seconds
(default 3 minutes) is closed. Keys are told apart by their whole credentials, never by
a fingerprint, so a caller with a wrong secret gets its own session (whose login OKX
refuses), never another caller's copy. At most ``max_sessions`` at once; other keys are
answered over REST.

**When the copy answers.** Only while the session is *live* (logged in, subscribed,
seeded), no write of the daemon's is waiting to show in it, and its connection is
*alive*: a message (a push, an ack, a ``pong``) arrived within ``freshness`` seconds
(default 1). OKX sends a connection's messages in order, so a ``pong`` proves that every
push sent before it has arrived: an idle account that pushes nothing is fresh as long as
its heartbeat answers. A read that finds the connection quiet for half the budget pings,
so the next finds it confirmed. Otherwise the read goes to REST as before, and REST's
answer is folded into the copy (by OKX's time stamps, see :mod:`.privatecopy`). An order
the copy does not know is asked of REST, never reported missing.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

from fmzokx.logs import logger
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.rest.client import OkxClient, OkxReply
from fmzokx.okx.rest.pagination import PageWalk
from fmzokx.okx.stream.client import Connector
from fmzokx.okx.stream.limits import ConnectLimiter
from fmzokx.okx.stream.privatesession import (
    PrivateObserver,
    PrivateSession,
    PrivateStats,
    envelope,
    write_time,
)
from fmzokx.okx.stream.urls import PRIVATE, ws_url

__all__ = ["PrivateSessions"]

log = logger(__name__)

FRESHNESS = 1.0
"""Seconds within which the connection must have been heard for the copy to answer."""
LINGER = 180.0
"""Seconds without a read or a write before a key's session is closed."""
SETTLE = 2.0
"""Seconds a write may wait for its push before the copy is re-seeded over REST."""
RECONCILE_EVERY = 60.0
"""Seconds between two comparisons of a live copy with REST (three reads per key)."""
RETRY_REFUSED = 60.0
"""Seconds before a refused login is tried again (while the key is used)."""
MAX_SESSIONS = 500
"""Sessions at once (each is one connection); keys beyond it are answered over REST."""
PAGE = 100
"""``/trade/orders-pending`` page size (the REST walk's), for the same ``raw`` pages."""


class PrivateSessions:
    """
    Every key's private session; the read and write hooks the OKX calls use.

    :param client: the REST client (seeds, reconciliation, OKX's clock for logins).
    :param live_base: e.g. ``wss://ws.okx.com:8443``; ``demo_base`` for demo keys.
    """

    def __init__(
        self,
        clock: IReactorTime,
        client: OkxClient,
        live_base: str,
        demo_base: str,
        connector: Connector,
        *,
        observer: PrivateObserver | None = None,
        limiter: ConnectLimiter | None = None,
        rng: random.Random | None = None,
        freshness: float = FRESHNESS,
        linger: float = LINGER,
        settle: float = SETTLE,
        reconcile_every: float = RECONCILE_EVERY,
        retry_refused: float = RETRY_REFUSED,
        max_sessions: int = MAX_SESSIONS,
        **connection_options: Any,
    ) -> None:
        self.clock = clock
        self.client = client
        self.live_url = ws_url(live_base, PRIVATE)
        self.demo_url = ws_url(demo_base, PRIVATE)
        self.connector = connector
        self.limiter = limiter or ConnectLimiter(clock)
        self.rng = rng
        self.freshness = freshness
        self.linger = linger
        self.settle = settle
        self.reconcile_every = reconcile_every
        self.retry_refused = retry_refused
        self.max_sessions = max_sessions
        self.connection_options = connection_options
        self.stats = PrivateStats(observer)
        #: writes that have returned so far (all keys): a REST read that starts after the
        #: n-th shows it, whatever the clock says (many things share one millisecond)
        self.write_seq = 0
        self.sessions: dict[Credentials, PrivateSession] = {}
        self._sweeper: LoopingCall | None = None

    def start(self) -> None:
        if self._sweeper is None:
            sweeper = self._sweeper = LoopingCall(self._sweep)
            sweeper.clock = self.clock
            # Four times per freshness budget: each live session in use pings in time.
            sweeper.start(min(1.0, self.freshness / 4), now=False)

    def stop(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None and sweeper.running:
            sweeper.stop()
        for session in self.sessions.values():
            session.stop()
        self.sessions.clear()

    def session(self, credentials: Credentials) -> PrivateSession | None:
        """The key's session, opened now if it has none (``None`` at capacity)."""
        session = self.sessions.get(credentials)
        if session is None:
            if len(self.sessions) >= self.max_sessions:
                return None
            url = self.demo_url if credentials.simulated else self.live_url
            session = self.sessions[credentials] = PrivateSession(self, credentials, url)
            log.info("private stream for {key}: opening", key=credentials.fingerprint)
            session.start()
        session.last_used = self.clock.seconds()
        return session

    def _sweep(self) -> None:
        now = self.clock.seconds()
        for credentials, session in list(self.sessions.items()):
            if now - session.last_used > self.linger:
                del self.sessions[credentials]
                session.stop()
                log.info("private stream for {key}: not used for {idle:.0f} s; closed",
                         key=session.fingerprint, idle=now - session.last_used)
            else:
                session.tick(now)

    def health(self) -> dict[str, Any]:
        """Sessions for ``/status`` and metrics (by key fingerprint)."""
        sessions = [session.health() for session in self.sessions.values()]
        return {
            "sessions": sorted(sessions, key=lambda s: (s["key"], s["demo"])),
            "count": len(sessions),
            "logged_in": sum(1 for s in sessions if s["logged_in"]),
            "live": sum(1 for s in sessions if s["state"] == "live"),
            "answers": {f"{m}/{src}" + (f"/{why}" if why else ""): n
                        for (m, src, why), n in sorted(self.stats.answers.items())},
            "differences": dict(sorted(self.stats.differences.items())),
        }

    # -- reads (``None``: ask REST) --------------------------------------------------------

    def _usable(self, method: str, view: str, credentials: Credentials,
                ord_id: str | None = None) -> PrivateSession | None:
        session = self.session(credentials)
        if session is None:
            self.stats.answer(method, "rest", "capacity")
            return None
        why = session.unusable(view, ord_id)
        if why is not None:
            self.stats.answer(method, "rest", why)
            return None
        return session

    def copy_balance(self, credentials: Credentials) -> OkxReply | None:
        session = self._usable("balance", "accounts", credentials)
        data = None if session is None else session.copy.balance()
        if session is None or data is None:
            return None
        self.stats.answer("balance", "copy")
        return envelope(data)

    def copy_positions(self, credentials: Credentials, inst_type: str | None,
                       inst_id: str | None) -> OkxReply | None:
        session = self._usable("positions", "positions", credentials)
        if session is None:
            return None
        self.stats.answer("positions", "copy")
        return envelope(session.copy.position_items(inst_type, inst_id))

    def copy_open_orders(self, credentials: Credentials, inst_type: str | None,
                         inst_id: str | None) -> PageWalk | None:
        session = self._usable("orders", "orders", credentials)
        if session is None:
            return None
        self.stats.answer("orders", "copy")
        items = session.copy.open_orders(inst_type, inst_id)
        pages = [
            envelope(items[start:start + PAGE]).payload
            for start in range(0, len(items) // PAGE * PAGE + 1, PAGE)
        ]
        return PageWalk(items=items, pages=pages)

    def copy_order(self, credentials: Credentials, inst_id: str, ord_id: str | None,
                   cl_ord_id: str | None) -> OkxReply | None:
        """One order the copy knows (an unknown one is for REST: never "missing")."""
        session = self._usable("order", "orders", credentials, ord_id)
        if session is None:
            return None
        if ord_id:
            item = session.copy.order(ord_id)
        else:
            item = session.copy.find_by_client_id(inst_id, cl_ord_id or "")
            if item is not None and session.unusable("orders", str(item.get("ordId"))):
                item = None
        if item is None or item.get("instId") != inst_id:
            self.stats.answer("order", "rest", "unknown")
            return None
        self.stats.answer("order", "copy")
        return envelope([item])

    # -- reads: the copy, else REST folded into the copy -----------------------------------

    async def balance(
        self, credentials: Credentials, fetch: Callable[[], Awaitable[OkxReply]]
    ) -> OkxReply:
        """``/account/balance`` from the copy, else ``fetch()`` (REST)."""
        reply = self.copy_balance(credentials)
        if reply is not None:
            return reply
        started = self.write_seq
        reply = await fetch()
        session = self.sessions.get(credentials)
        if session is not None:
            session.rest_balance(reply, started)
        return reply

    async def positions(
        self, credentials: Credentials, inst_type: str | None, inst_id: str | None,
        fetch: Callable[[], Awaitable[OkxReply]],
    ) -> OkxReply:
        """``/account/positions`` (filtered as REST filters) from the copy, else REST."""
        reply = self.copy_positions(credentials, inst_type, inst_id)
        if reply is not None:
            return reply
        started, as_of = self.write_seq, int(self.client.server_time() * 1000)
        reply = await fetch()
        session = self.sessions.get(credentials)
        if session is not None:
            whole = inst_type is None and inst_id is None
            session.rest_positions(reply, started, as_of, whole)
        return reply

    async def open_orders(
        self, credentials: Credentials, inst_type: str | None, inst_id: str | None,
        fetch: Callable[[], Awaitable[PageWalk]],
    ) -> PageWalk:
        """Every open order (``/trade/orders-pending``, all pages) from the copy, else REST."""
        walk = self.copy_open_orders(credentials, inst_type, inst_id)
        if walk is not None:
            return walk
        started, as_of = self.write_seq, int(self.client.server_time() * 1000)
        walk = await fetch()
        session = self.sessions.get(credentials)
        if session is not None:
            whole = inst_type is None and inst_id is None
            session.rest_orders(walk, started, as_of, whole)
        return walk

    async def order(
        self, credentials: Credentials, inst_id: str, ord_id: str | None,
        cl_ord_id: str | None, fetch: Callable[[], Awaitable[OkxReply]],
    ) -> OkxReply:
        """One order (``/trade/order``) from the copy if it knows it, else REST."""
        reply = self.copy_order(credentials, inst_id, ord_id, cl_ord_id)
        if reply is not None:
            return reply
        started = self.write_seq
        reply = await fetch()
        session = self.sessions.get(credentials)
        if session is not None:
            session.rest_order(reply, started)
        return reply

    # -- writes ----------------------------------------------------------------------------

    def wrote_order(self, credentials: Credentials, ord_id: str, raw: Any,
                    derivative: bool) -> None:
        """An order OKX accepted (``raw``: its reply)."""
        self._wrote(credentials, raw, ord_id, derivative, final=False)

    def wrote_cancel(self, credentials: Credentials, ord_id: str | None, cl_ord_id: str | None,
                     inst_id: str, raw: Any, derivative: bool) -> None:
        """A cancel OKX accepted, or found already final."""
        session = self.sessions.get(credentials)
        if session is not None and not ord_id and cl_ord_id:
            found = session.copy.find_by_client_id(inst_id, cl_ord_id)
            ord_id = str(found.get("ordId")) if found else None
        self._wrote(credentials, raw, ord_id, derivative, final=True)

    def wrote_unknown(self, credentials: Credentials, derivative: bool) -> None:
        """A write whose outcome OKX did not tell: REST answers until a push shows it."""
        self._wrote(credentials, None, None, derivative, final=False)

    def wrote_leverage(self, credentials: Credentials) -> None:
        """A leverage change OKX accepted (it moves positions' margin and the balance)."""
        session = self.session(credentials)
        if session is not None:
            # set-leverage's reply has no time: OKX's clock now is late enough.
            now_ms = int(self.client.server_time() * 1000)
            session.wrote({"accounts", "positions"}, now_ms, None, final=False)

    def _wrote(self, credentials: Credentials, raw: Any, ord_id: str | None,
               derivative: bool, final: bool) -> None:
        # A write is the key's private call too: it opens the session (whose seed,
        # read after the write, holds it) and keeps it open.
        session = self.session(credentials)
        if session is None:
            return
        views = {"accounts", "orders", "positions"} if derivative else {"accounts", "orders"}
        ts_ms = write_time(raw, int(self.client.server_time() * 1000))
        session.wrote(views, ts_ms, ord_id, final)
