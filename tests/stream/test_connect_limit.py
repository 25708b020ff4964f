"""
OKX's WebSocket connection limit -- 3 new connections a second per IP (WebSocket ›
Connect, "Connection limit") -- counts every connection from the daemon's address, the
market data's and the private sessions' alike: the daemon keeps both within it together.
"""

from __future__ import annotations

from typing import Any

from fmzokx.sim import DEFAULT_ACCOUNT, SimAccount
from tests.stack import Stack

KEYS = tuple(
    SimAccount(key=f"limit-key-{n}", secret=f"limit-secret-{n}", passphrase=f"pass-{n}")
    for n in range(4)
)


def _at_once(stack: Stack, calls: list[tuple[SimAccount, str, dict[str, str]]]) -> list[Any]:
    """Docker calls from several keys sent in one instant; their replies."""
    envelopes = []
    for account, method, params in calls:
        envelope = stack.envelope(method, params)
        envelope["access_key"] = account.key
        envelope["secret_key"] = f"{account.secret},{account.passphrase}"
        envelopes.append(envelope)
    return stack.at_once(envelopes)


def test_market_data_and_private_sessions_share_the_connection_limit() -> None:
    """
    Two market-data connections and four keys' private sessions wanted at once: six
    handshakes, spread over two seconds, none refused by okxsim's per-IP limit.
    """
    stack = Stack(rate_limits=True, market_data="ws", private_stream=True,
                  accounts=(DEFAULT_ACCOUNT, *KEYS))
    assert stack.streams is not None and stack.private is not None
    calls = [(DEFAULT_ACCOUNT, "ticker", {"symbol": "BTC_USDT"}),
             (DEFAULT_ACCOUNT, "trades", {"symbol": "BTC_USDT"})]
    calls += [(account, "accounts", {}) for account in KEYS]
    replies = _at_once(stack, calls)
    assert all("error" not in reply for reply in replies), replies
    stack.advance(10.0)
    assert "WS connect" not in stack.sim.limiter.rejections()
    sessions = stack.sim.ws.state()
    assert len(sessions["/ws/v5/private"]) == len(KEYS)
    assert len(sessions["/ws/v5/public"]) == len(sessions["/ws/v5/business"]) == 1
