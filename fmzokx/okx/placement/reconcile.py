# -*- test-case-name: tests.journal.test_placement,tests.fmz.test_order_safety -*-
"""
Settling orders whose outcome nobody knows, in the background, until OKX answers.

Two kinds of order end up here: those the order journal holds without an outcome when
the daemon starts (it died while they were in flight), and those whose placement
answered "outcome unknown" because OKX stayed unreachable through the request's own
reconciliation window. Each is looked up by ``clOrdId`` until OKX says where it is
(placed: recorded with its ``ordId``) or that it does not exist once its ``expTime`` has
passed (not placed: OKX drops a request that arrives later). The answer is written to the
journal and logged; a repeated request for the order waits for it, for a bounded time.

The daemon holds no credentials of its own: the docker sends them with every call. So
an order from before a restart is reconciled as soon as a call with its key arrives --
the repeated request itself, or any other call with that key -- using that call's
credentials, kept in memory only while the lookups run. Until then the journal lists it
as pending and the start-up log names how many wait for which key fingerprint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from attrs import define, field, frozen
from twisted.internet.defer import CancelledError, Deferred, ensureDeferred, fail
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from fmzokx.deferreds import SingleFlight, detached, sleep
from fmzokx.journal import Journal, JournalUnavailable, OrderEntry
from fmzokx.logs import logger
from fmzokx.okx import bounds, codes
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.endpoints import ORDER_DETAILS
from fmzokx.okx.errors import OkxApiError, OkxError
from fmzokx.okx.rest.client import OkxClient

__all__ = ["NotPlaced", "Reconciler", "SettledOrder", "reply_text"]

log = logger(__name__)


@frozen
class SettledOrder:
    """OKX has the order: its id and the reply that showed it."""

    inst_id: str
    ord_id: str
    cl_ord_id: str
    raw: Any


@frozen
class NotPlaced:
    """OKX has no such order and never will (its ``expTime`` has passed)."""

    reason: str


Settlement = SettledOrder | NotPlaced


def reply_text(raw: Any) -> str | None:
    """OKX's reply as JSON text for the journal (``None`` when it cannot be)."""
    try:
        return json.dumps(raw, separators=(",", ":"), sort_keys=True, default=str)
    except (TypeError, ValueError):
        return None


@define
class Reconciler:
    """
    When "not found" is final: OKX drops an order that arrives after its ``expTime``. The
    journal holds the ``expTime`` of an order's first attempt; a resend after a clock
    correction (see :mod:`fmzokx.okx.placement.orders`) carries a later one, but never later than
    the end of the placement, ``latest_send`` after the first attempt. So "not placed" is
    concluded from a 51603 to a query sent once OKX's clock -- measured afresh just
    before -- is past ``expTime - ttl + latest_send + margin``; never on an older estimate.

    :ivar margin: seconds past ``expTime`` before "not found" is final (OKX's
        read-after-write lag).
    :ivar ttl: the ``expTime`` allowance of the first attempt.
    :ivar latest_send: how long after its first attempt an order can still be sent (the
        placement bound).
    :ivar first_wait: seconds between the first lookups (doubling up to ``max_wait``).
    """

    client: OkxClient
    clock: IReactorTime
    journal: Journal
    margin: float = bounds.MARGIN
    ttl: float = bounds.TTL
    latest_send: float = 30.0
    first_wait: float = 0.5
    max_wait: float = 30.0
    _runs: SingleFlight[str, Settlement] = field(factory=SingleFlight, init=False)
    _tasks: dict[str, Deferred[Settlement]] = field(factory=dict, init=False)
    _awaiting_key: dict[str, dict[str, OrderEntry]] = field(factory=dict, init=False)
    _stopped: bool = field(default=False, init=False)

    async def load(self, limit: int = 100_000) -> int:
        """
        Read the journal's unresolved orders (at start-up); each is reconciled once a call
        with its key arrives. Returns how many there are.
        """
        entries = await self.journal.unresolved("order", limit)
        for entry in entries:
            if isinstance(entry, OrderEntry):
                self._awaiting_key.setdefault(entry.key_fp, {})[entry.cl_ord_id] = entry
        for key_fp, waiting in self._awaiting_key.items():
            log.warn(
                "order journal: {count} order(s) of {key} have no final outcome (sent before "
                "a restart, or OKX did not answer); they are looked up on OKX by clOrdId as "
                "soon as a call with that key arrives",
                count=len(waiting), key=key_fp,
            )
        return len(entries)

    @property
    def awaiting(self) -> int:
        """Unresolved orders still waiting for a call with their key."""
        return sum(len(waiting) for waiting in self._awaiting_key.values())

    def credentials_seen(self, credentials: Credentials) -> None:
        """A call with these credentials is being made: reconcile their key's orders."""
        if not self._awaiting_key:
            return
        waiting = self._awaiting_key.pop(credentials.fingerprint, None)
        for entry in (waiting or {}).values():
            self.watch_in_background(credentials, entry.inst_id, entry.cl_ord_id, entry.exp_time)

    def watch_in_background(
        self, credentials: Credentials, inst_id: str, cl_ord_id: str, exp_time: int | None
    ) -> None:
        """:meth:`watch` with nobody waiting: the outcome goes to the journal and the log."""
        self.watch(credentials, inst_id, cl_ord_id, exp_time).addErrback(
            self._unwatched_failure, cl_ord_id
        )

    def _unwatched_failure(self, failure: Failure, cl_ord_id: str) -> None:
        if not failure.check(CancelledError):
            log.failure("reconciling order {cl_ord_id} failed", failure, cl_ord_id=cl_ord_id)

    def watch(
        self, credentials: Credentials, inst_id: str, cl_ord_id: str, exp_time: int | None
    ) -> Deferred[Settlement]:
        """
        Reconcile one order in the background (or join the run already doing it). The
        Deferred fires with the settlement; cancelling it does not stop the run.
        """
        if self._stopped:
            return fail(CancelledError("the daemon is stopping"))
        key = f"{credentials.fingerprint}:{cl_ord_id}"
        waiting = self._awaiting_key.get(credentials.fingerprint)
        if waiting is not None:
            waiting.pop(cl_ord_id, None)
            if not waiting:
                del self._awaiting_key[credentials.fingerprint]

        def start() -> Deferred[Settlement]:
            # The lookup outlives the docker call that may have started it: not under
            # that call's read deadline.
            task = detached(
                lambda: ensureDeferred(self._run(credentials, inst_id, cl_ord_id, exp_time))
            )
            self._tasks[key] = task
            task.addBoth(self._finished, key)
            return task

        return self._runs.run(key, start)

    def _finished(self, outcome: Any, key: str) -> Any:
        self._tasks.pop(key, None)
        return outcome

    async def _run(
        self, credentials: Credentials, inst_id: str, cl_ord_id: str, exp_time: int | None
    ) -> Settlement:
        key_fp = credentials.fingerprint
        first_sent = (
            self.client.server_time() if exp_time is None else exp_time / 1000 - self.ttl
        )
        definite_after = first_sent + self.latest_send + self.margin
        wait = self.first_wait
        attempts = 0
        on_fresh_clock = False
        while True:
            attempts += 1
            asked_at = self.client.clock_mark()
            past_definite = self.client.server_time() >= definite_after
            fresh, on_fresh_clock = on_fresh_clock, False
            try:
                reply = await self.client.get(
                    ORDER_DETAILS.path, {"instId": inst_id, "clOrdId": cl_ord_id},
                    credentials=credentials,
                )
            except OkxApiError as error:
                if error.code == codes.ORDER_NOT_FOUND and past_definite and not fresh:
                    # Past the point on the last estimate of OKX's clock: measure the
                    # clock as it is now and ask once more before concluding.
                    try:
                        await self.client.sync_clock_since(asked_at)
                    except OkxError as sync_error:
                        self._still_unknown(cl_ord_id, attempts, sync_error)
                    else:
                        on_fresh_clock = True
                        continue
                elif error.code == codes.ORDER_NOT_FOUND and past_definite:
                    reason = (
                        f"order not placed: OKX has no order with clOrdId {cl_ord_id} on "
                        f"{inst_id} after its expTime passed; it is safe to place it again"
                    )
                    await self._record(key_fp, cl_ord_id, "not_placed", reason=reason)
                    log.info("reconciled order {cl_ord_id} on {inst_id}: not placed",
                             cl_ord_id=cl_ord_id, inst_id=inst_id)
                    return NotPlaced(reason)
                if error.code != codes.ORDER_NOT_FOUND:
                    self._still_unknown(cl_ord_id, attempts, error)
            except OkxError as error:
                self._still_unknown(cl_ord_id, attempts, error)
            else:
                found = [o for o in reply.data if isinstance(o, Mapping) and o.get("ordId")]
                if found:
                    ord_id = str(found[0]["ordId"])
                    await self._record(
                        key_fp, cl_ord_id, "placed", ord_id=ord_id, reply=reply_text(reply.raw)
                    )
                    log.info(
                        "reconciled order {cl_ord_id} on {inst_id}: placed as {ord_id} "
                        "(state {state})",
                        cl_ord_id=cl_ord_id, inst_id=inst_id, ord_id=ord_id,
                        state=str(found[0].get("state", "")),
                    )
                    return SettledOrder(inst_id, ord_id, cl_ord_id, reply.raw)
            pause = wait
            until_definite = definite_after - self.client.server_time()
            if 0 < until_definite < pause:
                # Ask again as soon as "not found" can be final, not a long backoff later.
                pause = max(until_definite, self.first_wait)
            await sleep(self.clock, pause)
            wait = min(wait * 2, self.max_wait)

    def _still_unknown(self, cl_ord_id: str, attempts: int, error: Exception) -> None:
        # Loud at first, then once in a while: OKX may stay away for a long time.
        if attempts <= 3 or attempts % 20 == 0:
            log.warn("order {cl_ord_id} still unknown after {attempts} lookup(s): {error}",
                     cl_ord_id=cl_ord_id, attempts=attempts, error=str(error))

    async def _record(self, key_fp: str, cl_ord_id: str, outcome: str, **details: Any) -> None:
        try:
            await self.journal.record_order_outcome(key_fp, cl_ord_id, outcome, **details)
        except JournalUnavailable as error:
            # The answer still reaches the waiting request; the entry stays unresolved in
            # the file and is looked up again after the next start.
            log.error("could not record the outcome of order {cl_ord_id}: {error}",
                      cl_ord_id=cl_ord_id, error=str(error))

    def running(self, key_fp: str, cl_ord_id: str) -> bool:
        return self._runs.in_flight(f"{key_fp}:{cl_ord_id}")

    def stop(self) -> None:
        """Stop every background lookup (daemon shutdown); the journal keeps them pending."""
        self._stopped = True
        for task in list(self._tasks.values()):
            task.cancel()
