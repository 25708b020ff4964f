# -*- test-case-name: tests.okx.test_domain -*-
"""
OKX's account calls: balances, positions, the position mode, leverage.

The position mode decides how a contract order says which side it opens or closes
(``posSide`` in long/short mode, ``reduceOnly`` in net mode), so it is read here and
cached briefly: every contract order needs it and OKX's ``/account/config`` budget is small.
After a key's warm-up no order waits for that read: a cached mode is re-read in the
background before it expires -- when an order uses it in its last
:data:`POSITION_MODE_AHEAD` seconds, and by :meth:`AccountCalls.refresh_due` (a timer of
the service) for every key that traded more than once in the last
:data:`POSITION_MODE_IDLE` seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from attrs import define, field
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from fmzokx.deferreds import SingleFlight, detached
from fmzokx.journal import Journal, LeverageRecord
from fmzokx.logs import logger
from fmzokx.lru import LruDict
from fmzokx.numbers import plain
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.endpoints import BALANCE, CONFIG, LEVERAGE_INFO, POSITIONS, SET_LEVERAGE
from fmzokx.okx.errors import OkxError
from fmzokx.okx.instruments import Instrument
from fmzokx.okx.placement import writes
from fmzokx.okx.placement.orders import is_ambiguous
from fmzokx.okx.records import BalanceRecord, Fetched, PositionRecord, parse_items
from fmzokx.okx.rest.client import OkxClient, OkxReply
from fmzokx.okx.stream.privatesessions import PrivateSessions

__all__ = [
    "AccountCalls", "LONG_SHORT_MODE", "NET_MODE", "POSITION_MODE_AHEAD", "POSITION_MODE_IDLE",
    "POSITION_MODE_KEYS", "POSITION_MODE_TTL",
]

log = logger(__name__)

NET_MODE = "net_mode"
LONG_SHORT_MODE = "long_short_mode"
POSITION_MODE_TTL = 60.0
"""Seconds a read position mode is trusted (OKX refuses to change it with open positions)."""
POSITION_MODE_KEYS = 4096
"""How many API keys' position modes are cached (least recently used out first)."""
POSITION_MODE_AHEAD = 20.0
"""A cached mode this close to its expiry is re-read in the background."""
POSITION_MODE_IDLE = 300.0
"""Keys kept fresh by :meth:`AccountCalls.refresh_due`: those used within this many seconds."""


@define
class _CachedMode:
    """One key's position mode, when it was read, and how the key has used it."""

    mode: str
    loaded_at: float
    used_at: float
    uses: int
    credentials: Credentials  # to re-read it in the background

log = logger(__name__)


@define
class AccountCalls:
    """
    Signed account calls for any key, over the one OKX client.

    :ivar journal: where leverage changes are journalled (set by
        :meth:`fmzokx.okx.api.OkxApi.attach_journal`).
    :ivar private: the private-stream copies answering balance and positions when they
        can (``None``: always REST); told of every leverage change.
    """

    client: OkxClient
    clock: IReactorTime
    journal: Journal | None = None
    private: PrivateSessions | None = None
    _position_modes: LruDict[str, _CachedMode] = field(
        factory=lambda: LruDict(POSITION_MODE_KEYS), init=False
    )
    _reading: SingleFlight[str, str] = field(factory=SingleFlight, init=False)

    async def balance(self, credentials: Credentials) -> Fetched[BalanceRecord]:
        """The trading account's balance, per currency (from the private copy if fresh)."""
        def fetch() -> Deferred[OkxReply]:
            return Deferred.fromCoroutine(
                self.client.get(BALANCE.path, credentials=credentials)
            )

        if self.private is not None:
            reply = await self.private.balance(credentials, fetch)
        else:
            reply = await fetch()
        return Fetched(parse_items(BalanceRecord.from_okx, reply.data), reply.raw)

    async def positions(
        self, credentials: Credentials, *, inst_type: str | None = None,
        inst_id: str | None = None,
    ) -> Fetched[PositionRecord]:
        """Open positions, of one instrument, one ``instType`` or all."""
        params: dict[str, str] = {}
        if inst_id is not None:
            params["instId"] = inst_id
        elif inst_type is not None:
            params["instType"] = inst_type

        def fetch() -> Deferred[OkxReply]:
            return Deferred.fromCoroutine(
                self.client.get(POSITIONS.path, params, credentials=credentials)
            )

        if self.private is not None:
            reply = await self.private.positions(
                credentials, params.get("instType"), params.get("instId"), fetch
            )
        else:
            reply = await fetch()
        return Fetched(parse_items(PositionRecord.from_okx, reply.data), reply.raw)

    async def position_mode(self, credentials: Credentials) -> str:
        """The account's position mode, :data:`NET_MODE` or :data:`LONG_SHORT_MODE`."""
        key = credentials.fingerprint
        cached = self._position_modes.get(key)
        now = self.clock.seconds()
        if cached is not None:
            cached.uses += 1
            cached.used_at = now
            age = now - cached.loaded_at
            if age < POSITION_MODE_TTL:
                if age >= POSITION_MODE_TTL - POSITION_MODE_AHEAD:
                    self._read_in_background(cached.credentials)
                return cached.mode
        return await self._read(credentials)

    def refresh_due(self) -> Deferred[None]:
        """
        Re-read, in the background, every mode near or past its expiry whose key traded
        more than once within :data:`POSITION_MODE_IDLE` seconds (one-off keys are left
        to expire: a mix of never-repeated keys must not become a stream of reads).
        Failures are logged; the next run retries.
        """
        now = self.clock.seconds()
        due = [
            cached.credentials for cached in self._position_modes.values()
            if cached.uses > 1 and now - cached.used_at < POSITION_MODE_IDLE
            and now - cached.loaded_at >= POSITION_MODE_TTL - POSITION_MODE_AHEAD
        ]
        reads = [self._read_in_background(credentials) for credentials in due]
        return gatherResults(reads).addCallback(lambda _: None)

    def _read_in_background(self, credentials: Credentials) -> Deferred[None]:
        def failed(failure: Failure) -> None:
            log.warn(
                "position mode refresh failed for {credentials}: {error}",
                credentials=credentials, error=failure.getErrorMessage(),
            )

        # Not bounded by the read deadline of the call that happened to start it.
        return detached(self._read, credentials).addCallbacks(lambda _: None, failed)

    def _read(self, credentials: Credentials) -> Deferred[str]:
        # One read per key at a time: an order arriving while the background read runs
        # with an expired entry waits for that read rather than starting another.
        return self._reading.run(credentials.fingerprint, lambda: self._fetch_mode(credentials))

    async def _fetch_mode(self, credentials: Credentials) -> str:
        reply = await self.client.get(CONFIG.path, credentials=credentials)
        config = reply.data[0] if reply.data and isinstance(reply.data[0], Mapping) else {}
        mode = str(config.get("posMode", ""))
        if mode not in (NET_MODE, LONG_SHORT_MODE):
            raise OkxError(
                f"OKX reported an unknown position mode {mode!r} for this account",
                path=CONFIG.path,
            )
        now = self.clock.seconds()
        key = credentials.fingerprint
        previous = self._position_modes.get(key)
        uses = previous.uses if previous is not None else 1
        used_at = previous.used_at if previous is not None else now
        self._position_modes[key] = _CachedMode(mode, now, used_at, uses, credentials)
        return mode

    def forget_position_mode(self, credentials: Credentials) -> None:
        """Drop the cached mode (after OKX says it changed)."""
        self._position_modes.pop(credentials.fingerprint, None)

    async def set_leverage(
        self, credentials: Credentials, instrument: Instrument, lever: Decimal, margin_mode: str
    ) -> list[Mapping[str, Any]]:
        """
        Set ``lever`` on one contract in ``margin_mode`` (``cross``/``isolated``).

        In long/short mode an isolated leverage is per side, so both sides are set.
        Returns every reply envelope (or, where OKX's answer was lost, the envelope that
        showed the leverage set; see :meth:`_leverage_read_back`).
        """
        body: dict[str, Any] = {
            "instId": instrument.inst_id,
            "lever": plain(lever.normalize()),
            "mgnMode": margin_mode,
        }
        sides: list[str | None] = [None]
        if margin_mode == "isolated" and await self.position_mode(credentials) == LONG_SHORT_MODE:
            sides = ["long", "short"]
        raws = []
        for side in sides:
            call = dict(body, posSide=side) if side else body
            entry = await writes.begin(self.journal, LeverageRecord(
                credentials.fingerprint, instrument.inst_id, body["lever"], margin_mode, side
            ))
            try:
                raws.append(await self._set_one(credentials, call))
            except OkxError as error:
                writes.finish(self.journal, entry, "leverage",
                              writes.outcome_of_failure(error, "not_set"), str(error))
                if self.private is not None and (raws or error.outcome_unknown):
                    # One side set (or maybe set): the private copy must show it first.
                    self.private.wrote_leverage(credentials)
                raise
            writes.finish(self.journal, entry, "leverage", "set")
        if self.private is not None:
            self.private.wrote_leverage(credentials)
        return raws

    async def _set_one(
        self, credentials: Credentials, call: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """One set-leverage POST; a lost answer is settled by reading the leverage back."""
        try:
            reply = await self.client.post(SET_LEVERAGE.path, call, credentials=credentials)
        except OkxError as error:
            if not is_ambiguous(error):
                raise
            return await self._leverage_read_back(credentials, call, error)
        raw: Mapping[str, Any] = reply.raw
        return raw

    async def _leverage_read_back(
        self, credentials: Credentials, call: Mapping[str, Any], lost: OkxError
    ) -> Mapping[str, Any]:
        """
        What a leverage change whose answer was lost (``lost``: a timeout, a dropped
        connection, a 5xx) achieved, found out by reading the leverage back: already
        ``lever`` is done; otherwise it is set once more -- safe, setting a leverage is
        idempotent -- and answered from OKX's reply. Returns the envelope that shows it.

        :raises OkxError: when the leverage cannot be read back, or the second change is
            lost too; the message says what is known.
        """
        what = f"leverage {call['lever']} ({call['mgnMode']}) on {call['instId']}"
        try:
            reply = await self.client.get(
                LEVERAGE_INFO.path,
                {"instId": call["instId"], "mgnMode": call["mgnMode"]},
                credentials=credentials,
            )
        except OkxError as read_error:
            raise OkxError(
                f"{lost}; reading the leverage back failed too ({read_error}): set {what} "
                "again (it is idempotent)",
                path=SET_LEVERAGE.path, outcome_unknown=True,
            ) from None
        side = call.get("posSide")
        levers = {
            str(row.get("lever", ""))
            for row in reply.data
            if isinstance(row, Mapping) and (side is None or row.get("posSide") == side)
        }
        if levers and all(_same_lever(lever, str(call["lever"])) for lever in levers):
            return reply.raw
        try:
            again = await self.client.post(SET_LEVERAGE.path, call, credentials=credentials)
        except OkxError as error:
            if not is_ambiguous(error):
                raise
            shown = ", ".join(sorted(levers)) or "unknown"
            raise OkxError(
                f"OKX did not answer setting {what} twice (last: {error}); the leverage was "
                f"still {shown} when read back in between: set it again (it is idempotent)",
                path=SET_LEVERAGE.path, outcome_unknown=True,
            ) from None
        return again.raw


def _same_lever(shown: str, wanted: str) -> bool:
    try:
        return Decimal(shown) == Decimal(wanted)
    except ArithmeticError:
        return False
