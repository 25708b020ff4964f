# -*- test-case-name: tests.sim.test_ws_private,tests.sim.test_ws_protocol -*-
"""
OKX's WebSocket limits and timings, in one place, each with the section of OKX's v5 docs
it comes from (https://www.okx.com/docs-v5/en/).

"Overview > WebSocket > Connect" (``#overview-websocket-connect``):

- "Connection limit: 3 requests per second (based on IP)";
- "The total number of 'subscribe'/'unsubscribe'/'login' requests per connection is
  limited to 480 times per hour" (over it: 60014 "Requests too frequent");
- "The connection will break automatically if the subscription is not established or
  data has not been pushed for more than 30 seconds"; the close frame is 4004 "No data
  received in 30s" ("Error Code > WebSocket > Close Frame").

"Overview > WebSocket > Login" (``#overview-websocket-login``): "The request will expire
30 seconds after the timestamp".

"Overview > WebSocket > Connection count limit"
(``#overview-websocket-connection-count-limit``): "30 WebSocket connections per specific
WebSocket channel per sub-account" for ``orders``, ``account``, ``positions`` and
``balance_and_position`` (among others).

"Trading Account > WebSocket > Positions channel"
(``#trading-account-websocket-positions-channel``): ``updateInterval`` ``0`` pushes on
events only, ``2000``/``3000``/``4000`` also at that interval (ms), anything else "around
per 5 seconds". The account channel's section names only ``0``; okxsim uses the same
5 s for its regular push.
"""

from __future__ import annotations

from attrs import frozen

__all__ = [
    "CONNECT_RULE",
    "IDLE_CLOSE",
    "IDLE_TIMEOUT",
    "LOGIN_FAILED_CLOSE",
    "LOGIN_WINDOW",
    "OP_LIMIT",
    "OP_WINDOW",
    "PER_CHANNEL_CONNECTIONS",
    "PUSH_INTERVAL",
    "REGULAR_INTERVALS_MS",
    "REGULAR_PUSH_MS",
]


@frozen
class Rule:
    """At most ``limit`` events per ``window`` seconds."""

    limit: int
    window: float


CONNECT_RULE = Rule(3, 1.0)
"""New connections per second per IP."""
OP_LIMIT = 480
"""subscribe/unsubscribe/login requests allowed per connection per :data:`OP_WINDOW`."""
OP_WINDOW = 3600.0
IDLE_TIMEOUT = 30.0
"""Seconds without traffic before OKX closes a connection."""
IDLE_CLOSE = (4004, "No data received in 30s")
LOGIN_FAILED_CLOSE = (4001, "Login Failed")
"""The close frame after a refused login ("Error Code > WebSocket > Close Frame")."""
LOGIN_WINDOW = 30.0
"""Seconds a login ``timestamp`` may differ from the server's clock."""
PER_CHANNEL_CONNECTIONS = 30
"""Connections per private channel per account."""
PUSH_INTERVAL = 0.1
"""Seconds between the server's ticks (OKX's tickers and books channels: every 100 ms)."""
REGULAR_PUSH_MS = 5000
"""The default regular push of the ``account`` and ``positions`` channels."""
REGULAR_INTERVALS_MS = (2000, 3000, 4000)
"""The other regular intervals the ``positions`` channel's ``updateInterval`` accepts."""
