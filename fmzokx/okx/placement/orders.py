# -*- test-case-name: tests.fmz.test_order_safety -*-
"""
Placing an order exactly once, and always learning what happened.

Three mechanisms (the "bars to beat" 1-4 of the project's reliability research):

1. Every order carries a ``clOrdId`` derived from the docker's request (the opaque
   :class:`RequestOrigin` the FMZ side builds, see :func:`client_order_id`), so the same
   request maps to the same id. Its
   intent is committed to the order journal (:mod:`fmzokx.journal`) before the POST
   and its outcome after, so a repeat is answered from the journal without a second POST
   -- after a restart too, whatever state the order has reached since -- and a repeat
   racing the first waits for the first's outcome. No journal that can be written, no
   order.
2. Every order carries an ``expTime`` header (OKX's clock + :attr:`OrderPlacer.ttl`):
   OKX drops a request that arrives after it, so "not found after expTime" is a definite
   "not placed" rather than a guess.
3. An ambiguous outcome (timeout, dropped connection, 5xx, unparsable reply, 50004,
   50013, 51149) is reconciled by querying the order by ``clOrdId`` until it is found
   or ``expTime`` plus a margin has passed on OKX's clock. 51016 (duplicate clOrdId)
   means the first attempt landed: it is looked up, not reported as an error. An order
   still unknown when the request must answer, or found in the journal without an
   outcome after a restart, goes on being reconciled in the background
   (:mod:`fmzokx.okx.placement.reconcile`) until OKX answers.

OKX's clock can step between two syncs, and both decisions above rest on it. An order
refused as expired on arrival (50036/50037: not placed) is sent once more, with the same
``clOrdId``, after measuring OKX's clock, with an ``expTime`` on the corrected clock.
"Not placed" is concluded only from a query sent right after measuring OKX's clock, never
on an offset measured before the order was sent: after a step backwards the order may
still arrive in time. Everything a placement does -- the POST, a resend, the clock
measurements, the queries and the waits between them -- ends by one moment,
:attr:`~fmzokx.okx.bounds.AnswerBounds.placement` after it began.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Protocol

from attrs import define, evolve, field, frozen
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from fmzokx.deferreds import Deadline, SingleFlight, sleep, with_deadline
from fmzokx.journal import Journal, JournalUnavailable, OrderEntry, OrderRecord
from fmzokx.journal.records import UNKNOWN
from fmzokx.logs import logger
from fmzokx.okx import bounds, codes
from fmzokx.okx.bounds import AnswerBounds
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.endpoints import ORDER_DETAILS, PLACE_ORDER, TIME
from fmzokx.okx.errors import OkxApiError, OkxError, OkxTimeout
from fmzokx.okx.placement.reconcile import Reconciler, reply_text
from fmzokx.okx.rest.client import OkxClient

__all__ = [
    "AMBIGUOUS_CODES",
    "OrderNotPlaced",
    "OrderOutcomeUnknown",
    "OrderPlacer",
    "Placed",
    "RequestOrigin",
    "client_order_id",
]

AMBIGUOUS_CODES = codes.OUTCOME_UNKNOWN
"""OKX codes that refuse to say whether the order was processed."""

log = logger(__name__)


class OrderOutcomeUnknown(OkxError):
    """
    OKX could not be reached for long enough to learn whether an order exists.

    :ivar inst_id: the order's instrument.
    :ivar cl_ord_id: its ``clOrdId``, by which it can be looked up in any state.
    """

    def __init__(self, message: str, *, inst_id: str = "", cl_ord_id: str = "") -> None:
        super().__init__(message, path=PLACE_ORDER.path, outcome_unknown=True)
        self.inst_id = inst_id
        self.cl_ord_id = cl_ord_id


class OrderNotPlaced(OkxError):
    """Reconciliation proved that OKX never took the order: placing it again is safe."""

    def __init__(self, message: str) -> None:
        super().__init__(message, path=PLACE_ORDER.path)


class RequestOrigin(Protocol):
    """
    The request an order answers, as the FMZ side identifies it (its
    ``fmzokx.fmz.identity.RequestIdentity``); opaque to this side.

    :ivar token: bytes that tell this request from every other of the same API key, or
        ``None`` when it cannot be told from a repeat (each order gets a fresh id).
    :ivar nonce: kept in the order journal for the audit.
    :ivar fingerprint: kept in the order journal for the audit.
    """

    @property
    def token(self) -> bytes | None: ...

    @property
    def nonce(self) -> int | None: ...

    @property
    def fingerprint(self) -> str: ...


def client_order_id(credentials: Credentials, token: bytes | None) -> str:
    """
    The ``clOrdId`` for one request: 32 hex characters (OKX allows 32 alphanumerics).

    Stable for the same key and ``token`` (so a repeated request maps to the same id),
    distinct otherwise; a fresh random id without a token. The hash frames the token
    after the API key as it always has (a JSON array), so a repeated request finds the
    clOrdId an earlier version gave it in the journal.
    """
    if token is None:
        return os.urandom(16).hex()
    key = json.dumps(credentials.key, ensure_ascii=True).encode("ascii")
    return hashlib.sha256(b"[" + key + b"," + token + b"]").hexdigest()[:32]


@frozen
class Placed:
    """A placed order: its OKX id and the payload(s) that proved it."""

    inst_id: str
    ord_id: str
    cl_ord_id: str
    raw: Any
    reconciled: bool = False


def _stored_reply(entry: OrderEntry) -> Any:
    """The OKX reply the journal kept for an order, or a note that it has none."""
    if entry.reply:
        try:
            return json.loads(entry.reply)
        except ValueError:
            pass
    return {"clOrdId": entry.cl_ord_id, "ordId": entry.ord_id, "source": "fmzokx order journal"}


def _outcome_not_written(failure: Failure) -> None:
    log.error("could not record an order outcome in the journal: {error}",
              error=str(failure.value))


def refused_as_expired(error: Exception) -> bool:
    """Whether OKX refused an order because it arrived after its ``expTime``: not placed."""
    if not isinstance(error, OkxApiError):
        return False
    return error.code in codes.EXPIRED_ON_ARRIVAL or any(
        item.code in codes.EXPIRED_ON_ARRIVAL for item in error.items
    )


def is_ambiguous(error: Exception) -> bool:
    """
    Whether a failed POST may still have been processed by OKX: the client says the
    outcome is unknown (a timeout, a lost connection, any reply that is not OKX's envelope
    -- an edge's HTML 403 or empty 429 included), or OKX's code says so.
    """
    if isinstance(error, OkxError) and error.outcome_unknown:
        return True
    if isinstance(error, OkxApiError):
        if error.code in AMBIGUOUS_CODES or error.http_status >= 500:
            return True
        return any(item.code in AMBIGUOUS_CODES for item in error.items)
    return False


@define
class OrderPlacer:
    """
    Places orders with the guarantees in the module docstring.

    :ivar ttl: seconds an order request stays valid at OKX (``expTime``).
    :ivar margin: extra seconds past ``expTime`` before "not found" is definite (OKX's
        read-after-write lag).
    :ivar poll_interval: first wait between reconciliation queries (doubles, capped).
    :ivar give_up_after: seconds past the definite point after which an unreachable OKX
        makes the answer "outcome unknown" (every RPC answers in bounded time; see
        :attr:`bounds`).
    :ivar memory_size: how many recent placements are also remembered in memory without
        a journal (tools and tests: memory is then all there is).
    :ivar journalled_memory_size: how many with a journal, which answers every older
        repeat: memory only spares the docker's immediate retry a read, and a long run
        holds a thousand replies, not a cache that fills for hours.
    :ivar metrics: where reconciliation outcomes are counted (a
        :class:`~fmzokx.metrics.Metrics`), or ``None``.
    :ivar journal: the order journal (see :meth:`attach`); ``None`` only in tests and
        tools that place orders without one.
    :ivar require_journal: refuse orders while :attr:`journal` is ``None`` (the daemon
        sets it, so a journal that failed to open can never mean "no journal").
    """

    client: OkxClient
    clock: IReactorTime
    ttl: float = bounds.TTL
    margin: float = bounds.MARGIN
    poll_interval: float = 0.25
    give_up_after: float = bounds.GIVE_UP
    memory_size: int = 10_000
    journalled_memory_size: int = 1_000
    metrics: Any = None
    journal: Journal | None = None
    require_journal: bool = False
    reconciler: Reconciler | None = field(default=None, init=False)
    # Repeats answered from memory: each order's reply kept as its JSON text, a fifth of
    # the parsed envelope's size (10,000 parsed ones held ~30 MB, filling at the pace of
    # the orders: a soak read it as a leak; with a journal only a thousand are kept).
    _recent: OrderedDict[str, tuple[Placed, str | None]] = field(
        factory=OrderedDict, init=False
    )
    _placing: SingleFlight[str, Placed] = field(factory=SingleFlight, init=False)
    reconciliations: dict[str, int] = field(factory=dict, init=False)

    @property
    def bounds(self) -> AnswerBounds:
        """The answer bounds placements keep, for the client's ``--timeout``."""
        return AnswerBounds(self.client.timeout, self.ttl, self.margin, self.give_up_after)

    def attach(self, journal: Journal) -> Reconciler:
        """Journal every order from now on; the reconciler settles what stays unknown."""
        self.journal = journal
        # Every journal write or read a call waits for has a deadline inside its bound.
        journal.deadline = self.bounds.journal
        self.reconciler = Reconciler(
            client=self.client, clock=self.clock, journal=journal, margin=self.margin,
            ttl=self.ttl, latest_send=self.bounds.placement,
        )
        return self.reconciler

    async def place(
        self,
        credentials: Credentials,
        body: dict[str, Any],
        cl_ord_id: str,
        *,
        nonce: int | None = None,
        request_fp: str = "",
    ) -> Placed:
        """
        Place the order in ``body`` (``clOrdId`` is added) exactly once.

        :param nonce: the docker's nonce and ``request_fp`` a hash of its method and
            params, kept in the journal for the audit.
        :raises OkxApiError: OKX refused it (definitely not placed; ``sCode``/``sMsg``).
        :raises OrderNotPlaced: definitely not placed after reconciliation, or the
            journal cannot record it (nothing was sent).
        :raises OrderOutcomeUnknown: OKX unreachable through the whole window.
        """
        key = f"{credentials.fingerprint}:{cl_ord_id}"
        known = self._recent.get(key)
        if known is not None:
            log.info("repeated order request {cl_ord_id} answered from memory",
                     cl_ord_id=cl_ord_id)
            placed, raw_text = known
            return placed if raw_text is None else evolve(placed, raw=json.loads(raw_text))
        body = dict(body, clOrdId=cl_ord_id)
        # A repeat racing the first waits for its outcome; a caller that goes away
        # (its docker dropped the connection) cannot cancel the placement for the others.
        return await self._placing.run(
            key, lambda: self._place_and_remember(key, credentials, body, nonce, request_fp)
        )

    async def _place_and_remember(
        self, key: str, credentials: Credentials, body: dict[str, Any], nonce: int | None,
        request_fp: str,
    ) -> Placed:
        if self.journal is not None:
            placed = await self._place_journalled(
                self.journal, credentials, body, nonce, request_fp
            )
        elif self.require_journal:
            raise OrderNotPlaced(
                "order not placed: the order journal is not open; orders are refused "
                "without it"
            )
        else:
            placed = await self._place_once(credentials, body, str(body["clOrdId"]))
        self._remember(key, placed)
        return placed

    def _remember(self, key: str, placed: Placed) -> None:
        try:
            raw_text: str | None = json.dumps(placed.raw, separators=(",", ":"))
        except (TypeError, ValueError):
            raw_text = None  # not plain JSON: kept as it is
        self._recent[key] = (placed if raw_text is None else evolve(placed, raw=None), raw_text)
        limit = self.memory_size if self.journal is None else self.journalled_memory_size
        while len(self._recent) > limit:
            self._recent.popitem(last=False)

    async def _place_journalled(
        self,
        journal: Journal,
        credentials: Credentials,
        body: dict[str, Any],
        nonce: int | None,
        request_fp: str,
    ) -> Placed:
        """Intent on disk, then the POST, then the outcome (the latter not waited for)."""
        key_fp = credentials.fingerprint
        cl_ord_id = str(body["clOrdId"])
        inst_id = str(body["instId"])
        # The placement's clock and the order's expTime start now, before the intent is
        # written: however long the journal takes, the order is answered within the
        # placement bound and can reach OKX only within its expTime of this moment (a
        # resend after a clock correction carries a later one; the reconciler allows
        # for it). A stalled disk can never send an order the docker has given up on.
        give_up_at = self.clock.seconds() + self.bounds.placement
        exp_time = int((self.client.server_time() + self.ttl) * 1000)
        record = OrderRecord.from_body(
            key_fp, body, nonce=nonce, request_fp=request_fp, exp_time=exp_time
        )
        try:
            fresh = await journal.record_order_intent(record)
        except JournalUnavailable as error:
            raise OrderNotPlaced(
                f"order not placed: {error}; it was not sent and never will be; new orders "
                "are refused until the journal can be written"
            ) from None
        if not fresh:
            return await self._from_journal(journal, credentials, inst_id, cl_ord_id)
        try:
            placed = await self._place_once(
                credentials, body, cl_ord_id, exp_time=exp_time, give_up_at=give_up_at
            )
        except OkxError as error:
            if is_ambiguous(error):
                self._note(journal.record_order_outcome(key_fp, cl_ord_id, UNKNOWN,
                                                        reason=str(error)))
                self._reconcile_later(credentials, inst_id, cl_ord_id, exp_time)
            else:
                self._note(journal.record_order_outcome(key_fp, cl_ord_id, "not_placed",
                                                        reason=str(error)))
            raise
        except BaseException:
            # Whatever went wrong, the POST may have left: let OKX say what happened.
            self._note(journal.record_order_outcome(key_fp, cl_ord_id, UNKNOWN,
                                                    reason="placement interrupted"))
            self._reconcile_later(credentials, inst_id, cl_ord_id, exp_time)
            raise
        self._note(journal.record_order_outcome(
            key_fp, cl_ord_id, "placed", ord_id=placed.ord_id, reply=reply_text(placed.raw)
        ))
        return placed

    async def _from_journal(
        self, journal: Journal, credentials: Credentials, inst_id: str, cl_ord_id: str
    ) -> Placed:
        """A request whose clOrdId the journal already holds: its outcome, or settle it."""
        try:
            entry = await journal.find_order(credentials.fingerprint, cl_ord_id)
        except JournalUnavailable as error:
            raise self._unknown(
                inst_id, cl_ord_id, f"the order journal cannot be read: {error}"
            ) from None
        exp_time: int | None = None
        if entry is not None:
            if entry.outcome == "placed" and entry.ord_id:
                log.info("repeated order request {cl_ord_id} answered from the order journal "
                         "({ord_id})", cl_ord_id=cl_ord_id, ord_id=entry.ord_id)
                return Placed(inst_id=entry.inst_id, ord_id=entry.ord_id, cl_ord_id=cl_ord_id,
                              raw=_stored_reply(entry), reconciled=entry.unknown_at is not None)
            if entry.outcome == "not_placed":
                raise OrderNotPlaced(
                    f"{entry.reason or 'order not placed'} (answered from the order journal)"
                )
            exp_time, inst_id = entry.exp_time, entry.inst_id
        # No outcome yet (sent before a restart), or unknown: ask OKX. (No entry at all
        # means it was pruned in between: do not guess either.)
        return await self._ask_okx(journal, credentials, inst_id, cl_ord_id, exp_time)

    async def _ask_okx(
        self, journal: Journal, credentials: Credentials, inst_id: str, cl_ord_id: str,
        exp_time: int | None,
    ) -> Placed:
        """
        A repeat of an order with no final outcome (sent before a restart, or unknown
        after an outage): look it up on OKX by ``clOrdId`` itself, now and every few
        seconds, rather than wait for the background lookup's next try (which backs off to
        30 s). Found: placed, at once. Absent: "not placed" only once no attempt of the
        first placement can still arrive (the reconciler's point, on a clock measured
        afresh). OKX unreachable through the placement bound: "unknown", and the
        background lookup goes on.
        """
        log.info("repeated order request {cl_ord_id}: no final outcome in the journal; "
                 "asking OKX", cl_ord_id=cl_ord_id)
        give_up_at = self.clock.seconds() + self.bounds.placement
        first_sent = self.client.server_time() if exp_time is None else exp_time / 1000 - self.ttl
        # The latest expTime any attempt of the first placement can have carried (a
        # resend within its bound): the same point the background reconciler waits for.
        latest_expiry = first_sent + self.bounds.placement
        key_fp = credentials.fingerprint
        try:
            placed = await self._reconcile(
                credentials, inst_id, cl_ord_id, latest_expiry, "lost", give_up_at
            )
        except OrderNotPlaced as error:
            self._note(journal.record_order_outcome(key_fp, cl_ord_id, "not_placed",
                                                    reason=str(error)))
            raise
        except OrderOutcomeUnknown:
            self._reconcile_later(credentials, inst_id, cl_ord_id, exp_time)
            raise
        self._note(journal.record_order_outcome(
            key_fp, cl_ord_id, "placed", ord_id=placed.ord_id, reply=reply_text(placed.raw)
        ))
        return placed

    def _unknown(self, inst_id: str, cl_ord_id: str, why: str) -> OrderOutcomeUnknown:
        return OrderOutcomeUnknown(
            f"order outcome unknown: clOrdId {cl_ord_id} on {inst_id}: {why}",
            inst_id=inst_id, cl_ord_id=cl_ord_id,
        )

    def _reconcile_later(
        self, credentials: Credentials, inst_id: str, cl_ord_id: str, exp_time: int | None
    ) -> None:
        if self.reconciler is not None:
            self.reconciler.watch_in_background(credentials, inst_id, cl_ord_id, exp_time)

    def _note(self, written: Deferred[bool]) -> None:
        """An outcome write nobody waits for: a failure is logged (the intent remains)."""
        written.addErrback(_outcome_not_written)

    async def _place_once(
        self,
        credentials: Credentials,
        body: dict[str, Any],
        cl_ord_id: str,
        *,
        exp_time: int | None = None,
        give_up_at: float | None = None,
    ) -> Placed:
        """
        POST the order and learn its outcome by ``give_up_at`` (default: the placement
        bound from now). The first attempt carries ``exp_time`` (ms on OKX's clock; default:
        now + ``ttl``), shifted only by a wait for its rate-limit slot.
        """
        inst_id = str(body["instId"])
        if give_up_at is None:
            give_up_at = self.clock.seconds() + self.bounds.placement
        resent = False
        while True:
            mark = self.client.clock_mark()
            if exp_time is not None and not resent:
                planned = str(exp_time)
            else:
                planned = str(int((self.client.server_time() + self.ttl) * 1000))
            sent: dict[str, str] = {}
            try:
                reply = await self.client.post(
                    PLACE_ORDER.path, body, credentials=credentials,
                    headers={"expTime": planned}, on_send=sent.update,
                )
            except OkxError as error:
                # A 50102 resend moved expTime by the clock correction: OKX judges that one.
                expires = int(sent.get("expTime", planned)) / 1000
                if refused_as_expired(error):
                    if not resent and await self._clock_moved(mark, give_up_at):
                        resent = True
                        log.warn(
                            "order {cl_ord_id} reached OKX after its expTime: OKX's clock "
                            "differs from the last estimate; sending it again on the "
                            "measured clock", cl_ord_id=cl_ord_id,
                        )
                        continue
                    raise OrderNotPlaced(
                        f"order not placed: OKX refused clOrdId {cl_ord_id} on {inst_id} as "
                        f"expired on arrival ({error}); it is safe to place it again"
                    ) from None
                if isinstance(error, OkxApiError) and any(
                    item.code == codes.DUPLICATE_CLORDID for item in error.items
                ):
                    log.info("clOrdId {cl_ord_id} already exists: looking it up",
                             cl_ord_id=cl_ord_id)
                    return await self._reconcile(
                        credentials, inst_id, cl_ord_id, expires, codes.DUPLICATE_CLORDID,
                        give_up_at,
                    )
                if not is_ambiguous(error):
                    raise
                log.warn("order {cl_ord_id} outcome unknown ({error}); reconciling",
                         cl_ord_id=cl_ord_id, error=str(error))
                return await self._reconcile(
                    credentials, inst_id, cl_ord_id, expires, "ambiguous", give_up_at
                )
            expires = int(sent.get("expTime", planned)) / 1000
            items = reply.items
            ord_id = str(items[0].data.get("ordId", "")) if items else ""
            if not ord_id:
                # A success envelope without an ordId is as good as no answer.
                return await self._reconcile(
                    credentials, inst_id, cl_ord_id, expires, "ambiguous", give_up_at
                )
            if self.metrics is not None:
                self.metrics.order_placed()
            return Placed(inst_id=inst_id, ord_id=ord_id, cl_ord_id=cl_ord_id, raw=reply.raw)

    async def _clock_moved(self, since: int, give_up_at: float) -> bool:
        """
        After OKX refused an order as expired: whether OKX's clock, measured now, leaves
        time to send it again and still reach its definite point before ``give_up_at``.
        """
        try:
            await self._measure_clock(since, give_up_at)
        except OkxError as error:
            log.warn("could not measure OKX's clock to resend an expired order: {error}",
                     error=str(error))
            return False
        needed = max(self.client.timeout, self.ttl + self.margin)
        return self.clock.seconds() + needed <= give_up_at

    async def _measure_clock(self, since: int, give_up_at: float) -> None:
        """
        Have OKX's clock measured after mark ``since`` (``OkxClient.sync_clock_since``),
        waiting no longer than ``--timeout`` and not past ``give_up_at``.

        :raises OkxError: when it cannot be measured in that time.
        """
        seconds = min(self.client.timeout, give_up_at - self.clock.seconds())
        if seconds <= 0:
            raise OkxTimeout("deadline", self.bounds.placement, path=ORDER_DETAILS.path)
        measuring: Deferred[float] = Deferred.fromCoroutine(self.client.sync_clock_since(since))
        await with_deadline(
            measuring, self.clock, seconds,
            lambda: OkxTimeout("total", seconds, path=TIME.path, method=TIME.method),
        )

    async def _reconcile(
        self,
        credentials: Credentials,
        inst_id: str,
        cl_ord_id: str,
        expires: float,
        reason: str,
        give_up_at: float,
    ) -> Placed:
        """
        Query by clOrdId until found, definitely absent, or ``give_up_at`` has come.

        "Definitely absent" is a 51603 to a query sent when OKX's clock, measured just
        before it, was past ``expires`` plus the margin: OKX drops an order arriving after
        its ``expTime``, and the margin covers its read-after-write lag.
        """
        definite_after = expires + self.margin
        queries = Deadline(give_up_at, self.bounds.placement)
        wait = self.poll_interval
        last_error: Exception | None = None
        measured = False
        while True:
            if self.clock.seconds() >= give_up_at:
                self._count("unknown")
                detail = f" (last error: {last_error})" if last_error is not None else ""
                raise OrderOutcomeUnknown(
                    f"order outcome unknown: could not confirm clOrdId {cl_ord_id} on {inst_id} "
                    f"with OKX{detail}; fmzokx keeps asking OKX in the background and records "
                    "the answer",
                    inst_id=inst_id, cl_ord_id=cl_ord_id,
                )
            asked_at = self.client.clock_mark()
            okx_time = self.client.server_time()
            on_fresh_clock, measured = measured, False
            try:
                reply = await self.client.get(
                    ORDER_DETAILS.path,
                    {"instId": inst_id, "clOrdId": cl_ord_id},
                    credentials=credentials,
                    deadline=queries,
                )
            except OkxApiError as error:
                last_error = None if error.code == codes.ORDER_NOT_FOUND else error
                if error.code == codes.ORDER_NOT_FOUND and okx_time >= definite_after:
                    if on_fresh_clock:
                        self._count("not-placed")
                        raise OrderNotPlaced(
                            f"order not placed: OKX has no order with clOrdId {cl_ord_id} on "
                            f"{inst_id} after its expTime passed ({reason} reply); it is safe "
                            "to place it again"
                        ) from None
                    # Past expTime on the last estimate of OKX's clock: measure the clock
                    # as it is now and ask once more before concluding anything.
                    try:
                        await self._measure_clock(asked_at, give_up_at)
                    except OkxError as sync_error:
                        last_error = sync_error
                    else:
                        measured = True
                        continue
            except OkxError as error:
                last_error = error
            else:
                found = [o for o in reply.data if isinstance(o, Mapping) and o.get("ordId")]
                if found:
                    self._count("found")
                    return Placed(
                        inst_id=inst_id,
                        ord_id=str(found[0]["ordId"]),
                        cl_ord_id=cl_ord_id,
                        raw=reply.raw,
                        reconciled=True,
                    )
            pause = min(wait, give_up_at - self.clock.seconds())
            if pause > 0:
                await sleep(self.clock, pause)
            wait = min(wait * 2, 2.0)

    def _count(self, outcome: str) -> None:
        self.reconciliations[outcome] = self.reconciliations.get(outcome, 0) + 1
        if self.metrics is not None:
            self.metrics.count_reconciliation(outcome)
