# -*- test-case-name: tests.protocol.methods.test_market -*-
"""
The collaborators every method handler receives.

A handler is ``async def handler(gateway, request)``; the gateway gives it the OKX client,
the instrument cache and the clock, plus the few lookups most handlers share (symbol ->
instrument, instId -> FMZ symbol).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import define, field
from twisted.internet.interfaces import IReactorTime

from fmzokx.okx.client import OkxClient
from fmzokx.okx.credentials import Credentials
from fmzokx.protocol.envelope import RpcError, RpcRequest
from fmzokx.protocol.instruments import Instrument, InstrumentCache
from fmzokx.protocol.orders import OrderPlacer
from fmzokx.protocol.symbols import SymbolRef, parse_symbol

__all__ = ["Gateway"]

INSTRUMENTS_PATH = "/api/v5/public/instruments"
CONFIG_PATH = "/api/v5/account/config"
POSITION_MODE_TTL = 60.0


@define
class Gateway:
    """
    :ivar client: the one OKX client.
    :ivar instruments: cached instrument metadata.
    :ivar clock: the reactor's clock (tests inject a ``Clock``).
    :ivar orders: exactly-once order placement.
    :ivar io_state: per key, what the legacy ``io`` transport selected (contract type,
        direction), as FMZ's stateful SetContractType/SetDirection expect.
    """

    client: OkxClient
    clock: IReactorTime
    instruments: InstrumentCache = field()
    orders: OrderPlacer = field()
    io_state: dict[str, dict[str, str]] = field(factory=dict, init=False)
    _position_modes: dict[str, tuple[float, str]] = field(factory=dict, init=False)

    @orders.default
    def _default_orders(self) -> OrderPlacer:
        return OrderPlacer(client=self.client, clock=self.clock)

    @instruments.default
    def _default_instruments(self) -> InstrumentCache:
        client = self.client

        async def fetch(inst_type: str) -> list[Mapping[str, Any]]:
            reply = await client.get(INSTRUMENTS_PATH, {"instType": inst_type})
            return [item for item in reply.data if isinstance(item, Mapping)]

        return InstrumentCache(fetch=fetch, clock=self.clock)

    async def instrument(self, ref: SymbolRef) -> Instrument:
        """The instrument a parsed symbol names (aliases resolved)."""
        return await self.instruments.resolve(ref)

    async def instrument_for(self, request: RpcRequest, name: str = "symbol") -> Instrument:
        """The instrument named by the request's ``symbol`` param."""
        return await self.instrument(parse_symbol(request.params.text(name)))

    async def position_mode(self, credentials: Credentials) -> str:
        """
        The account's position mode, ``net_mode`` or ``long_short_mode`` (cached briefly).

        Contract orders need it: ``posSide`` in long/short mode, ``reduceOnly`` to close
        in net mode.
        """
        cached = self._position_modes.get(credentials.fingerprint)
        now = self.clock.seconds()
        if cached is not None and now - cached[0] < POSITION_MODE_TTL:
            return cached[1]
        reply = await self.client.get(CONFIG_PATH, credentials=credentials)
        config = reply.data[0] if reply.data and isinstance(reply.data[0], Mapping) else {}
        mode = str(config.get("posMode", ""))
        if mode not in ("net_mode", "long_short_mode"):
            raise RpcError(f"OKX reported an unknown position mode {mode!r} for this account")
        self._position_modes[credentials.fingerprint] = (now, mode)
        return mode

    def forget_position_mode(self, credentials: Credentials) -> None:
        """Drop the cached mode (after OKX says it changed)."""
        self._position_modes.pop(credentials.fingerprint, None)

    def fmz_symbol(self, inst_id: str) -> str:
        """The FMZ spelling of an OKX instId (cached metadata first, then the id's shape)."""
        instrument = self.instruments.cached(inst_id)
        if instrument is not None:
            return instrument.fmz_symbol
        try:
            return parse_symbol(inst_id).fmz
        except Exception:
            return inst_id
