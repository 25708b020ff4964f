"""
The slot script's arguments and replies, NOSCRIPT recovery and atomicity under concurrent
takers in a real redis-server, and Redis keys that carry a fingerprint, never a key. What
the script answers call by call (the window, FIFO, refusals, carrying, expiry, presence)
is the table in ``cases``, run against the script and the fake in ``test_fake_agrees``.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred, gatherResults

from fmzokx.okx.credentials import fingerprint
from fmzokx.okx.pacing.shared.connection import RedisConnection
from fmzokx.okx.pacing.shared.script import (
    RESERVE_SCRIPT,
    Presence,
    Reply,
    budget_redis_key,
    hosts_redis_key,
    reserve_args,
)
from tests.redisserver import RedisServer

from .support import connected

KEY = "fmzokx:slots:GET:/api/v5/account/balance:key-0123abcd"
HOSTS = hosts_redis_key("fmzokx")


async def take(
    connection: RedisConnection,
    *,
    limit: int = 3,
    window: float = 1.0,
    max_wait: float = 60.0,
    member: str,
    key: str = KEY,
) -> Reply:
    raw = await connection.run(
        RESERVE_SCRIPT, [key, HOSTS], reserve_args(limit, window, max_wait, member)
    )
    return Reply.parse(raw)


def scores(server: RedisServer, key: str = KEY) -> list[int]:
    out = server.cli("ZRANGE", key, "0", "-1", "WITHSCORES").split()
    return [int(float(value)) for value in out[1::2]]


# -- pure parts ------------------------------------------------------------------------


def test_args_round_so_the_budget_never_loosens() -> None:
    presence = Presence("d1", 3, 1.0)
    assert reserve_args(
        10, 2.1, 4.9999, "m", (0.0105, -0.0305), presence=presence, not_after_ms=7
    ) == ["10", "2100", "4999", "m", "7", "d1", "3", "3", "1000", "10", "-31"]
    assert reserve_args(10, 2.1001, -1, "m") == ["10", "2101", "-1", "m", "0", "-", "1", "10",
                                                  "1000"]


def test_reply_parsing() -> None:
    assert Reply.parse([1, 250, 5000, 250]) == Reply(True, 0.25, False, 5.0, 0.25)
    assert Reply.parse([0, 7000, 5000, 6000]) == Reply(False, 7.0, False, 5.0, 6.0)
    assert Reply.parse([2, 0, 5000, -1000]) == Reply(False, 0.0, True, 5.0, -1.0)
    for bad in (None, "OK", [1], [1, 250], [3, 0, 0, 0], [1, "5", 0, 0], [True, 0, 0, 0]):
        with pytest.raises(ValueError):
            Reply.parse(bad)


def test_redis_keys_hold_fingerprints_not_keys() -> None:
    api_key = "8f2c1d3e-4b5a-6c7d-8e9f-0a1b2c3d4e5f"
    key = budget_redis_key(
        "desk1", ("POST", "/api/v5/trade/order", fingerprint(api_key), "BTC-USDT-SWAP")
    )
    assert key == (
        f"desk1:slots:POST:/api/v5/trade/order:{fingerprint(api_key)}:BTC-USDT-SWAP"
    )
    # Something that is not a fingerprint in the identity slot is hashed, never stored.
    leaked = budget_redis_key("ns", ("GET", "/api/v5/account/balance", api_key))
    assert api_key not in leaked and api_key[:8] not in leaked
    assert leaked.startswith("ns:slots:GET:/api/v5/account/balance:h-")
    # A qualifier a caller chose (the pass-through) cannot shape the key.
    odd = budget_redis_key("ns", ("GET", "/api/v5/x", "ip", "a:b*c\r\nFLUSHALL"))
    assert "FLUSHALL" not in odd and "\n" not in odd
    assert budget_redis_key("ns", ("GET", "/api/v5/public/time", "ip")) == (
        "ns:slots:GET:/api/v5/public/time:ip"
    )
    assert budget_redis_key("ns", ("GET", "/api/v5/x", "ip", "")).endswith(":ip:-")


# -- in Redis --------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_noscript_reloads(redis_server: RedisServer) -> None:
    """After SCRIPT FLUSH (or a Redis restart) EVALSHA's NOSCRIPT loads it once more."""
    connection = await connected(redis_server.url)
    try:
        assert (await take(connection, member="a")).taken
        redis_server.cli("SCRIPT", "FLUSH")
        assert redis_server.cli("SCRIPT", "EXISTS", RESERVE_SCRIPT.sha).strip() == "0"
        assert (await take(connection, member="b")).taken
        assert redis_server.cli("SCRIPT", "EXISTS", RESERVE_SCRIPT.sha).strip() == "1"
    finally:
        await connection.stop()


@pytest_twisted.ensureDeferred
async def test_concurrent_takers_never_overfill_a_window(redis_server: RedisServer) -> None:
    """
    Five connections (five daemons) each ask for 40 slots at once, 10 per 1 s: every
    slot is handed out once, in one queue, and no 1 s window holds more than 10.
    """
    connections = [await connected(redis_server.url) for _ in range(5)]
    try:
        requests = [
            take(c, limit=10, window=1.0, max_wait=60, member=f"d{n}:{i}")
            for i in range(40)
            for n, c in enumerate(connections)
        ]
        replies = await gatherResults([ensureDeferred(r) for r in requests])
        assert all(r.taken for r in replies)
        times = scores(redis_server)
        assert len(times) == 200
        assert all(times[i + 10] - times[i] >= 1000 for i in range(len(times) - 10))
        # the queue is dense: 200 slots at 10 per second end about 19 s ahead
        assert 18_900 <= times[-1] - times[0] <= 19_100
    finally:
        for connection in connections:
            await connection.stop()
