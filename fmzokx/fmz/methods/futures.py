# -*- test-case-name: tests.fmz.methods.test_futures -*-
"""
Contract methods: positions, setmarginlevel, fundings, and the legacy ``io`` transport.

Perpetual swaps (USDT- and coin-margined) and dated futures. Amounts are contracts;
both OKX position modes are read: in net mode the sign of ``pos`` gives the direction,
in long/short mode ``posSide`` does. Orders on contracts go through ``trade``
(``buy``/``sell`` open, ``closebuy``/``closesell`` close).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from fmzokx.fmz.context import CallContext
from fmzokx.fmz.envelope import RpcError, RpcRequest, parse_decimal, refuse_control
from fmzokx.fmz.formatting import or_zero
from fmzokx.fmz.iodirection import keep_direction
from fmzokx.fmz.methods.trading import margin_mode
from fmzokx.fmz.registry import Param, RpcResult, method
from fmzokx.fmz.symbols import (
    SymbolRange,
    SymbolRef,
    parse_symbol,
    parse_symbol_or_range,
)
from fmzokx.okx.credentials import Credentials
from fmzokx.okx.endpoints import (
    FUNDING_RATE,
    LEVERAGE_INFO,
    POSITIONS,
    POSITIONS_CHANNEL,
    SET_LEVERAGE,
)
from fmzokx.okx.instruments import Instrument
from fmzokx.okx.records import FundingRecord, PositionRecord

POSITION_SHAPE = (
    "[{symbol, margin_level, amount (contracts), frozen_amount, price (average entry), "
    "profit (unrealised, margin currency), type: long/short, contract_type, margin}]"
)
RANGE_PARAM = Param(
    "symbol", "a contract (BTC_USDT.swap, BTC_USD.quarter), a range (USDT.swap, USD.futures) "
    "or absent for every swap and futures contract", required=False
)


async def _contract(context: CallContext, ref: SymbolRef) -> Instrument:
    instrument = await context.instrument(ref)
    if not instrument.is_contract:
        raise RpcError(
            f"{ref.fmz} is a spot pair: positions, leverage and funding need a contract "
            "such as BTC_USDT.swap or BTC_USD.quarter"
        )
    return instrument


async def _selection(
    context: CallContext, request: RpcRequest
) -> tuple[str | None, set[str] | None, list[str]]:
    """(the one instId to ask for, instIds to keep or None for all, instTypes to ask)."""
    if not request.params.has("symbol"):
        return None, None, ["SWAP", "FUTURES"]
    selector = parse_symbol_or_range(request.params.text("symbol"))
    if isinstance(selector, SymbolRange):
        if selector.kind == "option":
            raise RpcError("options are not supported")
        wanted = {inst.inst_id for inst in await context.in_range(selector)}
        return None, wanted, [selector.inst_type]
    instrument = await _contract(context, selector)
    return instrument.inst_id, {instrument.inst_id}, [instrument.inst_type]


class _OfInstrument(Protocol):
    @property
    def inst_id(self) -> str: ...


T = TypeVar("T", bound=_OfInstrument)


def _selected(records: Iterable[T], wanted: set[str] | None) -> Iterator[T]:
    """The records whose instrument is wanted (all when ``None``)."""
    return (record for record in records if wanted is None or record.inst_id in wanted)


def position_rows(
    context: CallContext, positions: Iterable[PositionRecord], wanted: set[str] | None
) -> list[dict[str, Any]]:
    """FMZ positions from OKX's (zero positions skipped)."""
    rows = []
    for position in _selected(positions, wanted):
        pos = or_zero(position.pos)
        if pos == 0:
            continue
        if position.pos_side in ("long", "short"):
            direction = position.pos_side
        else:
            direction = "long" if pos > 0 else "short"
        amount = abs(pos)
        avail = position.avail_pos
        frozen = amount - abs(avail) if avail is not None else Decimal(0)
        instrument = context.okx.instruments.cached(position.inst_id)
        margin = or_zero(position.margin) or or_zero(position.imr)
        rows.append(
            {
                "symbol": context.fmz_symbol(position.inst_id),
                "margin_level": or_zero(position.lever),
                "amount": amount,
                "frozen_amount": max(frozen, Decimal(0)),
                "price": or_zero(position.avg_px),
                "profit": or_zero(position.upl),
                "type": direction,
                "contract_type": context.contract_type(instrument) or "swap",
                "margin": margin,
            }
        )
    return rows


async def _positions(context: CallContext, request: RpcRequest) -> RpcResult:
    credentials = request.require_credentials()
    inst_id, wanted, types = await _selection(context, request)
    for inst_type in types:
        await context.okx.instruments.instruments(inst_type)
    fetched = await context.okx.account.positions(
        credentials,
        inst_id=inst_id,
        inst_type=types[0] if len(types) == 1 else None,
    )
    return RpcResult(position_rows(context, fetched.records, wanted), fetched.raw)


@method(
    "positions",
    summary="Open contract positions (FMZ GetPositions), in either OKX position mode.",
    params=[RANGE_PARAM],
    aliases=["position"],
    data=POSITION_SHAPE,
    okx=[POSITIONS, POSITIONS_CHANNEL],
    private=True,
)
async def positions(context: CallContext, request: RpcRequest) -> RpcResult:
    return await _positions(context, request)


async def set_leverage(
    context: CallContext, credentials: Credentials, instrument: Instrument, lever: Decimal,
    margin_mode: str,
) -> list[Any]:
    """Set ``lever`` on one contract (both sides in long/short isolated mode)."""
    if lever <= 0:
        raise RpcError(f"margin_level must be a positive leverage such as 10, got {lever}")
    return await context.okx.account.set_leverage(credentials, instrument, lever, margin_mode)


@method(
    "setmarginlevel",
    summary="Set a contract's leverage (FMZ SetMarginLevel); OKX refusals come back as errors.",
    params=[
        Param("symbol", "a contract such as BTC_USDT.swap"),
        Param("margin_level", "the leverage, e.g. 10"),
        Param("margin_mode", "cross (default) or isolated", required=False),
    ],
    aliases=["marginlevel", "leverage"],
    data="true. OKX may refuse a change over open orders or positions (59000 family); when "
    "its reply is unclear the leverage in force is read back, and set once more if needed",
    okx=f"{SET_LEVERAGE}; {LEVERAGE_INFO} when the reply is unclear",
    private=True,
    changes=True,
)
async def setmarginlevel(context: CallContext, request: RpcRequest) -> RpcResult:
    credentials = request.require_credentials()
    instrument = await _contract(context, parse_symbol(request.params.text("symbol")))
    name = "margin_level" if request.params.has("margin_level") else "marginLevel"
    lever = request.params.decimal(name)
    raws = await set_leverage(context, credentials, instrument, lever, margin_mode(request))
    return RpcResult(True, raws if len(raws) > 1 else raws[0])


def funding_rows(
    context: CallContext, fundings: Iterable[FundingRecord], wanted: set[str] | None
) -> list[dict[str, Any]]:
    """FMZ fundings from OKX's current funding rates."""
    rows = []
    for funding in _selected(fundings, wanted):
        this_time = funding.funding_time or 0
        next_time = funding.next_funding_time or 0
        interval = next_time - this_time if next_time > this_time else 8 * 3600 * 1000
        rows.append(
            {
                "symbol": context.fmz_symbol(funding.inst_id),
                "rate": or_zero(funding.funding_rate),
                "time": this_time,
                "interval": interval,
            }
        )
    return rows


@method(
    "fundings",
    summary="Current funding rate and next settlement of perpetual swaps (FMZ GetFundings).",
    params=[Param("symbol", "a swap (BTC_USDT.swap), a range (USDT.swap) or absent for "
                  "every swap", required=False)],
    aliases=["funding"],
    data="[{symbol, rate (fraction), time (next settlement, ms), interval (ms)}]",
    okx=[FUNDING_RATE],
)
async def fundings(context: CallContext, request: RpcRequest) -> RpcResult:
    wanted: set[str] | None = None
    inst_id = "ANY"
    if request.params.has("symbol"):
        selector = parse_symbol_or_range(request.params.text("symbol"))
        if isinstance(selector, SymbolRange):
            if selector.kind != "swap":
                raise RpcError(f"funding applies to perpetual swaps only, not {selector.fmz}")
            wanted = {inst.inst_id for inst in await context.in_range(selector)}
        else:
            instrument = await _contract(context, selector)
            if instrument.inst_type != "SWAP":
                raise RpcError(f"funding applies to perpetual swaps only, not {selector.fmz}")
            inst_id = instrument.inst_id
    await context.okx.instruments.instruments("SWAP")
    fetched = await context.okx.market.funding_rates(inst_id)
    return RpcResult(funding_rows(context, fetched.records, wanted), fetched.raw)


# -- the legacy io transport -------------------------------------------------------------

IO_SET_MARGIN_LEVEL = 0
IO_SET_DIRECTION = 1
IO_SET_CONTRACT_TYPE = 2
IO_GET_POSITION = 3
DIRECTIONS = ("buy", "sell", "closebuy", "closesell")
_IO_CODE = re.compile(r"[+-]?[0-9]{1,6}")  # ASCII digits only, never \d


def _io_args(request: RpcRequest) -> tuple[int, tuple[Any, ...]]:
    raw_code = request.params.raw("code")
    if raw_code is None or raw_code == "":
        raw_code = request.extras.get("code")
    if raw_code is None or raw_code == "" or isinstance(raw_code, bool):
        raise RpcError("io needs a code (in params or top level): 0 SetMarginLevel, "
                       "1 SetDirection, 2 SetContractType, 3 GetPosition")
    text = refuse_control("io code", str(raw_code)).strip(" ")
    if not _IO_CODE.fullmatch(text):
        raise RpcError(f"io code must be an integer 0-3, got {ascii(text[:20])}")
    return int(text), request.args


def _io_text(op: str, args: tuple[Any, ...]) -> str:
    """The op's first argument as text, spaces trimmed; control characters refused."""
    return refuse_control(f"io {op} argument", str(args[0])).strip(" ") if args else ""


def _io_symbol(context: CallContext, request: RpcRequest, credentials: Credentials) -> SymbolRef:
    state = context.io_state.get(credentials.fingerprint, {})
    if request.params.has("symbol"):
        ref = parse_symbol(request.params.text("symbol"))
        if ref.kind == "spot" and state.get("contract_type"):
            ref = parse_symbol(f"{ref.base}_{ref.quote}.{state['contract_type']}")
        return ref
    if state.get("symbol"):
        return parse_symbol(state["symbol"])
    raise RpcError("io: no contract selected: send params.symbol or SetContractType first")


@method(
    "io",
    summary="Legacy futures transport: op code 0 SetMarginLevel, 1 SetDirection, "
    "2 SetContractType, 3 GetPosition.",
    params=[
        Param("code", "the op code (0-3)"),
        Param("args", "the op's arguments as a list (in params or top level)", required=False),
        Param("symbol", "the pair or contract the op applies to", required=False),
    ],
    data="0: true; 1: true; 2: {InstrumentID, instrument}; 3: positions as in positions",
    okx="as the op's modern method",
    private=True,
    changes=True,
)
async def io(context: CallContext, request: RpcRequest) -> RpcResult:
    credentials = request.require_credentials()
    code, args = _io_args(request)
    state = context.io_state.setdefault(credentials.fingerprint, {})
    if code == IO_SET_DIRECTION:
        direction = _io_text("SetDirection", args).lower()
        if direction not in DIRECTIONS:
            raise RpcError(
                f"io SetDirection needs one of {', '.join(DIRECTIONS)}, got {direction!r}"
            )
        # Per contract when one is selected (params.symbol, SetContractType), else for
        # every contract of the key; kept in the journal so a restart finds it.
        inst_id = ""
        if request.params.has("symbol") or state.get("symbol"):
            ref = _io_symbol(context, request, credentials)
            inst_id = (await _contract(context, ref)).inst_id
        await keep_direction(context, credentials, inst_id, direction)
        return RpcResult(True, None)
    if code == IO_SET_CONTRACT_TYPE:
        contract = _io_text("SetContractType", args)
        if not contract:
            raise RpcError("io SetContractType needs a contract type such as swap or quarter")
        pair = request.params.text("symbol", state.get("pair", ""))
        if not pair:
            raise RpcError("io SetContractType needs params.symbol (the pair, e.g. BTC_USDT)")
        base_pair = parse_symbol(pair)
        ref = parse_symbol(f"{base_pair.base}_{base_pair.quote}.{contract}")
        instrument = await _contract(context, ref)
        state.update(pair=f"{ref.base}_{ref.quote}", contract_type=contract, symbol=ref.fmz)
        return RpcResult({"InstrumentID": instrument.inst_id, "instrument": instrument.inst_id},
                         dict(instrument.raw))
    if code == IO_SET_MARGIN_LEVEL:
        if not args:
            raise RpcError("io SetMarginLevel needs the leverage as its argument, e.g. [10]")
        instrument = await _contract(context, _io_symbol(context, request, credentials))
        lever = parse_decimal("io SetMarginLevel leverage", args[0])
        raws = await set_leverage(context, credentials, instrument, lever, margin_mode(request))
        return RpcResult(True, raws if len(raws) > 1 else raws[0])
    if code == IO_GET_POSITION:
        ref = _io_symbol(context, request, credentials)
        instrument = await _contract(context, ref)
        fetched = await context.okx.account.positions(credentials, inst_id=instrument.inst_id)
        rows = position_rows(context, fetched.records, {instrument.inst_id})
        return RpcResult(rows, fetched.raw)
    raise RpcError(f"io op code {code} is not supported: use 0, 1, 2 or 3")

