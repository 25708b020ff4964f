# -*- test-case-name: tests.stream.test_private_faults,tests.stream.test_private_equality -*-
"""
One API key's private session: its OKX private WebSocket connection and the
:class:`~.privatecopy.PrivateCopy` that connection keeps (see :mod:`.privatesessions`
for when the copy answers).

**Life.** Connect, log in, subscribe ``account``, ``positions`` and ``orders``, and once
all three are acknowledged *seed* the copy from REST (balance, positions, open orders):
only then is the session *live*. A reconnect starts again from an empty copy.

**Never behind the daemon's own writes.** Every ``trade``, ``cancel`` and leverage change
puts a *barrier* on the copy when OKX answers it: the views it changes (balance, orders,
positions for contracts) are answered over REST until the copy shows the write -- the
order's own push (with a final state, or stamped after the cancel, for a cancel); an
``account`` push, and for positions a ``positions`` push, stamped (``uTime``/``pTime``)
after OKX's time of the write -- or a REST read that started after the write returned
(its answer re-seeds that view). A barrier still standing after ``settle`` seconds (a lost
push) re-reads the views still waiting from REST.

**Reconciliation.** Every ``reconcile_every`` seconds a live copy is read back over REST
and compared on the fields that do not move with the market (cash and frozen funds,
position sizes, prices and leverage, order states and fills); every view that differs is
counted and the copy re-seeded. A view that a push, another REST read or a write changed
while REST was read is not compared, nor an order the copy has updated within OKX's
read-after-write lag (REST may not show it yet).

A login OKX refuses (60009, a wrong passphrase, clock skew...) leaves the key on REST; the
log says why (OKX's code and its meaning, never the request) and the login is retried
after ``retry_refused`` seconds while the key is used.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Protocol

from attrs import define, field
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from fmzokx.deferreds import detached, sleep
from fmzokx.logs import logger
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.endpoints import BALANCE, ORDERS_PENDING, POSITIONS
from fmzokx.okx.rest.client import OkxReply
from fmzokx.okx.rest.pagination import PageWalk
from fmzokx.okx.stream.client import StreamConnection
from fmzokx.okx.stream.private import CHANNEL_ARGS, VIEWS, login_request, refusal_text
from fmzokx.okx.stream.privatecopy import FINAL, READ_LAG_MS, PrivateCopy, stamp

if TYPE_CHECKING:
    from fmzokx.okx.stream.privatesessions import PrivateSessions

__all__ = ["PrivateObserver", "PrivateSession", "PrivateStats", "envelope", "write_time"]

log = logger(__name__)

RETRY_SEED = 5.0
"""Seconds before a seed that failed (a REST error) is tried again."""
SETUP_TIMEOUT = 10.0
"""Seconds from a connection's open to being live (login, acks) before it is dropped."""

PONG_WAIT = 2.0
"""Seconds reconciliation waits for the connection to answer a ping before comparing."""
ACTIVE = 30.0
"""Seconds after a read during which the session pings to stay provably fresh."""

_CHANNEL_VIEW = {"account": "accounts", "positions": "positions", "orders": "orders"}


class PrivateObserver(Protocol):
    """Receives each counted event (the daemon's metrics registry)."""

    def private_answer(self, method: str, source: str, reason: str) -> None:
        """A read answered from the ``copy`` or over ``rest`` (``reason`` says why)."""

    def private_difference(self, view: str) -> None:
        """Reconciliation found the copy's ``view`` different from REST."""


@define
class PrivateStats:
    """Counters for tests, metrics and ``/status``; passes each event to ``observer``."""

    observer: PrivateObserver | None = None
    answers: dict[tuple[str, str, str], int] = field(factory=dict)
    differences: dict[str, int] = field(factory=dict)

    def answer(self, method: str, source: str, reason: str = "") -> None:
        key = (method, source, reason)
        self.answers[key] = self.answers.get(key, 0) + 1
        if self.observer is not None:
            self.observer.private_answer(method, source, reason)

    def difference(self, view: str) -> None:
        self.differences[view] = self.differences.get(view, 0) + 1
        if self.observer is not None:
            self.observer.private_difference(view)

    def from_copy(self, method: str) -> int:
        return sum(n for (m, source, _), n in self.answers.items()
                   if m == method and source == "copy")

    def from_rest(self, method: str) -> int:
        return sum(n for (m, source, _), n in self.answers.items()
                   if m == method and source == "rest")


@define(eq=False)
class _Barrier:
    """A write the copy must show before the views it changed answer from it."""

    views: set[str]
    ts_ms: int
    returned: float
    seq: int
    ord_id: str | None = None
    final: bool = False
    #: when REST last re-read its views for it (``returned`` until then)
    reread: float = 0.0

    def __attrs_post_init__(self) -> None:
        self.reread = self.returned


def write_time(raw: Any, fallback_ms: int) -> int:
    """OKX's time of a write: its item's ``ts``, else the envelope's ``outTime`` (µs)."""
    best = 0
    envelopes = raw if isinstance(raw, list) else [raw]
    for envelope in envelopes:
        if not isinstance(envelope, Mapping):
            continue
        for item in envelope.get("data") or []:
            if isinstance(item, Mapping):
                best = max(best, stamp(item, "ts"))
        out = str(envelope.get("outTime", ""))
        if out.isdigit():
            best = max(best, int(out) // 1000)
    return best or fallback_ms


def envelope(data: list[Any]) -> OkxReply:
    return OkxReply(200, {"code": "0", "data": data, "msg": ""})


class PrivateSession:
    """One key's private connection and copy; see the module docstring."""

    def __init__(self, owner: PrivateSessions, credentials: Credentials, url: str) -> None:
        self.owner = owner
        self.credentials = credentials
        self.fingerprint = credentials.fingerprint
        self.clock = owner.clock
        now = self.clock.seconds()
        self.copy = PrivateCopy()
        self.connection = StreamConnection(
            url,
            clock=owner.clock,
            connector=owner.connector,
            limiter=owner.limiter,
            listener=self,
            rng=owner.rng,
            login=login_request(credentials, owner.client.server_time),
            keepalive=True,
            **owner.connection_options,
        )
        self.state = "connecting"
        self.refused: str | None = None
        self.retry_at = 0.0
        self.last_used = now
        self.opened_at = now
        self.last_push: float | None = None
        self.generation = 0
        self.acked: set[str] = set()
        self.barriers: list[_Barrier] = []
        self.account_heard_ms = 0
        self.positions_heard_ms = 0
        self.pushes: dict[str, int] = {name: 0 for name in _CHANNEL_VIEW}
        #: per view, how many times a push, a REST read or a write has changed it: a
        #: reconciliation compares only views nothing changed while it read REST
        self.touched: dict[str, int] = {view: 0 for view in VIEWS}
        self.snapshots: dict[str, int] = {name: 0 for name in _CHANNEL_VIEW}
        # The first check somewhere in the second half of the cycle: keys opened together
        # (a restart under many strategies) do not all read REST in the same second.
        spread = (owner.rng or random).random()
        self.next_reconcile = now + owner.reconcile_every * (0.5 + 0.5 * spread)
        self._busy: Deferred[None] | None = None

    # -- life ------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect, log in and subscribe (asynchronously)."""
        self.state = "connecting"
        for arg in CHANNEL_ARGS:
            self.connection.subscribe(arg)

    def stop(self) -> None:
        self.state = "closed"
        self.connection.stop()
        self.copy.clear()
        self.barriers.clear()

    def health(self) -> dict[str, Any]:
        """What ``/status`` shows: by fingerprint, never the key."""
        now = self.clock.seconds()
        return {
            "key": self.fingerprint,
            "demo": self.credentials.simulated,
            "state": self.state,
            "logged_in": self.connection.logged_in,
            "why": self.refused or "",
            "push_age": None if self.last_push is None else round(now - self.last_push, 3),
            "heard_age": None if self.connection.last_inbound is None
            else round(now - self.connection.last_inbound, 3),
            "idle": round(now - self.last_used, 3),
            "open_orders": len(self.copy.orders),
            "positions": len(self.copy.positions),
            "waiting_writes": len(self.barriers),
        }

    # -- what the connection reports -------------------------------------------------------

    def stream_opened(self, connection: StreamConnection) -> None:
        self.generation += 1
        self.acked.clear()
        self.copy.clear(keep_finished=True)
        self.account_heard_ms = self.positions_heard_ms = 0
        self.opened_at = self.clock.seconds()
        self.state = "logging in"

    def stream_closed(self, connection: StreamConnection, reason: str) -> None:
        self.acked.clear()
        if self.state not in ("refused", "closed"):
            self.state = "connecting"

    def stream_event(
        self, connection: StreamConnection, event: dict[str, Any], args: list[dict[str, str]]
    ) -> None:
        kind = event.get("event")
        if kind == "login":
            if str(event.get("code", "0")) == "0":
                self.state = "subscribing"
                self.refused = None
                log.info("private stream for {key}: logged in", key=self.fingerprint)
            else:
                self._refuse(refusal_text(event))
        elif kind == "subscribe":
            arg = event.get("arg")
            channel = str(arg.get("channel", "")) if isinstance(arg, dict) else ""
            if channel in _CHANNEL_VIEW:
                self.acked.add(channel)
            if self.state == "subscribing" and self.acked >= set(_CHANNEL_VIEW):
                self._seed()
        elif kind == "error":
            self._refuse(refusal_text(event))
        elif kind == "channel-conn-count-error":
            # OKX ended a subscription: too many connections of this account on it.
            channel = "".join(ch for ch in str(event.get("channel", ""))[:24] if ch.isalnum())
            self._refuse(f"OKX ended the {channel} subscription (too many connections of "
                         "this account on it)")
        elif kind == "notice":
            log.info("private stream for {key}: OKX notice {code}", key=self.fingerprint,
                     code=str(event.get("code", ""))[:8])

    def stream_push(self, connection: StreamConnection, message: dict[str, Any]) -> None:
        arg = message["arg"]
        channel = str(arg.get("channel", ""))
        if channel not in _CHANNEL_VIEW or self.state in ("refused", "closed"):
            return
        self.last_push = self.clock.seconds()
        self.pushes[channel] += 1
        self.touched[_CHANNEL_VIEW[channel]] += 1
        if message.get("eventType") == "snapshot":
            self.snapshots[channel] += 1
        items = [item for item in message["data"] if isinstance(item, Mapping)]
        if channel == "account":
            for item in items:
                self.copy.apply_account(item)
                self.account_heard_ms = max(self.account_heard_ms, stamp(item))
        elif channel == "positions":
            self.copy.apply_positions(items)
            for item in items:
                self.positions_heard_ms = max(
                    self.positions_heard_ms, stamp(item, "pTime"), stamp(item)
                )
        else:
            for item in items:
                self.copy.apply_order(item)
        if self.barriers:
            self._check_barriers()

    def _refuse(self, why: str) -> None:
        if self.state == "closed":
            return
        now = self.clock.seconds()
        self.state = "refused"
        self.refused = why
        self.retry_at = now + self.owner.retry_refused
        log.warn(
            "private stream for {key}: {why}; answering its account, positions and orders "
            "over REST, retrying in {retry:g} s",
            key=self.fingerprint, why=why, retry=self.owner.retry_refused,
        )
        self.connection.stop()
        self.copy.clear(keep_finished=True)

    # -- seeding and reconciliation --------------------------------------------------------

    def _seed(
        self, purpose: str = "seed", views: frozenset[str] = frozenset(VIEWS)
    ) -> Deferred[None] | None:
        """
        Read balance, positions and open orders over REST into the copy (one read at a
        time): to make the copy live (``seed``), to catch up with a write whose push did
        not come (``reseed``: the copy stays live), or to ``reconcile`` it.
        """
        if self._busy is not None:
            return None
        if purpose == "seed":
            self.state = "seeding"
        compare = purpose == "reconcile"
        generation = self.generation

        def done(_: object) -> None:
            self._busy = None

        def failed(failure: Failure) -> None:
            self._busy = None
            if self.generation == generation and self.state == "seeding":
                self.state = "seed failed"
                self.retry_at = self.clock.seconds() + RETRY_SEED
            log.warn(
                "private stream for {key}: reading the account over REST failed ({error}); "
                "answering over REST, trying again in {retry:g} s",
                key=self.fingerprint, error=failure.getErrorMessage()[:200], retry=RETRY_SEED,
            )

        busy = self._busy = detached(
            lambda: Deferred.fromCoroutine(self._read_all(generation, compare, views))
        )
        busy.addCallbacks(done, failed)
        return busy

    async def _read_all(
        self, generation: int, compare: bool, views: frozenset[str] = frozenset(VIEWS)
    ) -> None:
        client = self.owner.client
        credentials = self.credentials
        started = self.owner.write_seq
        as_of = int(client.server_time() * 1000)
        before = dict(self.touched)
        balance = positions = None
        orders = None
        if "accounts" in views:
            balance = await client.get(BALANCE.path, credentials=credentials)
        if "positions" in views:
            positions = await client.get(POSITIONS.path, credentials=credentials)
        if "orders" in views:
            orders = await client.paginate(ORDERS_PENDING.path, {}, credentials=credentials)
        if compare:
            # Let the pushes of any change made while REST was read arrive first (a pong
            # to a ping sent now comes after them), so a change in flight is not taken
            # for a difference: a view pushed to meanwhile is not compared.
            asked = self.clock.seconds()
            self.connection.ping_now()
            while (self.connection.last_inbound or 0.0) <= asked and (
                self.clock.seconds() - asked < PONG_WAIT
            ):
                await sleep(self.clock, 0.05)
        if generation != self.generation or self.state in ("refused", "closed"):
            return
        if compare and balance is not None and positions is not None and orders is not None:
            self._compare(balance, positions, orders, before, as_of)
        if balance is not None:
            account = [item for item in balance.data if isinstance(item, Mapping)]
            if account:
                self.copy.seed_account(account[0])
        if positions is not None:
            self.copy.seed_positions(
                [item for item in positions.data if isinstance(item, Mapping)], as_of
            )
        if orders is not None:
            self.copy.seed_orders(
                [item for item in orders.items if isinstance(item, Mapping)], as_of,
                self._cancelled(started),
            )
        self._rest_read(views, started)
        if self.state in ("seeding", "seed failed"):
            self.state = "live"
            log.info("private stream for {key}: live (seeded from REST)", key=self.fingerprint)

    def _compare(
        self, balance: OkxReply, positions: OkxReply, orders: PageWalk,
        before: Mapping[str, int], as_of: int,
    ) -> None:
        """
        Count every view whose stable fields differ; views a push, another REST read or a
        write changed meanwhile are skipped (the copy may be newer than this REST read).
        """
        copy = self.copy
        differ: list[str] = []
        if self.touched["accounts"] == before["accounts"]:
            rest = [i for i in balance.data if isinstance(i, Mapping)]
            mine = copy.balance() or []
            if _cash(rest) != _cash(mine):
                differ.append("accounts")
        if self.touched["positions"] == before["positions"]:
            rest_pos = [i for i in positions.data if isinstance(i, Mapping)]
            if _holdings(rest_pos) != _holdings(copy.position_items()):
                differ.append("positions")
        if self.touched["orders"] == before["orders"]:
            # An order updated within OKX's read-after-write lag may not show in REST yet
            # (or show its state before): the copy is ahead there, not wrong.
            young = {
                str(item.get("ordId")) for item in (*copy.orders.values(),
                                                    *copy.finished.values())
                if stamp(item) > as_of - READ_LAG_MS
            }
            rest_orders = [i for i in orders.items
                           if isinstance(i, Mapping) and str(i.get("ordId")) not in young]
            mine_orders = [i for i in copy.open_orders() if str(i.get("ordId")) not in young]
            if _order_states(rest_orders) != _order_states(mine_orders):
                differ.append("orders")
        for view in differ:
            self.owner.stats.difference(view)
        if differ:
            log.warn(
                "private stream for {key}: the copy differed from REST in {views}; re-seeded",
                key=self.fingerprint, views=", ".join(differ),
            )

    def tick(self, now: float) -> None:
        """Housekeeping, a few times a second: retries, timeouts, heartbeat, writes, checks."""
        if self.state == "refused" and now >= self.retry_at:
            self.refused = None
            self.start()
        elif self.state == "seed failed" and now >= self.retry_at:
            self._seed()
        elif self.state == "subscribing" and self.acked >= set(_CHANNEL_VIEW) and (
            self._busy is None
        ):
            self._seed()  # acknowledged while the last connection's reads were finishing
        elif self.state in ("logging in", "subscribing") and (
            now - self.opened_at > SETUP_TIMEOUT
        ):
            log.warn(
                "private stream for {key}: not {what} {timeout:g} s after connecting; "
                "reconnecting", key=self.fingerprint,
                what="logged in" if self.state == "logging in" else "subscribed",
                timeout=SETUP_TIMEOUT,
            )
            self.opened_at = now
            self.connection.drop()
        elif self.state == "live":
            heard = self.connection.last_inbound or 0.0
            if now - self.last_used < ACTIVE and now - heard > self.owner.freshness / 2:
                # A key in use keeps its heartbeat fresh, so its next read finds it so.
                self.connection.ping_now()
            late = [b for b in self.barriers if now - b.reread > self.owner.settle]
            if late:
                # Only the views still waiting: a write that moved no position costs no
                # positions read.
                self._seed("reseed", frozenset(view for b in late for view in b.views))
            elif now >= self.next_reconcile:
                self.next_reconcile = now + self.owner.reconcile_every
                self._seed("reconcile")

    # -- reads -----------------------------------------------------------------------------

    def unusable(self, view: str, ord_id: str | None = None) -> str | None:
        """Why ``view`` cannot be answered from the copy now, or ``None`` when it can."""
        if self.state != "live":
            return self.state.replace(" ", "_")
        connection = self.connection
        if not connection.logged_in:
            return "connecting"
        now = self.clock.seconds()
        heard = connection.last_inbound or 0.0
        freshness = self.owner.freshness
        if now - heard > freshness / 2:
            connection.ping_now()
        if now - heard > freshness:
            return "stale"
        for barrier in self.barriers:
            if view in barrier.views and (
                ord_id is None or barrier.ord_id in (None, ord_id)
            ):
                return "write"
        return None

    def _cancelled(self, started: int) -> set[str]:
        """The orders cancelled by writes that returned before a REST read began."""
        return {
            barrier.ord_id for barrier in self.barriers
            if barrier.final and barrier.ord_id and barrier.seq <= started
        }

    def _rest_read(self, views: Iterable[str], started: int) -> None:
        """
        REST answered ``views`` with a read that started when ``started`` writes had
        returned (:attr:`PrivateSessions.write_seq`): it shows those; lift their barriers.
        """
        wanted = set(views)
        now = self.clock.seconds()
        for barrier in self.barriers:
            if barrier.seq <= started:
                shown = set(wanted)
                if (
                    "orders" in shown and barrier.ord_id and not barrier.final
                    and self.copy.order(barrier.ord_id) is None
                    and now - barrier.returned < READ_LAG_MS / 1000
                ):
                    # OKX's open-order list may not show an order placed moments ago
                    # (its read-after-write lag), and a session that subscribed after
                    # the order was placed gets no push for it: REST answers the orders
                    # until the copy has it, re-read once per settle period, at most
                    # for the lag (an order filled at once is never listed).
                    shown.discard("orders")
                    barrier.reread = now
                barrier.views -= shown
        self.barriers = [barrier for barrier in self.barriers if barrier.views]

    def rest_balance(self, reply: OkxReply, started: int) -> None:
        if self.state != "live":
            return
        items = [item for item in reply.data if isinstance(item, Mapping)]
        if items:
            self.touched["accounts"] += 1
            self.copy.seed_account(items[0])
            self._rest_read(("accounts",), started)

    def rest_positions(self, reply: OkxReply, started: int, as_of: int,
                       whole: bool) -> None:
        if self.state != "live":
            return
        items = [item for item in reply.data if isinstance(item, Mapping)]
        self.touched["positions"] += 1
        if whole:
            self.copy.seed_positions(items, as_of)
            self._rest_read(("positions",), started)
        else:
            self.copy.apply_positions(items)

    def rest_orders(self, walk: PageWalk, started: int, as_of: int, whole: bool) -> None:
        if self.state != "live":
            return
        items = [item for item in walk.items if isinstance(item, Mapping)]
        self.touched["orders"] += 1
        if whole:
            self.copy.seed_orders(items, as_of, self._cancelled(started))
            self._rest_read(("orders",), started)
        else:
            for item in items:
                self.copy.apply_order(item)

    def rest_order(self, reply: OkxReply, started: int) -> None:
        if self.state != "live":
            return
        self.touched["orders"] += 1
        for item in reply.data:
            if isinstance(item, Mapping):
                self.copy.apply_order(item)
        self._check_barriers()

    # -- writes ----------------------------------------------------------------------------

    def wrote(self, views: set[str], ts_ms: int, ord_id: str | None, final: bool) -> None:
        """A write OKX answered (see :meth:`PrivateSessions.wrote_order`)."""
        if self.state in ("refused", "closed"):
            return
        self.owner.write_seq += 1
        for view in views:
            self.touched[view] += 1
        self.barriers.append(_Barrier(
            set(views), ts_ms, self.clock.seconds(), self.owner.write_seq, ord_id, final
        ))
        self._check_barriers()

    def _check_barriers(self) -> None:
        # Stamped strictly after the write: OKX's times are milliseconds, and a push made
        # in the write's own millisecond may have been made just before it.
        for barrier in self.barriers:
            if "accounts" in barrier.views and self.account_heard_ms > barrier.ts_ms:
                barrier.views.discard("accounts")
            if "positions" in barrier.views and self.positions_heard_ms > barrier.ts_ms:
                barrier.views.discard("positions")
            if "orders" in barrier.views and barrier.ord_id:
                order = self.copy.order(barrier.ord_id)
                if order is not None and (
                    not barrier.final or order.get("state") in FINAL
                    or stamp(order) > barrier.ts_ms
                ):
                    barrier.views.discard("orders")
        self.barriers = [barrier for barrier in self.barriers if barrier.views]


def _cash(items: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for item in items:
        for detail in item.get("details") or []:
            if isinstance(detail, Mapping):
                found[str(detail.get("ccy"))] = (
                    _norm(detail.get("cashBal")), _norm(detail.get("frozenBal"))
                )
    return found


def _holdings(items: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], tuple[str, ...]]:
    return {
        (str(i.get("instId")), str(i.get("mgnMode")), str(i.get("posSide"))): (
            _norm(i.get("pos")), _norm(i.get("avgPx")), _norm(i.get("lever")),
            _norm(i.get("availPos")),
        )
        for i in items
    }


def _order_states(items: Iterable[Any]) -> dict[str, tuple[str, ...]]:
    return {
        str(i.get("ordId")): (str(i.get("state")), _norm(i.get("accFillSz")),
                              _norm(i.get("sz")), _norm(i.get("px")))
        for i in items if isinstance(i, Mapping)
    }


def _norm(value: Any) -> str:
    text = "" if value is None else str(value)
    try:
        return str(Decimal(text).normalize()) if text else ""
    except InvalidOperation:
        return text
