# -*- test-case-name: tests.stream.test_urls -*-
"""
Where OKX's WebSocket is, given the REST base URL the daemon uses.

OKX documents one WebSocket host per site and trading mode (Overview › Production
Trading Services and Demo Trading Services): the global site ``www.okx.com`` has
``wss://ws.okx.com:8443`` and, for demo trading (``x-simulated-trading: 1`` keys),
``wss://wspap.okx.com:8443``; the EEA site ``wseea``/``wseeapap``; the US site
``wsus``/``wsuspap``. The paths are ``/ws/v5/public``, ``/ws/v5/private`` and
``/ws/v5/business``. A plain ``http://`` simulator on this machine (okxsim) serves its
WebSocket on the same host and port.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fmzokx.okx.baseurl import is_loopback_host

__all__ = ["BUSINESS", "PRIVATE", "PUBLIC", "UnknownWebSocket", "ws_base_url", "ws_url"]

PUBLIC = "/ws/v5/public"
PRIVATE = "/ws/v5/private"
BUSINESS = "/ws/v5/business"

_SITES = {
    # REST host: (live WebSocket host, demo WebSocket host)
    "www.okx.com": ("ws.okx.com:8443", "wspap.okx.com:8443"),
    "okx.com": ("ws.okx.com:8443", "wspap.okx.com:8443"),
    "openapi.okx.com": ("ws.okx.com:8443", "wspap.okx.com:8443"),
    "eea.okx.com": ("wseea.okx.com:8443", "wseeapap.okx.com:8443"),
    "my.okx.com": ("wseea.okx.com:8443", "wseeapap.okx.com:8443"),
    "us.okx.com": ("wsus.okx.com:8443", "wsuspap.okx.com:8443"),
    "app.okx.com": ("wsus.okx.com:8443", "wsuspap.okx.com:8443"),
}


class UnknownWebSocket(ValueError):
    """No WebSocket URL is known for this REST URL; ``--okx-ws-url`` must name it."""


def ws_base_url(okx_url: str, simulated: bool = False) -> str:
    """
    The WebSocket base (scheme, host, port) matching the REST base ``okx_url``.

    ``simulated`` picks OKX's demo-trading host (its market differs from live).

    :raises UnknownWebSocket: for a host that is neither OKX nor a loopback simulator.
    """
    parts = urlsplit(okx_url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme == "http" and is_loopback_host(host):
        netloc = parts.netloc.rsplit("@", 1)[-1]
        return f"ws://{netloc}"
    if parts.scheme == "https" and host in _SITES:
        live, demo = _SITES[host]
        return f"wss://{demo if simulated else live}"
    raise UnknownWebSocket(
        f"no OKX WebSocket is known for {okx_url!r}: give it with --okx-ws-url "
        "(e.g. wss://ws.okx.com:8443) or use --market-data rest"
    )


def ws_url(base: str, path: str) -> str:
    """``base`` (``wss://host:port``, any trailing slash or path dropped) joined to ``path``."""
    parts = urlsplit(base.strip())
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise UnknownWebSocket(f"a WebSocket URL must start with ws:// or wss://, got {base!r}")
    return f"{parts.scheme}://{parts.netloc}{path}"
