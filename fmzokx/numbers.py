"""
Decimals as plain literals, shared by both sides of the wire.

OKX takes prices and sizes as strings and FMZ gets JSON numbers; both want the exact
decimal without exponent or trailing zeros (``0.1``, ``65000.5``), never a float's.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["plain"]


def plain(value: Decimal) -> str:
    """The plain decimal literal for ``value`` (no exponent, no trailing noise)."""
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
