# -*- test-case-name: tests.okx.test_domain -*-
"""
OKX's trade calls: build and place an order, read orders, walk order history, cancel.

The order body (``tdMode``, ``posSide`` or ``reduceOnly``, ``ordType``, ``px``, ``sz``,
``tgtCcy``) is built here from an :class:`OrderIntent`, which says what the strategy wants
in exchange-neutral terms; placement goes through :class:`~fmzokx.okx.placement.orders.OrderPlacer`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal

from attrs import field, frozen
from twisted.internet.defer import Deferred

from fmzokx.deferreds import sleep
from fmzokx.journal import CancelRecord
from fmzokx.logs import logger
from fmzokx.okx import codes
from fmzokx.okx.account import LONG_SHORT_MODE, AccountCalls
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.endpoints import (
    CANCEL_ORDER,
    ORDER_DETAILS,
    ORDERS_ARCHIVE,
    ORDERS_HISTORY,
    ORDERS_PENDING,
)
from fmzokx.okx.errors import OkxApiError, OkxError
from fmzokx.okx.instruments import Instrument, InstrumentCache, inst_type_of
from fmzokx.okx.placement import writes
from fmzokx.okx.placement.orders import (
    OrderPlacer,
    Placed,
    RequestOrigin,
    client_order_id,
    is_ambiguous,
)
from fmzokx.okx.placement.recent import RecentPlacements
from fmzokx.okx.records import Fetched, OrderRecord, Paged, parse_items
from fmzokx.okx.rest.client import OkxClient, OkxReply, PageWalk
from fmzokx.okx.rest.pagination import page_failed
from fmzokx.okx.sizing import InvalidOrder, size_order
from fmzokx.okx.stream.privatesessions import PrivateSessions

__all__ = [
    "CancelOutcome",
    "OrderIntent",
    "OrderMissing",
    "TradeCalls",
    "newest_first",
]

SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000
HISTORY_PAGE = 100
FINAL_STATES = frozenset({"filled", "canceled", "mmp_canceled"})
"""OKX order states after which nothing more happens to an order."""
#: Instrument states in which OKX takes no orders, and what they mean.
#: how many times a cancel refused as "already final" is sent again while the order
#: reads as live (OKX's 51400 for an order it cannot see yet)
_CANCEL_RESENDS = 4

#: Instrument states in which OKX takes no order ("Public Data > Get instruments",
#: ``state``), refused here without a round trip; ``post_only`` takes only post-only
#: orders, which FMZ's ``Buy``/``Sell`` never are.
NOT_TRADING = {
    "suspend": "trading is suspended",
    "preopen": "not trading yet",
    "test": "a test instrument, which cannot be traded",
    "rebase": "no orders are taken while it is being rebased",
    "settling": "no orders are taken while it is settling",
    "post_only": "only post-only orders are taken now, and FMZ's orders are limit or market",
}
log = logger(__name__)


def newest_first(orders: Iterable[OrderRecord]) -> list[OrderRecord]:
    """Orders sorted newest first (by creation time, then OKX's order id)."""
    return sorted(orders, key=lambda order: (order.c_time or 0, order.ord_id), reverse=True)


class OrderMissing(OkxError):
    """OKX has no such order (51603, or an empty reply)."""


@frozen
class OrderIntent:
    """
    One order as the strategy means it.

    :ivar side: ``buy`` or ``sell``.
    :ivar position: for contracts, the position side the order opens or closes
        (``long``/``short``); ``None`` for spot.
    :ivar closing: the order only reduces ``position``.
    :ivar margin_mode: ``cross``/``isolated`` for contracts (spot trades in cash).
    :ivar price: the limit price; zero or less for a market order.
    :ivar amount: base currency (spot), quote currency (spot market buy) or contracts.
    """

    side: Literal["buy", "sell"]
    price: Decimal
    amount: Decimal
    position: Literal["long", "short"] | None = None
    closing: bool = False
    margin_mode: str = "cross"


@frozen
class CancelOutcome:
    """
    What a cancel achieved.

    :ivar accepted: OKX took the cancel now.
    :ivar order: when OKX said the order was already final, the order as OKX reports it.
    :ivar raw: the envelope to pass on.
    :ivar cancelling: OKX said a cancel of this order is already under way (51410), so
        the order may still read as live.
    """

    accepted: bool
    order: OrderRecord | None
    raw: Any
    cancelling: bool = False


@frozen
class TradeCalls:
    """Signed trade calls over the one OKX client."""

    client: OkxClient
    account: AccountCalls
    placer: OrderPlacer
    #: refreshed when OKX's refusal says the instrument changed (suspended, new tick)
    instruments: InstrumentCache | None = None
    #: the private-stream copies answering orders when they can (``None``: always REST);
    #: told of every order placed and cancelled
    private: PrivateSessions | None = None
    #: the orders placed moments ago, which OKX's read-after-write lag may hide
    recent: RecentPlacements = field()

    @recent.default
    def _recent(self) -> RecentPlacements:
        return RecentPlacements(self.placer.clock)

    async def order_body(
        self, credentials: Credentials, instrument: Instrument, intent: OrderIntent,
        name: str = "",
    ) -> dict[str, Any]:
        """
        The ``/trade/order`` body for ``intent`` (without ``clOrdId``).

        :param name: how the strategy named the instrument, for error messages.
        :raises InvalidOrder: for a size or price OKX would refuse, or an instrument OKX
            lists as not trading.
        """
        if instrument.state in NOT_TRADING:
            raise InvalidOrder(
                f"{name or instrument.inst_id} cannot be traded now: OKX lists "
                f"{instrument.inst_id} as {instrument.state!r} ({NOT_TRADING[instrument.state]})"
            )
        body: dict[str, Any] = {"instId": instrument.inst_id, "side": intent.side}
        if instrument.inst_type == "SPOT":
            body["tdMode"] = "cash"
            quote_ccys = instrument.trade_quote_ccys
            if quote_ccys:
                # OKX requires it of users in some regions (51000 on every order
                # otherwise) and defaults to the pair's quote for everyone else.
                if instrument.quote not in quote_ccys:
                    raise InvalidOrder(
                        f"{name or instrument.inst_id} cannot be traded in "
                        f"{instrument.quote}: OKX lists it in {', '.join(quote_ccys)} only"
                    )
                body["tradeQuoteCcy"] = instrument.quote
        else:
            body["tdMode"] = intent.margin_mode
            if await self.account.position_mode(credentials) == LONG_SHORT_MODE:
                body["posSide"] = intent.position
            elif intent.closing:
                body["reduceOnly"] = True
        size = size_order(instrument, intent.side, intent.price, intent.amount, name)
        if size.px is None:
            body["ordType"] = "market"
        else:
            body["ordType"] = "limit"
            body["px"] = size.px
        body["sz"] = size.sz
        if size.tgt_ccy is not None:
            body["tgtCcy"] = size.tgt_ccy
        if instrument.inst_type == "SPOT" and size.px is None:
            # By default OKX shrinks a spot market order to the available balance and
            # fills the rest silently; a strategy that asked for an amount gets that
            # amount or a refusal (51008) it can see.
            body["banAmend"] = True
        return body

    async def place(
        self, credentials: Credentials, body: dict[str, Any], origin: RequestOrigin
    ) -> Placed:
        """
        Place a built order exactly once (see :class:`~fmzokx.okx.placement.orders.OrderPlacer`),
        with the ``clOrdId`` derived from the request it answers (``origin``).

        A refusal saying the instrument changed under us (suspended, not listed, its tick
        or lot size) refreshes that instrument type (throttled), so the next order is
        checked and sized on what OKX lists now.
        """
        cl_ord_id = client_order_id(credentials, origin.token)
        derivative = inst_type_of(str(body.get("instId", ""))) != "SPOT"
        try:
            placed = await self.placer.place(
                credentials, body, cl_ord_id, nonce=origin.nonce, request_fp=origin.fingerprint
            )
        except OkxApiError as error:
            refusals = {error.code, *(item.code for item in error.items)}
            inst_type = inst_type_of(str(body.get("instId", "")))
            if self.instruments is not None and inst_type and refusals & (
                codes.INSTRUMENT_CHANGED
            ):
                await self.instruments.refresh_soon(inst_type)
            if self.private is not None and error.outcome_unknown:
                self.private.wrote_unknown(credentials, derivative)
            raise
        except OkxError as error:
            if self.private is not None and error.outcome_unknown:
                self.private.wrote_unknown(credentials, derivative)
            raise
        self.recent.note(credentials.fingerprint, placed.inst_id, placed.ord_id, placed.cl_ord_id)
        if self.private is not None:
            self.private.wrote_order(credentials, placed.ord_id, placed.raw, derivative)
        return placed

    async def order(
        self, credentials: Credentials, inst_id: str, ord_id: str | None = None, *,
        cl_ord_id: str | None = None,
    ) -> Fetched[OrderRecord]:
        """
        One order's details, by its ``ordId`` or by the ``clOrdId`` the daemon gave it
        (which finds the order in any state, filled and cancelled included); at least one
        record.

        An order this daemon placed moments ago that OKX does not show yet (its
        read-after-write lag) is asked for again, briefly, and never reported missing
        while it may still appear (:mod:`fmzokx.okx.placement.recent`).

        :raises OrderMissing: when OKX has no such order.
        """
        which = _order_key(ord_id, cl_ord_id)
        pause = 0.1
        while True:
            try:
                return await self._order_once(credentials, inst_id, which)
            except OrderMissing:
                if not self.recent.placed_moments_ago(
                    credentials.fingerprint, inst_id, ord_id, cl_ord_id
                ):
                    raise
            await sleep(self.placer.clock, pause)
            pause = min(pause * 2, 1.0)

    async def _order_once(
        self, credentials: Credentials, inst_id: str, which: Mapping[str, str]
    ) -> Fetched[OrderRecord]:
        name = _order_name(inst_id, which)

        def fetch() -> Deferred[OkxReply]:
            return Deferred.fromCoroutine(self.client.get(
                ORDER_DETAILS.path, {"instId": inst_id, **which}, credentials=credentials
            ))

        try:
            if self.private is not None:
                reply = await self.private.order(
                    credentials, inst_id, which.get("ordId"), which.get("clOrdId"), fetch
                )
            else:
                reply = await fetch()
        except OkxApiError as error:
            if error.code == codes.ORDER_NOT_FOUND:
                raise OrderMissing(
                    f"{name} does not exist (OKX {codes.ORDER_NOT_FOUND})",
                    path=ORDER_DETAILS.path,
                ) from None
            raise
        orders = parse_items(OrderRecord.from_okx, reply.data)
        if not orders:
            raise OrderMissing(
                f"{name} does not exist (OKX returned no order)",
                path=ORDER_DETAILS.path,
            )
        return Fetched(orders, reply.raw)

    async def open_orders(
        self, credentials: Credentials, *, inst_type: str | None = None,
        inst_id: str | None = None,
    ) -> Paged[OrderRecord]:
        """
        Every open order (all pages, newest first as OKX lists them), of one instrument,
        one ``instType`` or all.

        An order this daemon placed moments ago, before this call, that the list does not
        show yet (OKX's read-after-write lag) is read on its own and listed while it is
        open, so a strategy counting its open orders right after ``Buy`` does not place
        it again.
        """
        asked_at = self.placer.clock.seconds()
        params: dict[str, str] = {}
        if inst_type is not None:
            params["instType"] = inst_type
        if inst_id is not None:
            params["instId"] = inst_id

        def fetch() -> Deferred[PageWalk]:
            return Deferred.fromCoroutine(
                self.client.paginate(ORDERS_PENDING.path, params, credentials=credentials)
            )

        if self.private is not None:
            walk = await self.private.open_orders(credentials, inst_type, inst_id, fetch)
        else:
            walk = await fetch()
        listed = Paged(parse_items(OrderRecord.from_okx, walk.items), walk.pages)
        return await self._with_recent(credentials, listed, asked_at, inst_type, inst_id)

    async def _with_recent(
        self, credentials: Credentials, listed: Paged[OrderRecord], asked_at: float,
        inst_type: str | None, inst_id: str | None,
    ) -> Paged[OrderRecord]:
        """
        ``listed`` plus the open orders placed moments ago, by ``asked_at``, that it does
        not show yet (one placed while the list was being read is not added: the list
        answers for the moment it was asked, as OKX's own would).
        """
        key = credentials.fingerprint
        shown = {record.ord_id for record in listed.records}
        missing = [
            (placed_in, ord_id)
            for placed_in, ord_id in self.recent.recent_orders(key, placed_by=asked_at)
            if ord_id not in shown
            and (inst_id is None or placed_in == inst_id)
            and (inst_type is None or inst_type_of(placed_in) == inst_type)
        ]
        if not missing:
            return listed
        records, pages = list(listed.records), list(listed.pages)
        for placed_in, ord_id in missing:
            try:
                fetched = await self.order(credentials, placed_in, ord_id)
            except OrderMissing:
                continue
            record = fetched.records[0]
            if record.state in FINAL_STATES:
                self.recent.forget(key, placed_in, ord_id)
                continue
            records.append(record)
            pages.append(fetched.raw)
        return Paged(newest_first(records), pages)

    async def finished_orders(
        self,
        credentials: Credentials,
        *,
        inst_type: str,
        inst_id: str | None,
        since_ms: int,
        limit: int,
        wanted: set[str] | None,
    ) -> Paged[OrderRecord]:
        """
        Up to ``limit`` finished orders, newest first, from the 7-day history and then the
        3-month archive, and the envelopes of every page read.

        Every page shares the read deadline (:meth:`OkxClient.read_scope`).

        :param wanted: keep only these instIds (a range of instruments); ``None``: all.
        :raises OkxPaginationError: when a page fails or the deadline passes: the history
            would be incomplete.
        """
        with self.client.read_scope():
            return await self._finished_orders(
                credentials, inst_type=inst_type, inst_id=inst_id, since_ms=since_ms,
                limit=limit, wanted=wanted,
            )

    async def _finished_orders(
        self,
        credentials: Credentials,
        *,
        inst_type: str,
        inst_id: str | None,
        since_ms: int,
        limit: int,
        wanted: set[str] | None,
    ) -> Paged[OrderRecord]:
        params: dict[str, str] = {"instType": inst_type}
        if inst_id is not None:
            params["instId"] = inst_id
        if since_ms:
            params["begin"] = str(since_ms)
        collected: dict[str, OrderRecord] = {}
        pages: list[Mapping[str, Any]] = []
        now_ms = int(self.client.server_time() * 1000)
        for endpoint in (ORDERS_HISTORY, ORDERS_ARCHIVE):
            # The archive is walked from its newest order, not from where the history
            # stopped: the 7-day history also holds older orders completed in those days
            # (Order history, last 7 days), so its last ordId is no boundary; repeats are
            # dropped by ordId.
            after: str | None = None
            while len(collected) < limit:
                page_size = HISTORY_PAGE if wanted is not None else min(
                    HISTORY_PAGE, max(limit - len(collected), 1)
                )
                page_params = dict(params, limit=str(page_size))
                if after is not None:
                    page_params["after"] = after
                try:
                    reply = await self.client.get(
                        endpoint.path, page_params, credentials=credentials
                    )
                except OkxError as error:
                    raise page_failed(endpoint.path, error, pages, list(collected.values())) \
                        from error
                pages.append(reply.raw)
                rows = [r for r in parse_items(OrderRecord.from_okx, reply.data) if r.ord_id]
                for row in rows:
                    if wanted is None or row.inst_id in wanted:
                        collected.setdefault(row.ord_id, row)
                if not rows or len(rows) < page_size:
                    break
                cursor = rows[-1].ord_id
                if cursor == after:
                    raise OkxError(
                        f"OKX's {endpoint.path} cursor did not advance; refusing to loop",
                        path=endpoint.path,
                    )
                after = cursor
            if len(collected) >= limit or (since_ms and since_ms >= now_ms - SEVEN_DAYS_MS):
                break
        return Paged(newest_first(collected.values())[:limit], pages)

    async def cancel(
        self, credentials: Credentials, inst_id: str, ord_id: str | None = None, *,
        cl_ord_id: str | None = None,
    ) -> CancelOutcome:
        """
        Cancel one order, by ``ordId`` or ``clOrdId``. When OKX says it is already final,
        its state is read back so the caller can tell "already cancelled" from "already
        filled"; when OKX's answer is lost, what became of the order is found out
        (:meth:`_cancel_outcome_from_state`). Journalled (best effort, see
        :mod:`fmzokx.okx.placement.writes`).
        """
        which = _order_key(ord_id, cl_ord_id)
        journal = self.placer.journal
        entry = await writes.begin(journal, CancelRecord(
            credentials.fingerprint, inst_id, ord_id=ord_id, cl_ord_id=cl_ord_id
        ))
        derivative = inst_type_of(inst_id) != "SPOT"
        try:
            outcome = await self._cancel_once(credentials, inst_id, which)
        except OkxError as error:
            writes.finish(journal, entry, "cancel",
                          writes.outcome_of_failure(error, "not_canceled"), str(error))
            if self.private is not None and error.outcome_unknown:
                self.private.wrote_unknown(credentials, derivative)
            raise
        if self.private is not None:
            self.private.wrote_cancel(
                credentials, ord_id, cl_ord_id, inst_id, outcome.raw, derivative
            )
        if outcome.accepted or outcome.order is None:
            writes.finish(journal, entry, "cancel", "canceled")
        else:
            state = outcome.order.state
            done = "canceled" if state in ("canceled", "mmp_canceled") else "not_canceled"
            writes.finish(journal, entry, "cancel", done, f"already {state}")
        return outcome

    async def _cancel_once(
        self, credentials: Credentials, inst_id: str, which: Mapping[str, str]
    ) -> CancelOutcome:
        try:
            reply = await self.client.post(
                CANCEL_ORDER.path, {"instId": inst_id, **which}, credentials=credentials
            )
        except OkxApiError as error:
            refusals = {error.code, *(item.code for item in error.items)}
            if not refusals & codes.CANCEL_ALREADY_FINAL:
                if is_ambiguous(error):
                    return await self._cancel_outcome_from_state(
                        credentials, inst_id, which, error
                    )
                raise
            return await self._cancel_refused(credentials, inst_id, which, refusals)
        except OkxError as error:
            if not is_ambiguous(error):
                raise
            return await self._cancel_outcome_from_state(credentials, inst_id, which, error)
        return CancelOutcome(accepted=True, order=None, raw=reply.raw)

    async def _cancel_refused(
        self, credentials: Credentials, inst_id: str, which: Mapping[str, str],
        refusals: set[str],
    ) -> CancelOutcome:
        """
        OKX refused a cancel as "already final" (``refusals``): read the order back.

        51410 -- a cancel is already under way -- is an answer: the order is being
        cancelled, though it may still read as live. 51400 ("filled, canceled or does not
        exist") is only a claim: OKX sends it too for an order it cannot see yet where
        cancels are handled. A final order answers it; a live one (or one OKX does not
        show yet, placed moments ago) is sent the cancel again -- safe, a cancel is
        idempotent -- a few times, and is never answered "cancelled" while it is live.
        """
        pause = 0.1
        for _ in range(_CANCEL_RESENDS):
            try:
                state = await self._read(credentials, inst_id, which)
            except OrderMissing:
                raise OrderMissing(
                    f"{_order_name(inst_id, which)} does not exist (OKX "
                    f"{'/'.join(sorted(refusals))} to the cancel, {codes.ORDER_NOT_FOUND} "
                    "to reading it)",
                    path=CANCEL_ORDER.path,
                ) from None
            first = state.records[0]
            live = first.state not in FINAL_STATES
            if not live or codes.CANCEL_UNDER_WAY in refusals:
                return CancelOutcome(
                    accepted=False, order=first, raw=state.raw,
                    cancelling=live and codes.CANCEL_UNDER_WAY in refusals,
                )
            log.info(
                "OKX refused the cancel of {order} ({codes}) but it is {state}: "
                "sending the cancel again",
                order=_order_name(inst_id, which), codes="/".join(sorted(refusals)),
                state=first.state,
            )
            await sleep(self.placer.clock, pause)
            pause = min(pause * 2, 1.0)
            try:
                reply = await self.client.post(
                    CANCEL_ORDER.path, {"instId": inst_id, **which}, credentials=credentials
                )
            except OkxApiError as again:
                refusals = {again.code, *(item.code for item in again.items)}
                if not refusals & codes.CANCEL_ALREADY_FINAL:
                    raise
                continue
            return CancelOutcome(accepted=True, order=None, raw=reply.raw)
        raise OkxError(
            f"OKX refused the cancel of {_order_name(inst_id, which)} "
            f"{_CANCEL_RESENDS} times ({'/'.join(sorted(refusals))}: filled, canceled or "
            "not found) while reading it back showed it live: it was not cancelled; "
            "cancel it again",
            path=CANCEL_ORDER.path,
        )

    async def _read(
        self, credentials: Credentials, inst_id: str, which: Mapping[str, str]
    ) -> Fetched[OrderRecord]:
        return await self.order(
            credentials, inst_id, which.get("ordId"), cl_ord_id=which.get("clOrdId")
        )

    async def _cancel_outcome_from_state(
        self, credentials: Credentials, inst_id: str, which: Mapping[str, str], lost: OkxError
    ) -> CancelOutcome:
        """
        What a cancel whose answer was lost (``lost``: a timeout, a dropped connection, a
        5xx) achieved, found out from the order itself: a final order (cancelled, filled)
        is answered from its state; a live one was not cancelled (or not yet), so the
        cancel is sent once more -- safe, a cancel is idempotent -- and answered from
        OKX's reply to it. Its reads share the docker call's read deadline.

        :raises OkxError: when the order cannot be read back, or the second cancel is
            lost too; the message says what is known and that cancelling again is safe.
        """
        order = _order_name(inst_id, which)
        try:
            state = await self._read(credentials, inst_id, which)
        except OkxError as read_error:
            raise OkxError(
                f"{lost}; reading {order} back failed too ({read_error}): check it with "
                "GetOrder, or cancel it again (a cancel is idempotent)",
                path=CANCEL_ORDER.path, outcome_unknown=True,
            ) from None
        first = state.records[0]
        if first.state in FINAL_STATES:
            return CancelOutcome(accepted=False, order=first, raw=state.raw)
        try:
            reply = await self.client.post(
                CANCEL_ORDER.path, {"instId": inst_id, **which}, credentials=credentials
            )
        except OkxApiError as again:
            refusals = {again.code, *(item.code for item in again.items)}
            if refusals & codes.CANCEL_ALREADY_FINAL:
                # The first cancel got there after all (51410: under way), a fill did, or
                # OKX cannot see the order yet (51400 while live): as for a first refusal.
                return await self._cancel_refused(credentials, inst_id, which, refusals)
            if not again.outcome_unknown:
                raise
            raise self._cancel_lost_twice(order, first, again) from None
        except OkxError as again:
            if not again.outcome_unknown:
                raise
            raise self._cancel_lost_twice(order, first, again) from None
        return CancelOutcome(accepted=True, order=None, raw=reply.raw)

    @staticmethod
    def _cancel_lost_twice(order: str, state: OrderRecord, error: OkxError) -> OkxError:
        return OkxError(
            f"OKX did not answer the cancel of {order} twice (last: {error}); the order "
            f"was still {state.state or 'open'} when read back in between: cancel it "
            "again (a cancel is idempotent)",
            path=CANCEL_ORDER.path, outcome_unknown=True,
        )


def _order_key(ord_id: str | None, cl_ord_id: str | None) -> dict[str, str]:
    """The query or body field naming one order: ``ordId`` if given, else ``clOrdId``."""
    if ord_id:
        return {"ordId": ord_id}
    if cl_ord_id:
        return {"clOrdId": cl_ord_id}
    raise ValueError("an order is named by its ordId or its clOrdId")


def _order_name(inst_id: str, which: Mapping[str, str]) -> str:
    """How messages name the order: ``order INST,ORDID`` or by its clOrdId."""
    if "ordId" in which:
        return f"order {inst_id},{which['ordId']}"
    return f"order with clOrdId {which['clOrdId']} on {inst_id}"
