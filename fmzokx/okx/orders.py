# -*- test-case-name: tests.fmz.test_order_safety -*-
"""
Placing an order exactly once, and always learning what happened.

Three mechanisms (the "bars to beat" 1-4 of the project's reliability research):

1. Every order carries a ``clOrdId`` derived from the docker's request (its nonce and
   params, see :func:`client_order_id`), so the same request maps to the same id; a
   repeat within the journal's memory is answered from the journal without a second
   POST, and a repeat racing the first waits for the first's outcome.
2. Every order carries an ``expTime`` header (OKX's clock + :attr:`OrderPlacer.ttl`):
   OKX drops a request that arrives after it, so "not found after expTime" is a definite
   "not placed" rather than a guess.
3. An ambiguous outcome (timeout, dropped connection, 5xx, unparsable reply, 50004,
   50013, 51149) is reconciled by querying the order by ``clOrdId`` until it is found
   or ``expTime`` plus a margin has passed on OKX's clock. 51016 (duplicate clOrdId)
   means the first attempt landed: it is looked up, not reported as an error.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from attrs import define, field, frozen
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater

from fmzokx.logs import logger
from fmzokx.okx import codes
from fmzokx.okx.client import OkxClient
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.endpoints import ORDER_DETAILS, PLACE_ORDER
from fmzokx.okx.errors import OkxApiError, OkxError
from fmzokx.okx.singleflight import SingleFlight

__all__ = [
    "AMBIGUOUS_CODES",
    "OrderNotPlaced",
    "OrderOutcomeUnknown",
    "OrderPlacer",
    "Placed",
    "client_order_id",
]

AMBIGUOUS_CODES = codes.OUTCOME_UNKNOWN
"""OKX codes that refuse to say whether the order was processed."""

log = logger(__name__)


class OrderOutcomeUnknown(OkxError):
    """OKX could not be reached for long enough to learn whether an order exists."""

    def __init__(self, message: str) -> None:
        super().__init__(message, path=PLACE_ORDER.path, outcome_unknown=True)


class OrderNotPlaced(OkxError):
    """Reconciliation proved that OKX never took the order: placing it again is safe."""

    def __init__(self, message: str) -> None:
        super().__init__(message, path=PLACE_ORDER.path)


def client_order_id(
    credentials: Credentials, nonce: int | None, method: str, params: Mapping[str, Any]
) -> str:
    """
    The ``clOrdId`` for one docker request: 32 hex characters (OKX allows 32 alphanumerics).

    Stable for the same key, nonce and params (so a repeated request maps to the same id),
    distinct otherwise. Without a nonce two identical calls cannot be told from one call
    sent twice, so each gets a fresh random id.
    """
    if nonce is None:
        return os.urandom(16).hex()
    canonical = json.dumps(
        [credentials.key, nonce, method.lower(), {k: str(v) for k, v in params.items()}],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:32]


@frozen
class Placed:
    """A placed order: its OKX id and the payload(s) that proved it."""

    inst_id: str
    ord_id: str
    cl_ord_id: str
    raw: Any
    reconciled: bool = False


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
        makes the answer "outcome unknown" (every RPC answers in bounded time).
    :ivar journal_size: how many recent clOrdIds are remembered.
    :ivar metrics: where reconciliation outcomes are counted (a
        :class:`~fmzokx.metrics.Metrics`), or ``None``.
    """

    client: OkxClient
    clock: IReactorTime
    ttl: float = 5.0
    margin: float = 3.0
    poll_interval: float = 0.25
    give_up_after: float = 10.0
    journal_size: int = 10_000
    metrics: Any = None
    _journal: OrderedDict[str, Placed] = field(factory=OrderedDict, init=False)
    _placing: SingleFlight[str, Placed] = field(factory=SingleFlight, init=False)
    reconciliations: dict[str, int] = field(factory=dict, init=False)

    async def place(
        self, credentials: Credentials, body: dict[str, Any], cl_ord_id: str
    ) -> Placed:
        """
        Place the order in ``body`` (``clOrdId`` is added) exactly once.

        :raises OkxApiError: OKX refused it (definitely not placed; ``sCode``/``sMsg``).
        :raises OrderNotPlaced: definitely not placed after reconciliation.
        :raises OrderOutcomeUnknown: OKX unreachable through the whole window.
        """
        key = f"{credentials.fingerprint}:{cl_ord_id}"
        known = self._journal.get(key)
        if known is not None:
            log.info("repeated order request {cl_ord_id} answered from the journal",
                     cl_ord_id=cl_ord_id)
            return known
        # A repeat racing the first waits for its outcome; a caller that goes away
        # (its docker dropped the connection) cannot cancel the placement for the others.
        return await self._placing.run(
            key, lambda: self._place_and_remember(key, credentials, body, cl_ord_id)
        )

    async def _place_and_remember(
        self, key: str, credentials: Credentials, body: dict[str, Any], cl_ord_id: str
    ) -> Placed:
        placed = await self._place_once(credentials, dict(body, clOrdId=cl_ord_id), cl_ord_id)
        self._remember(key, placed)
        return placed

    def _remember(self, key: str, placed: Placed) -> None:
        self._journal[key] = placed
        while len(self._journal) > self.journal_size:
            self._journal.popitem(last=False)

    async def _place_once(
        self, credentials: Credentials, body: dict[str, Any], cl_ord_id: str
    ) -> Placed:
        inst_id = str(body["instId"])
        offset = self.client.clock_offset
        expires = self.client.server_time() + self.ttl
        headers = {"expTime": str(int(expires * 1000))}
        try:
            reply = await self.client.post(
                PLACE_ORDER.path, body, credentials=credentials, headers=headers
            )
        except OkxApiError as error:
            # A 50102 resend moves expTime by the clock correction; follow it.
            expires += self.client.clock_offset - offset
            if any(item.code == codes.DUPLICATE_CLORDID for item in error.items):
                log.info("clOrdId {cl_ord_id} already exists: looking it up",
                         cl_ord_id=cl_ord_id)
                return await self._reconcile(
                    credentials, inst_id, cl_ord_id, expires, codes.DUPLICATE_CLORDID
                )
            if not is_ambiguous(error):
                raise
            log.warn("order {cl_ord_id} outcome unknown ({error}); reconciling",
                     cl_ord_id=cl_ord_id, error=str(error))
            return await self._reconcile(credentials, inst_id, cl_ord_id, expires, "ambiguous")
        except OkxError as error:
            expires += self.client.clock_offset - offset
            if not is_ambiguous(error):
                raise
            log.warn("order {cl_ord_id} outcome unknown ({error}); reconciling",
                     cl_ord_id=cl_ord_id, error=str(error))
            return await self._reconcile(credentials, inst_id, cl_ord_id, expires, "ambiguous")
        expires += self.client.clock_offset - offset
        items = reply.items
        ord_id = str(items[0].data.get("ordId", "")) if items else ""
        if not ord_id:
            # A success envelope without an ordId is as good as no answer.
            return await self._reconcile(credentials, inst_id, cl_ord_id, expires, "ambiguous")
        return Placed(inst_id=inst_id, ord_id=ord_id, cl_ord_id=cl_ord_id, raw=reply.raw)

    async def _reconcile(
        self,
        credentials: Credentials,
        inst_id: str,
        cl_ord_id: str,
        expires: float,
        reason: str,
    ) -> Placed:
        """Query by clOrdId until found, definitely absent, or OKX stays unreachable."""
        definite_after = expires + self.margin
        started = self.clock.seconds()
        wait = self.poll_interval
        last_error: Exception | None = None
        while True:
            try:
                reply = await self.client.get(
                    ORDER_DETAILS.path,
                    {"instId": inst_id, "clOrdId": cl_ord_id},
                    credentials=credentials,
                )
            except OkxApiError as error:
                if error.code != codes.ORDER_NOT_FOUND:
                    last_error = error
                elif self.client.server_time() >= definite_after:
                    self._count("not-placed")
                    raise OrderNotPlaced(
                        f"order not placed: OKX has no order with clOrdId {cl_ord_id} on "
                        f"{inst_id} after its expTime passed ({reason} reply); it is safe to "
                        "place it again"
                    ) from None
                else:
                    last_error = None
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
            if self.clock.seconds() - started > (definite_after - expires) + self.ttl + (
                self.give_up_after
            ):
                self._count("unknown")
                detail = f": last error {last_error}" if last_error is not None else ""
                raise OrderOutcomeUnknown(
                    f"order outcome unknown: could not confirm clOrdId {cl_ord_id} on {inst_id} "
                    f"with OKX{detail}"
                )
            await deferLater(self.clock, wait, lambda: None)
            wait = min(wait * 2, 2.0)

    def _count(self, outcome: str) -> None:
        self.reconciliations[outcome] = self.reconciliations.get(outcome, 0) + 1
        if self.metrics is not None:
            self.metrics.count_reconciliation(outcome)
