# -*- test-case-name: tests.stream.test_private -*-
"""
OKX's private WebSocket, the protocol part: the ``login`` request, the channels a
private session subscribes, and what OKX's refusals mean.

Login (WebSocket › Login): ``{"op": "login", "args": [{"apiKey", "passphrase",
"timestamp", "sign"}]}`` where ``timestamp`` is Unix time in **seconds** and ``sign`` is
base64(HMAC-SHA256(secret, timestamp + "GET" + "/users/self/verify")). OKX refuses a
timestamp more than 30 s away from its clock, so the time comes from the REST client's
estimate of OKX's clock. The request is built when it is sent and never kept or logged.

Channels (Trading account › WebSocket, Order book trading › Trade › WebSocket):
``account`` (a snapshot on subscribe, then on every balance event and at a regular
interval), ``positions`` with ``instType`` ``ANY`` (snapshot, events, interval) and
``orders`` with ``instType`` ``ANY`` (no snapshot: events only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fmzokx.okx.credentials import Credentials
from fmzokx.okx.endpoints import ACCOUNT_CHANNEL, ORDERS_CHANNEL, POSITIONS_CHANNEL
from fmzokx.okx.rest.signing import sign

__all__ = [
    "CHANNEL_ARGS",
    "LOGIN_PATH",
    "VIEWS",
    "login_request",
    "refusal_text",
]

LOGIN_PATH = "/users/self/verify"
"""The request path OKX's login signature covers (always with ``GET`` and no body)."""

CHANNEL_ARGS: tuple[dict[str, str], ...] = (
    {"channel": ACCOUNT_CHANNEL.name},
    {"channel": POSITIONS_CHANNEL.name, "instType": "ANY"},
    {"channel": ORDERS_CHANNEL.name, "instType": "ANY"},
)
"""Every subscription of a private session."""

VIEWS = ("accounts", "positions", "orders")
"""What a private copy answers: the balance, the positions, the orders."""

#: OKX's WebSocket error codes a login or private subscription can meet (WebSocket ›
#: Error codes), as fixed words: the ``msg`` OKX sends is not repeated in logs.
REFUSALS: Mapping[str, str] = {
    "60004": "invalid timestamp",
    "60005": "invalid API key",
    "60006": "login request expired (clock skew)",
    "60007": "invalid signature",
    "60008": "private channels are not served at this URL",
    "60009": "login failed",
    "60011": "not logged in",
    "60022": "bulk login partially succeeded",
    "60024": "wrong passphrase",
    "60032": "API key does not exist",
    "60033": "API key is not permitted on this URL (demo or live)",
}


def login_request(credentials: Credentials, server_time: Callable[[], float]) -> Callable[
    [], dict[str, str]
]:
    """
    What :class:`~.client.StreamConnection` calls on each open to build the login
    ``args`` item for ``credentials``, signed at OKX's time then.
    """

    def build() -> dict[str, str]:
        timestamp = str(int(server_time()))
        return {
            "apiKey": credentials.key,
            "passphrase": credentials.passphrase,
            "timestamp": timestamp,
            "sign": sign(credentials.secret, timestamp, "GET", LOGIN_PATH, b""),
        }

    return build


def refusal_text(event: Mapping[str, Any]) -> str:
    """A log-safe description of an ``error`` event: its code and OKX's meaning of it."""
    code = "".join(ch for ch in str(event.get("code", ""))[:8] if ch.isalnum())
    meaning = REFUSALS.get(code, "refused")
    return f"OKX {code or 'error'}: {meaning}"
