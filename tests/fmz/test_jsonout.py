"""Replies write Decimals as exact JSON numbers."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from fmzokx.fmz.jsonout import dumps, number


def test_decimals_become_exact_numbers() -> None:
    """Decimals are written as plain literals, never floats or exponents."""
    document = {"p": Decimal("0.1"), "q": [Decimal("1E-8"), Decimal("65000.50")], "s": "0.1"}
    assert dumps(document) == b'{"p":0.1,"q":[0.00000001,65000.5],"s":"0.1"}'


def test_number_rendering() -> None:
    """Zero, integers and trailing zeros render minimally."""
    assert [number(Decimal(t)) for t in ("0", "0.000", "10", "1E+2", "-2.50")] == [
        "0", "0", "10", "100", "-2.5",
    ]


def test_non_finite_decimals_are_null() -> None:
    """A NaN Decimal cannot reach the wire as invalid JSON."""
    assert dumps([Decimal("NaN")]) == b"[null]"


def test_strings_that_look_like_markers_stay_strings() -> None:
    """Ordinary strings with NUL characters are not mistaken for numbers inside text."""
    text = dumps({"a": "x\x00D1\x00y", "b": "\u00e9"})
    assert json.loads(text) == {"a": "x\x00D1\x00y", "b": "\u00e9"}


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_round_trip_is_exact(value: Decimal) -> None:
    """Any finite Decimal parses back to the same value."""
    parsed = json.loads(dumps({"v": value}), parse_float=Decimal, parse_int=Decimal)
    assert parsed["v"] == value
