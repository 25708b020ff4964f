# -*- test-case-name: tests.sim.test_market,tests.sim.test_trading -*-
"""
Decimal helpers: OKX puts every number on the wire as a string, and money must never
pass through a float, so parsing and rendering live in one place.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

__all__ = ["AVG_STEP", "MONEY_STEP", "ZERO", "money", "parse_decimal", "quantize_down", "render"]

ZERO = Decimal(0)
#: Precision of every amount of money the simulator computes.
MONEY_STEP = Decimal("1e-12")
#: Precision of average prices (positions, orders).
AVG_STEP = Decimal("1e-10")
#: Largest magnitude and finest precision accepted from clients; beyond them a number
#: is a parameter error rather than something to compute with.
_LIMIT = Decimal("1e15")
_FINEST = -18


def money(value: Decimal) -> Decimal:
    """Round an amount of money to the simulator's precision (half-even, as banks do)."""
    return value.quantize(MONEY_STEP, rounding=ROUND_HALF_EVEN)


def render(value: Decimal) -> str:
    """
    Render a decimal the way OKX does: plain notation, no exponent, no trailing zeros.

    ``Decimal("1E+2")`` gives ``"100"``; ``Decimal("0.10")`` gives ``"0.1"``; zero is ``"0"``.
    """
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def parse_decimal(value: object) -> Decimal | None:
    """
    Parse a client-supplied number (string or JSON number) into a finite decimal.

    Returns ``None`` for anything that is not a finite number, or is beyond 10**15 or
    finer than 10**-18. JSON floats are parsed through their ``repr`` so ``0.1`` stays
    ``0.1``.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        value = repr(value)
    if not isinstance(value, str):
        return None
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or abs(number) >= _LIMIT:
        return None
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < _FINEST:
        return None
    return number


def quantize_down(value: Decimal, step: Decimal) -> Decimal:
    """
    Round ``value`` down (towards zero) to a multiple of ``step``.
    """
    return (value // step) * step
