# -*- test-case-name: tests.okx.test_domain -*-
"""
OKX's account calls: balances, positions, the position mode, leverage.

The position mode decides how a contract order says which side it opens or closes
(``posSide`` in long/short mode, ``reduceOnly`` in net mode), so it is read here and
cached briefly: every contract order needs it and OKX's ``/account/config`` budget is small.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from attrs import define, field
from twisted.internet.interfaces import IReactorTime

from fmzokx.logs import logger
from fmzokx.numbers import plain
from fmzokx.okx.client import OkxClient, OkxReply
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.endpoints import BALANCE, CONFIG, LEVERAGE_INFO, POSITIONS, SET_LEVERAGE
from fmzokx.okx.errors import OkxError
from fmzokx.okx.instruments import Instrument, optional_decimal
from fmzokx.okx.orders import is_ambiguous

__all__ = ["AccountCalls", "LONG_SHORT_MODE", "NET_MODE", "POSITION_MODE_TTL"]

NET_MODE = "net_mode"
LONG_SHORT_MODE = "long_short_mode"
POSITION_MODE_TTL = 60.0
"""Seconds a read position mode is trusted (OKX refuses to change it with open positions)."""

log = logger(__name__)


@define
class AccountCalls:
    """Signed account calls for any key, over the one OKX client."""

    client: OkxClient
    clock: IReactorTime
    _position_modes: dict[str, tuple[float, str]] = field(factory=dict, init=False)

    async def balance(self, credentials: Credentials) -> OkxReply:
        return await self.client.get(BALANCE.path, credentials=credentials)

    async def positions(
        self, credentials: Credentials, *, inst_type: str | None = None,
        inst_id: str | None = None,
    ) -> OkxReply:
        """Open positions, of one instrument, one ``instType`` or all."""
        params: dict[str, str] = {}
        if inst_id is not None:
            params["instId"] = inst_id
        elif inst_type is not None:
            params["instType"] = inst_type
        return await self.client.get(POSITIONS.path, params, credentials=credentials)

    async def position_mode(self, credentials: Credentials) -> str:
        """The account's position mode, :data:`NET_MODE` or :data:`LONG_SHORT_MODE`."""
        cached = self._position_modes.get(credentials.fingerprint)
        now = self.clock.seconds()
        if cached is not None and now - cached[0] < POSITION_MODE_TTL:
            return cached[1]
        reply = await self.client.get(CONFIG.path, credentials=credentials)
        config = reply.data[0] if reply.data and isinstance(reply.data[0], Mapping) else {}
        mode = str(config.get("posMode", ""))
        if mode not in (NET_MODE, LONG_SHORT_MODE):
            raise OkxError(
                f"OKX reported an unknown position mode {mode!r} for this account",
                path=CONFIG.path,
            )
        self._position_modes[credentials.fingerprint] = (now, mode)
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
        Returns every reply envelope. When a reply leaves it unclear whether OKX applied
        the leverage, it is read back (``leverage-info``): already applied, that reply is
        the answer; not applied, the call is sent once more (setting a leverage twice is
        harmless).
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
            try:
                reply = await self.client.post(SET_LEVERAGE.path, call, credentials=credentials)
            except OkxError as error:
                if not is_ambiguous(error):
                    raise
                log.warn("set-leverage on {inst_id} unclear ({error}); reading it back",
                         inst_id=instrument.inst_id, error=str(error))
                in_force = await self._leverage_in_force(credentials, call, lever)
                if in_force is None:
                    in_force = await self.client.post(
                        SET_LEVERAGE.path, call, credentials=credentials
                    )
                reply = in_force
            raws.append(reply.raw)
        return raws

    async def _leverage_in_force(
        self, credentials: Credentials, call: Mapping[str, Any], lever: Decimal
    ) -> OkxReply | None:
        """OKX's leverage-info reply when ``call`` is already in force there, else ``None``."""
        reply = await self.client.get(
            LEVERAGE_INFO.path,
            {"instId": str(call["instId"]), "mgnMode": str(call["mgnMode"])},
            credentials=credentials,
        )
        side = call.get("posSide")
        rows = [
            row for row in reply.data
            if isinstance(row, Mapping) and (side is None or row.get("posSide") == side)
        ]
        applied = bool(rows) and all(optional_decimal(row.get("lever")) == lever for row in rows)
        return reply if applied else None
