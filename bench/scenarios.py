"""
The calls the benchmark makes, each in two forms: through the daemon (the docker's RPC
envelope) and directly to okxsim (the equivalent OKX v5 request, signed when private).

Direct signed requests are signed with :mod:`fmzokx.okx.rest.signing`, the same code the
daemon uses; a signature is reused for up to a second (OKX accepts a timestamp within
30 s), so signing costs the direct path nothing measurable and the difference between the
two paths is the daemon's own work plus one extra loopback hop.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fmzokx.okx.rest.signing import encode_body, encode_query, format_timestamp, sign

from .load import http_request

__all__ = [
    "KEY",
    "PASSPHRASE",
    "SECRET",
    "Scenario",
    "daemon_ok",
    "direct_ok",
    "okx_parts",
    "okx_request_factory",
    "rpc_body",
    "scenarios",
]

KEY = "okxsim-demo-key"
SECRET = "okxsim-demo-secret"
PASSPHRASE = "okxsim-demo-pass"
RPC_PATH = "/OKX"

#: A resting buy far below the market: it never fills, freezes 0.1 USDT.
ORDER_PRICE = "1000"
ORDER_AMOUNT = "0.0001"

_nonce = itertools.count(int(time.time() * 1000) * 1000)


def rpc_body(method: str, params: dict[str, str], *, signed: bool) -> bytes:
    """The docker's JSON envelope for ``method`` (params as strings, as the docker sends)."""
    return json.dumps(
        {
            "access_key": KEY if signed else "",
            "secret_key": f"{SECRET},{PASSPHRASE}" if signed else "",
            "method": method,
            "params": params,
            "nonce": next(_nonce),
        },
        separators=(",", ":"),
    ).encode()


def daemon_ok(body: bytes) -> bool:
    """A daemon reply is a success when it carries ``data`` and no ``error``."""
    return body.startswith(b'{"data"') or (b'"data"' in body and b'"error"' not in body[:12])


def direct_ok(body: bytes) -> bool:
    """An OKX reply is a success when ``code`` is ``"0"``."""
    return b'"code":"0"' in body[:64]


def okx_parts(
    method: str,
    path: str,
    query: dict[str, str] | None = None,
    payload: Any = None,
    *,
    signed: bool,
) -> tuple[str, dict[str, str], bytes]:
    """(request target, headers, body) of one OKX v5 call, signed now when ``signed``."""
    qs = encode_query(query or {})
    target = path + (f"?{qs}" if qs else "")
    body = encode_body(payload) if payload is not None else b""
    headers: dict[str, str] = {}
    if signed:
        timestamp = format_timestamp(time.time())
        headers = {
            "OK-ACCESS-KEY": KEY,
            "OK-ACCESS-SIGN": sign(SECRET, timestamp, method, target, body),
            "OK-ACCESS-TIMESTAMP": timestamp,
            "OK-ACCESS-PASSPHRASE": PASSPHRASE,
        }
    return target, headers, body


def okx_request_factory(
    port: int,
    method: str,
    path: str,
    query: dict[str, str] | None = None,
    payload: Any = None,
    *,
    signed: bool,
    close: bool = False,
) -> Callable[[], bytes]:
    """A factory of OKX v5 request bytes, re-signing at most once a second."""
    if not signed:
        target, headers, body = okx_parts(method, path, query, payload, signed=False)
        request = http_request(method, target, port, body, headers, close=close)
        return lambda: request

    cache: dict[str, Any] = {"at": -10.0, "bytes": b""}

    def factory() -> bytes:
        now = time.monotonic()
        if now - cache["at"] >= 1.0:
            target, headers, body = okx_parts(method, path, query, payload, signed=True)
            cache["bytes"] = http_request(method, target, port, body, headers, close=close)
            cache["at"] = now
        request: bytes = cache["bytes"]
        return request

    return factory


@dataclass(frozen=True)
class Scenario:
    """One docker method and the direct OKX request it is compared with."""

    name: str
    rpc_method: str
    rpc_params: dict[str, str]
    signed: bool
    okx_method: str
    okx_path: str
    okx_query: dict[str, str] | None = None
    okx_body: Any = None

    def daemon_factory(self, port: int, *, close: bool = False) -> Callable[[], bytes]:
        """Request bytes for the daemon (a fresh nonce each call, as the docker sends)."""

        def factory() -> bytes:
            body = rpc_body(self.rpc_method, self.rpc_params, signed=self.signed)
            return http_request("POST", RPC_PATH, port, body, close=close)

        return factory

    def direct_parts(self) -> tuple[str, dict[str, str], bytes]:
        """(target, headers, body) of the direct call, signed now if private (for wrk)."""
        return okx_parts(
            self.okx_method, self.okx_path, self.okx_query, self.okx_body, signed=self.signed
        )

    def rpc_bytes(self) -> bytes:
        """One RPC body for this call (for wrk, which repeats it; fine for reads)."""
        return rpc_body(self.rpc_method, self.rpc_params, signed=self.signed)

    def direct_factory(self, port: int, *, close: bool = False) -> Callable[[], bytes]:
        """Request bytes for okxsim directly."""
        return okx_request_factory(
            port,
            self.okx_method,
            self.okx_path,
            self.okx_query,
            self.okx_body,
            signed=self.signed,
            close=close,
        )


def scenarios() -> list[Scenario]:
    """ticker, depth (limit 20), accounts (signed) and trade (signed POST)."""
    return [
        Scenario(
            "ticker", "ticker", {"symbol": "BTC_USDT"}, False,
            "GET", "/api/v5/market/ticker", {"instId": "BTC-USDT"},
        ),
        Scenario(
            "depth", "depth", {"symbol": "BTC_USDT", "limit": "20"}, False,
            "GET", "/api/v5/market/books", {"instId": "BTC-USDT", "sz": "20"},
        ),
        Scenario(
            "accounts", "accounts", {}, True,
            "GET", "/api/v5/account/balance",
        ),
        Scenario(
            "trade", "trade",
            {"symbol": "BTC_USDT", "type": "buy", "price": ORDER_PRICE, "amount": ORDER_AMOUNT},
            True,
            "POST", "/api/v5/trade/order", None,
            {
                "instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit",
                "px": ORDER_PRICE, "sz": ORDER_AMOUNT,
            },
        ),
    ]
