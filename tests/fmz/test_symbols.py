"""FMZ symbols and ranges parse into OKX instrument references (contract §2)."""

from __future__ import annotations

import pytest

from fmzokx.fmz.envelope import RpcError
from fmzokx.fmz.symbols import SymbolRange, SymbolRef, parse_symbol, parse_symbol_or_range


@pytest.mark.parametrize(
    ("text", "kind", "inst_id", "fmz"),
    [
        ("ETH_USDT", "spot", "ETH-USDT", "ETH_USDT"),
        ("eth_usdt", "spot", "ETH-USDT", "ETH_USDT"),
        (" Btc_Usdt ", "spot", "BTC-USDT", "BTC_USDT"),
        ("BTC_USDT.swap", "swap", "BTC-USDT-SWAP", "BTC_USDT.swap"),
        ("btc_usd.SWAP", "swap", "BTC-USD-SWAP", "BTC_USD.swap"),
        ("BTC_USD.quarter", "futures", None, "BTC_USD.quarter"),
        ("BTC_USD.this_week", "futures", None, "BTC_USD.this_week"),
        ("BTC_USD.next_week", "futures", None, "BTC_USD.next_week"),
        ("BTC_USD.next_quarter", "futures", None, "BTC_USD.next_quarter"),
        ("BTC_USD.250328", "futures", "BTC-USD-250328", "BTC_USD.250328"),
        ("BTC-USDT-SWAP", "swap", "BTC-USDT-SWAP", "BTC_USDT.swap"),
        ("btc-usdt-swap", "swap", "BTC-USDT-SWAP", "BTC_USDT.swap"),
        ("BTC-USDT", "spot", "BTC-USDT", "BTC_USDT"),
        ("BTC-USD-250328", "futures", "BTC-USD-250328", "BTC_USD.250328"),
        ("BTC_USDT.BTC-USDT-SWAP", "swap", "BTC-USDT-SWAP", "BTC_USDT.swap"),
        ("1INCH_USDT", "spot", "1INCH-USDT", "1INCH_USDT"),
    ],
)
def test_symbols(text: str, kind: str, inst_id: str | None, fmz: str) -> None:
    """Each documented spelling maps to its kind, instId (None = alias) and FMZ form."""
    ref = parse_symbol(text)
    assert (ref.kind, ref.inst_id, ref.fmz) == (kind, inst_id, fmz)


@pytest.mark.parametrize(
    "text",
    ["USDT", "ETH_", "_USDT", "ETH__USDT", "ETH/USDT", "", "   ", "BTC_USDT.perp",
     "BTC_USDT.", "BTC_USDT.ETH-USDT-SWAP", "A" * 80, "ETH_USDT;drop"],
)
def test_unmappable_symbols_name_the_expected_form(text: str) -> None:
    """Unmappable symbols raise an error naming the expected forms."""
    with pytest.raises(RpcError) as caught:
        parse_symbol(text)
    assert "expected" in caught.value.message


def test_non_string_symbol() -> None:
    """A symbol that is not a string is refused."""
    with pytest.raises(RpcError, match="symbol must be a string"):
        parse_symbol(5)


@pytest.mark.parametrize(
    ("text", "quote", "kind", "inst_type"),
    [
        ("USDT.swap", "USDT", "swap", "SWAP"),
        ("usd.swap", "USD", "swap", "SWAP"),
        ("USDT.futures", "USDT", "futures", "FUTURES"),
        ("USD.futures", "USD", "futures", "FUTURES"),
        ("USDT.option", "USDT", "option", "OPTION"),
    ],
)
def test_ranges(text: str, quote: str, kind: str, inst_type: str) -> None:
    """List calls accept ranges such as USDT.swap."""
    selector = parse_symbol_or_range(text)
    assert isinstance(selector, SymbolRange)
    assert (selector.quote, selector.kind, selector.inst_type) == (quote, kind, inst_type)
    assert selector.fmz == f"{quote}.{kind}"


def test_range_parser_still_parses_symbols() -> None:
    """parse_symbol_or_range returns a SymbolRef for ordinary symbols."""
    assert isinstance(parse_symbol_or_range("BTC_USDT.swap"), SymbolRef)
    assert isinstance(parse_symbol_or_range("ETH_USDT"), SymbolRef)
