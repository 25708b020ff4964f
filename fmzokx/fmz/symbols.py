# -*- test-case-name: tests.fmz.test_symbols -*-
"""
FMZ symbols <-> OKX instrument ids (contract §2).

FMZ writes ``ETH_USDT`` for spot and ``BTC_USDT.swap`` / ``BTC_USD.quarter`` for
contracts; list calls may name a range such as ``USDT.swap``. OKX writes ``ETH-USDT``,
``BTC-USDT-SWAP`` and ``BTC-USD-250328``. Parsing is pure; resolving a futures alias
(``quarter``) to a dated instrument needs the instrument list and lives in
:mod:`fmzokx.okx.instruments`.
"""

from __future__ import annotations

import re
from typing import Literal

from attrs import frozen

from fmzokx.fmz.envelope import RpcError, refuse_control
from fmzokx.okx.instruments import Instrument

__all__ = [
    "FUTURES_ALIASES",
    "contract_type_of",
    "fmz_symbol_of",
    "SymbolRange",
    "SymbolRef",
    "parse_symbol",
    "parse_symbol_or_range",
]

Kind = Literal["spot", "swap", "futures", "option"]

FUTURES_ALIASES = ("this_week", "next_week", "quarter", "next_quarter", "third_quarter")
"""FMZ contract types that OKX resolves through the instruments' ``alias`` field."""

_CCY = r"[A-Za-z0-9]{1,20}"
_PAIR = re.compile(rf"^({_CCY})_({_CCY})$")
_INST_SPOT = re.compile(rf"^({_CCY})-({_CCY})$")
_INST_SWAP = re.compile(rf"^({_CCY})-({_CCY})-SWAP$", re.IGNORECASE)
_INST_FUTURES = re.compile(rf"^({_CCY})-({_CCY})-([0-9]{{6}})$")
# Digits are spelled [0-9]: \d would also match other scripts' digits.
_INST_OPTION = re.compile(
    rf"^({_CCY})-({_CCY})-([0-9]{{6}})-([0-9]+(?:\.[0-9]+)?)-([CP])$", re.IGNORECASE
)

_EXPECTED = (
    "expected BASE_QUOTE for spot (ETH_USDT), BASE_QUOTE.swap or BASE_QUOTE.quarter/"
    "this_week/next_week/next_quarter for contracts (BTC_USDT.swap), or an OKX instId "
    "(BTC-USDT-SWAP)"
)


@frozen
class SymbolRef:
    """
    One instrument named by the docker.

    :ivar kind: ``spot``, ``swap``, ``futures`` or ``option``.
    :ivar contract: ``""`` for spot, ``swap``, a futures alias (``quarter``) or an
        expiry code (``250328``), or the option's OKX instId tail.
    :ivar inst_id: the OKX instId when it follows from the text alone; ``None`` for a
        futures alias, which the instrument list resolves.
    """

    kind: Kind
    base: str
    quote: str
    contract: str
    inst_id: str | None

    @property
    def family(self) -> str:
        """OKX's instrument family (``BTC-USD``) for contracts."""
        return f"{self.base}-{self.quote}"

    @property
    def fmz(self) -> str:
        """The FMZ spelling of this symbol."""
        pair = f"{self.base}_{self.quote}"
        return pair if self.kind == "spot" else f"{pair}.{self.contract}"


@frozen
class SymbolRange:
    """
    A range of contracts for list calls: ``USDT.swap`` is every USDT-margined swap.

    :ivar quote: the margin/quote currency (``USDT``, ``USD``, ``USDC``).
    :ivar kind: ``swap``, ``futures`` or ``option``.
    """

    quote: str
    kind: Kind

    @property
    def inst_type(self) -> str:
        """OKX's ``instType`` for this range."""
        return self.kind.upper()

    @property
    def fmz(self) -> str:
        return f"{self.quote}.{self.kind}"


_RANGE_KINDS: dict[str, Kind] = {
    "swap": "swap",
    "futures": "futures",
    "future": "futures",
    "option": "option",
    "options": "option",
}


def parse_symbol_or_range(text: object) -> SymbolRef | SymbolRange:
    """Parse a symbol, or a range such as ``USDT.swap`` (list calls accept both)."""
    cleaned = _clean(text)
    head, dot, tail = cleaned.partition(".")
    if dot and "_" not in head and "-" not in head and tail.lower() in _RANGE_KINDS:
        if not re.fullmatch(_CCY, head):
            raise RpcError(f"invalid symbol range {cleaned!r}: expected QUOTE.swap (USDT.swap)")
        return SymbolRange(quote=head.upper(), kind=_RANGE_KINDS[tail.lower()])
    return parse_symbol(cleaned)


def parse_symbol(text: object) -> SymbolRef:
    """
    Parse one FMZ symbol or OKX instId.

    :raises RpcError: naming the expected forms when ``text`` is not a symbol.
    """
    cleaned = _clean(text)
    head, dot, tail = cleaned.partition(".")
    if dot:
        match = _PAIR.match(head)
        if not match or not tail:
            raise RpcError(f"invalid symbol {cleaned!r}: {_EXPECTED}")
        base, quote = match.group(1).upper(), match.group(2).upper()
        return _contract(cleaned, base, quote, tail)

    match = _PAIR.match(cleaned)
    if match:
        base, quote = match.group(1).upper(), match.group(2).upper()
        return SymbolRef("spot", base, quote, "", f"{base}-{quote}")

    upper = cleaned.upper()
    match = _INST_SWAP.match(upper)
    if match:
        base, quote = match.group(1), match.group(2)
        return SymbolRef("swap", base, quote, "swap", upper)
    match = _INST_OPTION.match(upper)
    if match:
        base, quote = match.group(1), match.group(2)
        return SymbolRef("option", base, quote, upper, upper)
    match = _INST_FUTURES.match(upper)
    if match:
        base, quote, expiry = match.groups()
        return SymbolRef("futures", base, quote, expiry, upper)
    match = _INST_SPOT.match(upper)
    if match:
        base, quote = match.groups()
        return SymbolRef("spot", base, quote, "", upper)
    raise RpcError(f"invalid symbol {cleaned!r}: {_EXPECTED}")


def _contract(text: str, base: str, quote: str, contract: str) -> SymbolRef:
    lowered = contract.lower()
    family = f"{base}-{quote}"
    if lowered == "swap":
        return SymbolRef("swap", base, quote, "swap", f"{family}-SWAP")
    if lowered in FUTURES_ALIASES:
        return SymbolRef("futures", base, quote, lowered, None)
    if re.fullmatch(r"[0-9]{6}", contract):
        return SymbolRef("futures", base, quote, contract, f"{family}-{contract}")
    # An exchange-native contract code after the dot (FMZ allows it): BTC_USDT.BTC-USDT-SWAP
    native = parse_symbol(contract) if "-" in contract else None
    if native is not None and native.kind != "spot" and native.family == family:
        return native
    raise RpcError(
        f"invalid contract type in {text!r}: expected swap, this_week, next_week, quarter, "
        "next_quarter, an expiry such as 250328, or the OKX instId"
    )


def _clean(text: object) -> str:
    """The symbol without surrounding spaces; a control character anywhere is refused."""
    if not isinstance(text, str):
        raise RpcError(f"symbol must be a string: {_EXPECTED}")
    cleaned = refuse_control("symbol", text).strip(" ")
    if not cleaned:
        raise RpcError(f"missing symbol: {_EXPECTED}")
    if len(cleaned) > 64:
        raise RpcError(f"invalid symbol (longer than 64 characters): {_EXPECTED}")
    return cleaned


def contract_type_of(instrument: Instrument, alias: str = "") -> str:
    """
    FMZ's ContractType: ``""`` for spot, ``swap``, for a future its delivery ``alias``
    (``quarter``) or else its expiry code (``261225``), the option's instId.
    """
    if instrument.inst_type == "SPOT":
        return ""
    if instrument.inst_type == "SWAP":
        return "swap"
    if instrument.inst_type == "FUTURES":
        return alias or instrument.inst_id.rsplit("-", 1)[-1]
    return instrument.inst_id


def fmz_symbol_of(instrument: Instrument, alias: str = "") -> str:
    """The FMZ spelling: ``ETH_USDT``, ``BTC_USDT.swap``, ``BTC_USD.quarter``."""
    pair = f"{instrument.base}_{instrument.quote}"
    if instrument.inst_type == "SPOT":
        return pair
    return f"{pair}.{contract_type_of(instrument, alias)}"
