# -*- test-case-name: tests.fmz.methods.test_market -*-
"""
What every FMZ method handler receives besides the request: the call context.

A handler is ``async def handler(context, request)``. The context holds the OKX domain
layer (:class:`~fmzokx.okx.api.OkxApi`: typed market, account and trade calls and the
instrument cache), the clock, the legacy ``io`` transport's per-key state, and the lookups
most handlers share: FMZ symbol -> OKX instrument, instId -> FMZ symbol.
"""

from __future__ import annotations

from attrs import define, field
from twisted.internet.interfaces import IReactorTime

from fmzokx.fmz.envelope import RpcError, RpcRequest
from fmzokx.fmz.symbols import (
    SymbolRange,
    SymbolRef,
    contract_type_of,
    fmz_symbol_of,
    parse_symbol,
)
from fmzokx.lru import LruDict
from fmzokx.okx.api import OkxApi
from fmzokx.okx.instruments import Instrument, UnknownInstrument

__all__ = ["IO_STATE_KEYS", "CallContext"]

IO_STATE_KEYS = 4096
"""How many API keys' ``io`` selections are kept (least recently used out first)."""

_INST_TYPES = {"spot": "SPOT", "swap": "SWAP", "futures": "FUTURES", "option": "OPTION"}


@define
class CallContext:
    """
    :ivar okx: the OKX domain layer.
    :ivar clock: the reactor's clock (tests inject a ``Clock``).
    :ivar io_state: per key, what the legacy ``io`` transport selected (contract type,
        direction), as FMZ's stateful SetContractType/SetDirection expect; the
        :data:`IO_STATE_KEYS` keys used most recently are remembered.
    """

    okx: OkxApi
    clock: IReactorTime
    io_state: LruDict[str, dict[str, str]] = field(
        factory=lambda: LruDict(IO_STATE_KEYS), init=False
    )

    async def instrument(self, ref: SymbolRef) -> Instrument:
        """
        The instrument a parsed symbol names (futures aliases resolved).

        :raises RpcError: naming the symbol when OKX lists no such instrument.
        """
        inst_type = _INST_TYPES[ref.kind]
        if inst_type == "OPTION":
            raise RpcError(f"options are not supported: {ref.fmz}")
        try:
            if ref.inst_id is not None:
                return await self.okx.instruments.find(inst_type, inst_id=ref.inst_id)
            return await self.okx.instruments.find(
                inst_type, family=ref.family, alias=ref.contract
            )
        except UnknownInstrument:
            raise RpcError(f"unknown symbol {ref.fmz}: OKX lists no {_describe(ref)}") from None

    async def instrument_for(self, request: RpcRequest, name: str = "symbol") -> Instrument:
        """The instrument named by the request's ``symbol`` param."""
        return await self.instrument(parse_symbol(request.params.text(name)))

    async def lookup(self, inst_id: str) -> Instrument:
        """The instrument for an OKX instId, as the strategy may have written it."""
        return await self.instrument(parse_symbol(inst_id))

    async def in_range(self, selector: SymbolRange) -> list[Instrument]:
        """The instruments a range such as ``USDT.swap`` covers (none for options)."""
        if selector.kind == "option":
            return []
        return await self.okx.instruments.settled_in(selector.inst_type, selector.quote)

    def symbol_of(self, instrument: Instrument) -> str:
        """The FMZ symbol of an instrument now (a dated future by its delivery alias)."""
        return fmz_symbol_of(instrument, self.okx.instruments.alias_of(instrument))

    def contract_type(self, instrument: Instrument | None) -> str | None:
        """FMZ's ContractType of an instrument now; ``None`` when it is not known."""
        if instrument is None:
            return None
        return contract_type_of(instrument, self.okx.instruments.alias_of(instrument))

    def fmz_symbol(self, inst_id: str) -> str:
        """The FMZ spelling of an OKX instId (cached metadata first, then the id's shape)."""
        instrument = self.okx.instruments.cached(inst_id)
        if instrument is not None:
            return self.symbol_of(instrument)
        try:
            return parse_symbol(inst_id).fmz
        except Exception:
            return inst_id


def _describe(ref: SymbolRef) -> str:
    if ref.kind == "spot":
        return f"spot pair {ref.base}-{ref.quote}"
    if ref.kind == "swap":
        return f"perpetual swap {ref.family}-SWAP"
    if ref.inst_id is None:
        return f"{ref.contract} futures contract for {ref.family}"
    return f"instrument {ref.inst_id}"
