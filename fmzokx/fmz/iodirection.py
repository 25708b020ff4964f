# -*- test-case-name: tests.fmz.methods.test_futures -*-
"""
The legacy ``io`` SetDirection, kept where a restart finds it.

FMZ's old futures API sets a direction first (``SetDirection("closebuy")``) and then
calls ``Sell``: the ``trade sell`` that follows means "close the long". Kept in memory
only, a restart in between turned that close into a new short. So a direction is
written to the order journal (durably, before SetDirection answers) per key
fingerprint and contract -- or for every contract of the key when the ``io`` call named
none -- and read back from it the first time a key trades after a start. Where it cannot
be known (the journal cannot be read), a plain buy or sell on a contract is refused with
an error naming SetDirection rather than guessed at.

The memory copy lives in :attr:`~fmzokx.fmz.context.CallContext.io_state` (``direction:``
entries per contract, ``""`` for every contract) and is authoritative once loaded: this
daemon is the journal's only writer.
"""

from __future__ import annotations

from fmzokx.fmz.context import CallContext
from fmzokx.fmz.envelope import RpcError
from fmzokx.journal import JournalUnavailable
from fmzokx.okx.credentials import Credentials

__all__ = ["direction_for", "keep_direction"]

_PREFIX = "direction:"
_LOADED = "directions_loaded"


async def keep_direction(
    context: CallContext, credentials: Credentials, inst_id: str, direction: str
) -> None:
    """
    Keep ``direction`` for the key's ``inst_id`` (``""``: every contract), in the journal
    first.

    :raises RpcError: the journal cannot keep it (SetDirection then fails: a direction
        a restart would lose is not taken).
    """
    journal = context.okx.placer.journal
    if journal is not None:
        try:
            await journal.record_direction(credentials.fingerprint, inst_id, direction)
        except JournalUnavailable as error:
            raise RpcError(
                f"io SetDirection not taken: {error}; the direction would be lost on a "
                "restart. Call SetDirection again once the journal can be written"
            ) from None
    state = context.io_state.setdefault(credentials.fingerprint, {})
    if not inst_id:
        for name in [name for name in state if name.startswith(_PREFIX)]:
            del state[name]
    state[_PREFIX + inst_id] = direction


async def direction_for(
    context: CallContext, credentials: Credentials, inst_id: str
) -> str | None:
    """
    The SetDirection in force for the key's ``inst_id`` (its own, else the key's for every
    contract), or ``None``.

    :raises RpcError: naming SetDirection, when the journal cannot be read to tell.
    """
    state = context.io_state.setdefault(credentials.fingerprint, {})
    journal = context.okx.placer.journal
    if journal is not None and _LOADED not in state:
        try:
            kept = await journal.directions(credentials.fingerprint)
        except JournalUnavailable as error:
            raise RpcError(
                f"cannot tell whether SetDirection applies to this order: {error}. Refused "
                "rather than guessed (a buy or sell may be meant to close a position): call "
                "SetDirection again, or trade with type closebuy or closesell to close"
            ) from None
        for name, direction in kept.items():
            state.setdefault(_PREFIX + name, direction)
        state[_LOADED] = "1"
    return state.get(_PREFIX + inst_id, state.get(_PREFIX))
