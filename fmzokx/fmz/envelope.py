# -*- test-case-name: tests.fmz.test_resource -*-
"""
The docker's request envelope, parsed and validated at the edge.

The FMZ docker POSTs ``{"access_key", "secret_key", "method", "params", "nonce"}``; every
``params`` value arrives as a string (FMZ's own Go plugin decodes them as
``map[string]string``), though numbers are accepted too. :func:`parse_envelope` turns
the raw body into an :class:`RpcRequest` or raises :class:`RpcError` with a message that
says what was wrong and what is expected -- and never echoes a credential.

Two rules hold for every value a handler reads: numbers are ASCII decimal notation only
(``"٢٠٠٠"`` or ``"２０００"`` is not 2000, see :func:`parse_decimal`), and text never
carries a control character (``"BTC_USDT\\n"`` is refused, naming the param, rather than
silently stripped, see :func:`refuse_control`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from attrs import field, frozen

from fmzokx.fmz.credentials import CredentialsError, credentials_from_fmz
from fmzokx.logs import MIN_SECRET_LENGTH, remember_credentials
from fmzokx.okx.credentials import Credentials

__all__ = [
    "MAX_MAGNITUDE",
    "Params",
    "RpcError",
    "RpcRequest",
    "parse_decimal",
    "parse_envelope",
    "refuse_control",
]

_SCALARS = (str, int, float, bool)
# C0 controls (NUL, tab, CR, LF...), DEL and C1 controls.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A UTF-16 surrogate left alone: JSON's "\\ud800" decodes to one (a valid pair decodes
# to the character it encodes), and no UTF-8 text -- a reply, a log line -- can hold it.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# ASCII decimal notation: sign, digits with an optional point, an optional exponent.
# Spelled with [0-9], never \d, which matches every script's digits.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NOT_FINITE = frozenset({"nan", "snan", "inf", "infinity"})

MAX_MAGNITUDE = 30
"""
Numbers must lie within 1e-30..1e30 in magnitude (or be zero): wider than any price,
amount or time in milliseconds, and narrow enough that no arithmetic on them overflows
(``1e999999`` once reached the order sizing as an internal error).
"""
_ENVELOPE_FIELDS = frozenset({"access_key", "secret_key", "method", "params", "nonce", "args"})


class RpcError(Exception):
    """
    A request the daemon refuses; the message goes to the docker as ``{"error": ...}``.

    ``status`` is the HTTP status: 200 for protocol-level errors (the docker reads the
    ``error`` field), 4xx for transport-level ones (wrong verb, body too large).
    """

    def __init__(self, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@frozen
class Params:
    """
    The ``params`` object with typed, coercing accessors.

    Each accessor names the parameter and the expected form in its error, e.g.
    ``param 'amount' must be a decimal number, got 'abc'``.
    """

    values: Mapping[str, Any] = field(factory=dict)

    def has(self, name: str) -> bool:
        """True when ``name`` is present and not empty."""
        value = self.values.get(name)
        return value is not None and value != ""

    def raw(self, name: str) -> Any:
        """The value as sent, or ``None``."""
        return self.values.get(name)

    def text(self, name: str, default: str | None = None) -> str:
        """A string parameter; numbers are rendered as sent."""
        value = self.values.get(name)
        if value is None or value == "":
            if default is None:
                raise RpcError(f"missing param '{name}'")
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise RpcError(f"param '{name}' must be a string, got {_describe(value)}")
        if isinstance(value, str):
            return refuse_control(f"param '{name}'", value)
        return _render_number(value)

    def decimal(self, name: str, default: Decimal | None = None) -> Decimal:
        """A decimal number; floats are converted through their shortest repr."""
        value = self.values.get(name)
        if value is None or value == "":
            if default is None:
                raise RpcError(f"missing param '{name}' (a decimal number)")
            return default
        return parse_decimal(f"param '{name}'", value)

    def integer(self, name: str, default: int | None = None) -> int:
        """An integer (``"60"``, ``60`` or ``60.0``)."""
        value = self.values.get(name)
        if value is None or value == "":
            if default is None:
                raise RpcError(f"missing param '{name}' (an integer)")
            return default
        number = self.decimal(name)
        if number != number.to_integral_value():
            raise RpcError(f"param '{name}' must be an integer, got {_describe(value)}")
        return int(number)


def refuse_control(what: str, text: str) -> str:
    """
    ``text`` unchanged when it holds no control character (C0, DEL or C1).

    :raises RpcError: naming ``what`` (e.g. ``param 'symbol'``) and the character's code
        point, never echoing the character itself -- a stray CR or LF must not be
        silently stripped into a valid value, nor written raw into a reply or a log.
    """
    found = _CONTROL.search(text)
    if found is not None:
        raise RpcError(
            f"{what} contains a control character (U+{ord(found.group()):04X} at position "
            f"{found.start()}): send it without line breaks, tabs or other control characters"
        )
    return text


def parse_decimal(what: str, value: object) -> Decimal:
    """
    A finite decimal in ASCII notation, from a docker value (string, integer or float).

    Accepted: an optional sign, digits with an optional point (``5``, ``-0.5``, ``.5``,
    ``5.``), an optional exponent (``1e3``), surrounding spaces. Refused, with an error
    naming ``what``: other scripts' digits (``٢٠٠٠``, fullwidth ``２０００``), ``NaN``,
    ``Infinity``, ``1_000``, tabs, line breaks and other control characters, and
    magnitudes beyond :data:`MAX_MAGNITUDE`.

    :raises RpcError: as above.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RpcError(f"{what} must be a decimal number, got {_describe(value)}")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    else:
        refuse_control(what, value)
        text = value.strip(" ")
        if text.lstrip("+-").lower() in _NOT_FINITE:
            raise RpcError(f"{what} must be a finite decimal number, got {_describe(value)}")
        if not _DECIMAL.fullmatch(text):
            raise RpcError(
                f"{what} must be a decimal number, got {_describe(value)} (expected ASCII "
                "digits such as 0.5, -2 or 1e-3)"
            )
        number = Decimal(text)
    if not number.is_finite():
        raise RpcError(f"{what} must be a finite decimal number, got {_describe(value)}")
    if number and not -MAX_MAGNITUDE <= number.adjusted() <= MAX_MAGNITUDE:
        raise RpcError(
            f"{what} is out of range (magnitude 1e-{MAX_MAGNITUDE} to 1e{MAX_MAGNITUDE}), "
            f"got {_describe(value)}"
        )
    return number


def _render_number(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def _describe(value: Any) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return ascii(shown)
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


@frozen
class RpcRequest:
    """
    One validated docker call.

    :ivar label: the service-address path segment (``OKX`` in ``http://host:6666/OKX``),
        used only to label logs and metrics.
    :ivar method: the method name as sent (handlers are looked up case-insensitively).
    :ivar credentials: ``None`` when the docker sent no keys (public data only).
    :ivar http_method: the ``Http-Method`` header, used by the ``__api_`` pass-through.
    :ivar args: the legacy ``io`` transport's arguments (``params.args`` or top-level).
    :ivar extras: other top-level scalar fields (the legacy ``io`` op ``code`` may be one).
    """

    label: str
    method: str
    params: Params
    credentials: Credentials | None = field(repr=False)
    nonce: int | None = None
    http_method: str | None = None
    args: tuple[Any, ...] = ()
    extras: Mapping[str, Any] = field(factory=dict)

    def require_credentials(self) -> Credentials:
        """The credentials, or a clear error for methods that need an account."""
        if self.credentials is None:
            raise RpcError(
                f"method '{self.method}' needs an OKX API key: set the exchange's Access Key "
                "to the key and Secret Key to SECRET,PASSPHRASE"
            )
        return self.credentials


def parse_envelope(
    body: bytes, *, label: str, http_method: str | None = None
) -> RpcRequest:
    """
    Parse and validate a docker request body.

    :raises RpcError: for anything but a well-formed envelope; the message names the
        problem and the expected form.
    """
    if not body.strip():
        raise RpcError(
            "empty request body: expected a JSON object with access_key, secret_key, "
            "method and params"
        )
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RpcError("request body is not valid UTF-8: expected a UTF-8 JSON object") from None
    try:
        document = json.loads(text)
    except RecursionError:
        raise RpcError("request body is nested too deeply") from None
    except ValueError as error:
        # The decoder's message names a position, never the content around it.
        raise RpcError(f"request body is not valid JSON ({_position(error)})") from None
    if not isinstance(document, dict):
        raise RpcError(
            f"request body must be a JSON object, got {_describe(document)}: expected "
            '{"access_key": ..., "secret_key": ..., "method": ..., "params": {...}}'
        )

    access_key = document.get("access_key", "")
    secret_key = document.get("secret_key", "")
    if access_key is None:
        access_key = ""
    if secret_key is None:
        secret_key = ""
    if not isinstance(access_key, str):
        raise RpcError("field 'access_key' must be a string")
    if not isinstance(secret_key, str):
        raise RpcError("field 'secret_key' must be a string")
    try:
        credentials = credentials_from_fmz(access_key, secret_key)
    except CredentialsError as error:
        remember_credentials(part for part in secret_key.split(",") if part)
        raise RpcError(str(error)) from None
    if credentials is not None:
        remember_credentials((credentials.key, credentials.secret, credentials.passphrase))
        # Before any other error can quote a name or a value (cut short, where no mask
        # finds it): a request carrying its own credential is refused first.
        _refuse_own_credentials(document, credentials)
    if "\\u" in text:  # only an escape can make a surrogate: UTF-8 cannot carry one
        _refuse_surrogates(document)

    method = document.get("method")
    if not isinstance(method, str) or not method.strip(" "):
        raise RpcError("field 'method' must be a non-empty string (e.g. \"ticker\")")
    method = refuse_control("field 'method'", method).strip(" ")

    params_value = document.get("params", {})
    if params_value is None:
        params_value = {}
    if not isinstance(params_value, dict):
        raise RpcError(f"field 'params' must be a JSON object, got {_describe(params_value)}")

    nonce_value = document.get("nonce")
    nonce: int | None
    if nonce_value is None or nonce_value == "":
        nonce = None
    elif isinstance(nonce_value, bool):
        raise RpcError("field 'nonce' must be an integer")
    elif isinstance(nonce_value, int):
        nonce = nonce_value
    elif isinstance(nonce_value, str) and _INTEGER.fullmatch(nonce_value.strip(" ")):
        nonce = int(nonce_value.strip(" "))
    else:
        raise RpcError("field 'nonce' must be an integer")

    args_value = params_value.get("args", document.get("args", ()))
    if isinstance(args_value, str):
        args_value = _parse_args_text(args_value)
    if not isinstance(args_value, (list, tuple)):
        args_value = (args_value,)

    is_passthrough = method.startswith("__api_")
    if not is_passthrough:
        for name, value in params_value.items():
            if name == "args":
                continue
            if value is not None and not isinstance(value, _SCALARS):
                raise RpcError(
                    f"param '{name}' must be a string or number, got {_describe(value)}"
                )

    return RpcRequest(
        label=label,
        method=method,
        params=Params(params_value),
        credentials=credentials,
        nonce=nonce,
        http_method=http_method,
        args=tuple(args_value),
        extras={
            name: value
            for name, value in document.items()
            if name not in _ENVELOPE_FIELDS and isinstance(value, _SCALARS)
        },
    )


def _refuse_surrogates(document: dict[str, Any]) -> None:
    """
    Refuse a lone surrogate anywhere in the envelope (a name or a value, at any depth),
    naming where it is: it cannot be written as UTF-8, so it would otherwise fail later,
    in the reply or a log line, as an internal error. Iterative: depth is the decoder's.
    """
    pending: list[tuple[str, Any]] = []
    for name, value in document.items():
        where = f"field '{_shown(name)}'"
        pending.append((where, name))
        if name == "params" and isinstance(value, dict):
            pending.extend((f"param '{_shown(key)}'", key) for key in value)
            pending.extend((f"param '{_shown(key)}'", item) for key, item in value.items())
        else:
            pending.append((where, value))
    while pending:
        where, value = pending.pop()
        if isinstance(value, str):
            found = _SURROGATE.search(value)
            if found is not None:
                raise RpcError(
                    f"{where} contains a lone UTF-16 surrogate (U+{ord(found.group()):04X} at "
                    f"position {found.start()}), which is not text: send valid Unicode"
                )
        elif isinstance(value, dict):
            pending.extend((where, key) for key in value)
            pending.extend((where, item) for item in value.values())
        elif isinstance(value, list):
            pending.extend((where, item) for item in value)


_NOT_ECHOED = frozenset({"access_key", "secret_key", "nonce"})


def _refuse_own_credentials(document: dict[str, Any], credentials: Credentials) -> None:
    """
    Refuse a request whose method, parameters (names or values, at any depth) or other
    fields carry its own key, secret or passphrase, in any letter case.

    Such a value would otherwise be echoed -- whole or cut short, where no mask finds it
    -- in the error, the log line, the journal, a Redis key or OKX's own reply. Refused
    here, it reaches none of them; the error names the field, never the value.
    """
    needles = [
        (what, value.casefold())
        for what, value in (
            ("API key", credentials.key),
            ("secret key", credentials.secret),
            ("passphrase", credentials.passphrase),
        )
        if len(value) >= MIN_SECRET_LENGTH
    ]
    if not needles:
        return

    def check(where: str, text: str) -> None:
        folded = text.casefold()
        for what, needle in needles:
            if needle in folded:
                raise RpcError(
                    f"{where} carries this request's {what}: refused, and not sent or "
                    "recorded anywhere (a credential is never a parameter)"
                )

    params = document.get("params")
    names = [("a field name", name) for name in document]
    if isinstance(params, dict):
        names += [("a param name", name) for name in params]
    for where, name in names:  # names first: the errors below quote them
        check(where, name)
    pending: list[tuple[str, Any]] = []
    for name, value in document.items():
        if name in _NOT_ECHOED:
            continue
        if name == "params" and isinstance(value, dict):
            pending.extend((f"param '{_shown(key)}'", item) for key, item in value.items())
        else:
            pending.append((f"field '{_shown(name)}'", value))
    while pending:
        where, value = pending.pop()
        if isinstance(value, str):
            check(where, value)
        elif isinstance(value, dict):
            pending.extend((where, key) for key in value)
            pending.extend((where, item) for item in value.values())
        elif isinstance(value, list):
            pending.extend((where, item) for item in value)


def _shown(name: str) -> str:
    """A parameter's name for an error, surrogates escaped (the name may hold one)."""
    return _SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", name)[:40]


def _parse_args_text(text: str) -> Any:
    """``io`` args may arrive as a JSON string (``"[10]"``); fall back to one argument."""
    try:
        return json.loads(text)
    except ValueError:
        return (text,)


def _position(error: ValueError) -> str:
    lineno = getattr(error, "lineno", None)
    colno = getattr(error, "colno", None)
    message = getattr(error, "msg", "invalid JSON")
    if lineno is None:
        return str(message)
    return f"{message} at line {lineno} column {colno}"
