# -*- test-case-name: tests.fmz.test_jsonout -*-
"""
JSON replies with exact decimal numbers.

The article's shapes use JSON numbers for depth levels, candles, trades and orders. Going
through ``float`` would turn ``0.1`` into ``0.1000000000000000055...`` on the way back in
some parsers and lose digits past 17; instead each :class:`~decimal.Decimal` is written as
its own exact literal (``0.1``, ``65000.5``), never in exponent form.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from fmzokx.numbers import plain

__all__ = ["dumps", "number"]

_MARK = "\x00D"
_END = "\x00"
# json escapes NUL as \u0000, so a marked decimal appears as "\u0000D<digits>\u0000".
_MARKED = re.compile(r'"\\u0000D(-?[0-9]+(?:\.[0-9]+)?)\\u0000"')


number = plain
"""The plain decimal literal for a Decimal (see :func:`fmzokx.numbers.plain`)."""


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return f"{_MARK}{number(value)}{_END}"
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(document: Any) -> bytes:
    """Serialise ``document`` compactly as UTF-8, writing Decimals as exact numbers."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=_default)
    if "\\u0000D" in text:
        text = _MARKED.sub(r"\1", text)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (from OKX's text, say) can only sit inside a JSON string,
        # where its \\u escape (four hex digits) is valid JSON.
        return text.encode("utf-8", "backslashreplace")
