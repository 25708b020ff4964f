"""
The docker's values, strictly: ASCII decimal numbers only, and no control character in
any text a handler reads (refused with the param's name, never stripped or echoed raw).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest

from fmzokx.fmz.envelope import Params, RpcError, parse_decimal, parse_envelope
from fmzokx.fmz.formatting import parse_order_id
from fmzokx.fmz.symbols import parse_symbol, parse_symbol_or_range

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

CONTROL_CHARACTERS = ["\r", "\n", "\r\n", "\t", "\x00", "\x1b", "\x7f", "\x85", "\x9b"]


@pytest.mark.parametrize(("text", "expected"), [
    ("5", "5"), ("-5", "-5"), ("+5", "5"), ("0.5", "0.5"), (".5", "0.5"), ("5.", "5"),
    ("1e3", "1E+3"), ("1E-3", "0.001"), ("2.5e+2", "250"), (" 5 ", "5"), ("0", "0"),
    ("-0", "-0"), ("65000.123456789", "65000.123456789"), ("1e30", "1E+30"),
    ("1e-30", "1E-30"),
])
def test_ascii_decimal_notation_is_accepted(text: str, expected: str) -> None:
    """What Decimal accepted in ASCII before stays accepted (spaces around it too)."""
    assert parse_decimal("param 'amount'", text) == Decimal(expected)


@pytest.mark.parametrize(("value", "expected"), [
    (5, Decimal(5)), (0.1, Decimal("0.1")), (-2.5, Decimal("-2.5")), (10**12, Decimal(10**12)),
])
def test_json_numbers_are_accepted(value: Any, expected: Decimal) -> None:
    assert parse_decimal("param 'amount'", value) == expected


@pytest.mark.parametrize("text", [
    "\u0662\u0660\u0660\u0660",        # Arabic-Indic 2000: once placed an order
    "\u06f2\u06f0\u06f0\u06f0",        # Extended Arabic-Indic (Persian)
    "\uff12\uff10\uff10\uff10",        # fullwidth 2000
    "\u0968\u0966\u0966\u0966",        # Devanagari
    "\U0001d7d0\U0001d7ce",            # mathematical bold digits
    "1\u0660",                         # ASCII mixed with another script's digit
    "\uff11e3", "1e\uff13",            # fullwidth in the mantissa, in the exponent
    "1_000", "1,000", "1 000", "0x10", "1e", "e5", ".", "+", "-", "--5", "5..0", "5.0.0",
    "\u00a05", "5\u3000", "\u20005",   # non-ASCII spaces
    "abc", "1.5abc",
])
def test_non_ascii_digits_and_odd_notation_are_refused(text: str) -> None:
    with pytest.raises(RpcError, match=r"^param 'price' must be a decimal number, got") as caught:
        parse_decimal("param 'price'", text)
    assert "ASCII" in caught.value.message
    assert caught.value.message.isascii()


@pytest.mark.parametrize("text", [
    "NaN", "nan", "-NaN", "sNaN", "Infinity", "-Infinity", "+inf", "INF",
])
def test_nan_and_infinity_are_refused(text: str) -> None:
    with pytest.raises(RpcError, match="param 'price' must be a finite decimal number"):
        parse_decimal("param 'price'", text)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_json_numbers_are_refused(value: float) -> None:
    """json.loads reads NaN and Infinity literals as floats."""
    with pytest.raises(RpcError, match="finite decimal"):
        parse_decimal("param 'price'", value)


@pytest.mark.parametrize("value", ["1e31", "1e999999", "-1e31", "1e-31", "1" * 40, 1e300,
                                   10**40])
def test_magnitudes_past_the_bound_are_refused(value: Any) -> None:
    """1e999999 once overflowed in order sizing (an internal error); now a clear error."""
    with pytest.raises(RpcError, match=r"param 'amount' is out of range \(magnitude"):
        parse_decimal("param 'amount'", value)


@pytest.mark.parametrize("text", ["\t5", "5\n", "5\r\n", "\x005", "5\x7f", "5\x85"])
def test_control_characters_in_numbers_are_refused(text: str) -> None:
    with pytest.raises(RpcError, match="param 'amount' contains a control character") as caught:
        parse_decimal("param 'amount'", text)
    assert not CONTROL.search(caught.value.message)


def test_params_accessors_use_the_strict_parser() -> None:
    params = Params({"price": "\u0662\u0660\u0660\u0660", "limit": "\uff16\uff10",
                     "since": "60.0", "n": "6e1", "half": "60.5"})
    with pytest.raises(RpcError, match="param 'price' must be a decimal number"):
        params.decimal("price")
    with pytest.raises(RpcError, match="param 'limit' must be a decimal number"):
        params.integer("limit")
    assert params.integer("since") == 60
    assert params.integer("n") == 60
    with pytest.raises(RpcError, match="param 'half' must be an integer"):
        params.integer("half")


@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
@pytest.mark.parametrize("name", ["symbol", "type", "id", "margin_mode"])
def test_text_params_refuse_control_characters(name: str, control: str) -> None:
    """Any text param: refused naming the param and the code point, never the raw char."""
    params = Params({name: f"BTC_USDT{control}"})
    with pytest.raises(RpcError) as caught:
        params.text(name)
    message = caught.value.message
    assert message.startswith(f"param '{name}' contains a control character (U+")
    assert f"U+{ord(control[0]):04X}" in message
    assert not CONTROL.search(message)


@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_symbols_refuse_control_characters(control: str, where: str) -> None:
    """parse_symbol once stripped a trailing CR/LF/tab and served BTC_USDT."""
    text = {"start": control + "BTC_USDT", "middle": "BTC_" + control + "USDT",
            "end": "BTC_USDT" + control}[where]
    for parse in (parse_symbol, parse_symbol_or_range):
        with pytest.raises(RpcError, match="symbol contains a control character") as caught:
            parse(text)
        assert not CONTROL.search(caught.value.message)


def test_symbols_still_trim_spaces_and_refuse_other_digits() -> None:
    assert parse_symbol(" BTC_USDT ").inst_id == "BTC-USDT"
    with pytest.raises(RpcError, match="invalid"):
        parse_symbol("BTC_USD.\u0662\u0665\u0660\u0663\u0662\u0668")
    with pytest.raises(RpcError, match="invalid symbol"):
        parse_symbol("BTC-USD-\uff12\uff15\uff10\uff13\uff12\uff18")


@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
def test_order_ids_refuse_control_characters(control: str) -> None:
    for text in (f"BTC-USDT,123{control}", f"BTC-USDT{control},123", f"{control}123"):
        with pytest.raises(RpcError, match="param 'id' contains a control character"):
            parse_order_id(text, "BTC-USDT")
    assert parse_order_id(" BTC-USDT,123 ", None) == ("BTC-USDT", "123")


def _body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
def test_method_refuses_control_characters(control: str) -> None:
    """``"ticker\\n"`` was stripped into ``ticker``; now it is refused."""
    for method in (f"ticker{control}", f"{control}ticker", f"__api_/api/v5/x{control}"):
        with pytest.raises(RpcError, match="field 'method' contains a control character") as e:
            parse_envelope(_body(method=method), label="OKX")
        assert not CONTROL.search(e.value.message)
    assert parse_envelope(_body(method=" ticker "), label="OKX").method == "ticker"


@pytest.mark.parametrize("nonce", ["\u0661\u0662\u0663", "\uff11\uff12", "1_2", "12\n"])
def test_nonce_is_ascii_digits_only(nonce: str) -> None:
    """The nonce names the order (clOrdId): other scripts' digits must not alias it."""
    with pytest.raises(RpcError, match="field 'nonce' must be an integer"):
        parse_envelope(_body(method="ticker", nonce=nonce), label="OKX")
    assert parse_envelope(_body(method="ticker", nonce=" -12 "), label="OKX").nonce == -12


@pytest.mark.parametrize(("body", "where"), [
    ('{"method": "\\ud800", "params": {}}', "field 'method'"),
    ('{"method": "ticker\\udfff", "params": {}}', "field 'method'"),
    ('{"method": "ticker", "params": {"symbol": "BTC\\ud800"}}', "param 'symbol'"),
    ('{"method": "ticker", "params": {"sym\\ud800": "BTC_USDT"}}', "param 'sym\\ud800'"),
    ('{"method": "ticker", "access_key": "\\ud800", "secret_key": "s,p", "params": {}}',
     "field 'access_key'"),
    ('{"method": "ticker", "access_key": "k", "secret_key": "a\\ud800,b", "params": {}}',
     "field 'secret_key'"),
    ('{"method": "ticker", "nonce": "\\ud800", "params": {}}', "field 'nonce'"),
    ('{"method": "__api_x", "params": {"a": [{"b": "\\ud800"}]}}', "param 'a'"),
    ('{"method": "ticker", "code": "\\ud800", "params": {}}', "field 'code'"),
    ('{"method": "ticker", "args": ["\\ud800"], "params": {}}', "field 'args'"),
])
def test_lone_surrogates_are_refused_naming_the_field(body: str, where: str) -> None:
    """
    ``"\\ud800"`` decodes to a lone surrogate, which no UTF-8 reply or log line can hold
    (it once ended as HTTP 500 "internal error" and a critical log line): a clear error
    naming where it is, never the value.
    """
    with pytest.raises(RpcError) as caught:
        parse_envelope(body.encode(), label="OKX")
    message = caught.value.message
    assert message.startswith(f"{where} contains a lone UTF-16 surrogate (U+D")
    message.encode("utf-8")  # the error itself is writable


def test_a_surrogate_pair_is_one_character_and_accepted() -> None:
    """``"\\ud83d\\ude00"`` is a valid pair (one emoji), not a lone surrogate."""
    request = parse_envelope(
        b'{"method": "ticker", "params": {"symbol": "\\ud83d\\ude00"}}', label="OKX"
    )
    assert request.params.raw("symbol") == "\U0001f600"
