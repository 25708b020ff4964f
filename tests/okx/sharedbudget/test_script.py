"""
The slot script, run in a real redis-server: OKX's sliding window, first come first
served, refusal without a trace, carrying, expiry, NOSCRIPT recovery, atomicity under
concurrent takers, and Redis keys that carry a fingerprint, never a key.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred, gatherResults

from fmzokx.okx.credentials import fingerprint
from fmzokx.okx.pacing.shared.connection import RedisConnection
from fmzokx.okx.pacing.shared.script import (
    PRESENCE_SCRIPT,
    RESERVE_SCRIPT,
    Presence,
    Reply,
    budget_redis_key,
    hosts_redis_key,
    reserve_args,
)
from tests.redisserver import RedisServer

from .support import connected, sleep

KEY = "fmzokx:slots:GET:/api/v5/account/balance:key-0123abcd"
HOSTS = hosts_redis_key("fmzokx")


async def take(
    connection: RedisConnection,
    *,
    limit: int = 3,
    window: float = 1.0,
    max_wait: float = 60.0,
    member: str,
    carried: tuple[float, ...] = (),
    key: str = KEY,
    presence: Presence | None = None,
    not_after_ms: int = 0,
) -> Reply:
    raw = await connection.run(
        RESERVE_SCRIPT, [key, HOSTS],
        reserve_args(limit, window, max_wait, member, carried, presence=presence,
                     not_after_ms=not_after_ms),
    )
    return Reply.parse(raw)


def redis_ms(server: RedisServer) -> int:
    seconds, micros = server.cli("TIME").split()
    return int(seconds) * 1000 + int(micros) // 1000


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
async def test_window_limit_and_fifo(redis_server: RedisServer) -> None:
    """3 per 1 s: three slots now, then each later caller queues behind the last one."""
    connection = await connected(redis_server.url)
    try:
        replies = [await take(connection, member=f"m{i}") for i in range(7)]
        assert [r.taken for r in replies] == [True] * 7
        assert [r.wait for r in replies[:3]] == [0, 0, 0]
        # the 4th waits for the 1st to leave the window, the 7th for the 4th
        assert 0.95 <= replies[3].wait <= 1.0
        assert 1.95 <= replies[6].wait <= 2.0
        # first come, first served: the slots lie in the order they were asked for
        assert redis_server.cli("ZRANGE", KEY, "0", "-1").split() == [f"m{i}" for i in range(7)]
        times = scores(redis_server)
        assert len(times) == 7
        assert all(times[i + 3] - times[i] >= 1000 for i in range(len(times) - 3))
    finally:
        await connection.stop()


@pytest_twisted.ensureDeferred
async def test_too_far_is_refused_and_not_recorded(redis_server: RedisServer) -> None:
    connection = await connected(redis_server.url)
    try:
        for i in range(3):
            assert (await take(connection, member=f"m{i}", max_wait=0.5)).taken
        refused = await take(connection, member="late", max_wait=0.5)
        assert not refused.taken and 0.9 <= refused.wait <= 1.0
        assert len(scores(redis_server)) == 3
        assert "late" not in redis_server.cli("ZRANGE", KEY, "0", "-1")
    finally:
        await connection.stop()


@pytest_twisted.ensureDeferred
async def test_window_slides_on_redis_time(redis_server: RedisServer) -> None:
    connection = await connected(redis_server.url)
    try:
        for i in range(3):
            await take(connection, member=f"a{i}", window=0.2)
        await sleep(0.25)
        again = [await take(connection, member=f"b{i}", window=0.2) for i in range(3)]
        assert [r.wait for r in again] == [0, 0, 0]
        assert len(scores(redis_server)) == 3  # the old slots were pruned
    finally:
        await connection.stop()


@pytest_twisted.ensureDeferred
async def test_keys_expire(redis_server: RedisServer) -> None:
    """Every budget key gets a TTL of its newest slot plus one window."""
    connection = await connected(redis_server.url)
    try:
        for i in range(4):
            await take(connection, member=f"m{i}", window=1.0)
        ttl = int(redis_server.cli("PTTL", KEY))
        assert 1500 <= ttl <= 2000  # newest slot ~1 s away + 1 s window
        await take(connection, member="c", max_wait=-1, carried=(0.1,), key=KEY + "x")
        assert 0 < int(redis_server.cli("PTTL", KEY + "x")) <= 1000
    finally:
        await connection.stop()


@pytest_twisted.ensureDeferred
async def test_carried_sends_count(redis_server: RedisServer) -> None:
    """Sends made elsewhere (ages in ms) enter the window; too old ones do not."""
    connection = await connected(redis_server.url)
    try:
        carry = await take(
            connection, member="back", max_wait=-1, carried=(0.2, 0.1, 5.0, -0.05)
        )
        assert not carry.taken
        times = scores(redis_server)
        assert len(times) == 3  # the 5 s old one is outside the 1 s window
        assert times[-1] - times[0] == 250  # from 200 ms ago to 50 ms ahead
        nxt = await take(connection, member="n")
        assert nxt.taken and 0.75 <= nxt.wait <= 0.81  # when the oldest carried one leaves
    finally:
        await connection.stop()


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


@pytest_twisted.ensureDeferred
async def test_the_newest_slot_is_anyones(redis_server: RedisServer) -> None:
    """Every answer says where the window's newest slot lies, whoever holds it."""
    connection = await connected(redis_server.url)
    try:
        for i in range(5):
            await take(connection, member=f"other{i}")  # ~1 s ahead by the 5th
        refused = await take(connection, member="me", max_wait=0.1)
        assert not refused.taken
        assert 0.95 <= refused.newest <= 1.0
        assert abs(refused.now * 1000 - redis_ms(redis_server)) < 1000
    finally:
        await connection.stop()


@pytest_twisted.ensureDeferred
async def test_a_call_past_its_time_does_nothing(redis_server: RedisServer) -> None:
    """
    A call that reaches Redis after ``not_after`` (it sat in a frozen Redis's socket)
    reserves nothing, carries nothing and does not mark its daemon present.
    """
    connection = await connected(redis_server.url)
    try:
        past = redis_ms(redis_server) - 1
        stale = await take(connection, member="stale", not_after_ms=past, carried=(0.1,),
                           presence=Presence("d9", 2, 1.0))
        assert stale.expired and not stale.taken
        assert scores(redis_server) == []
        assert redis_server.cli("ZRANGE", HOSTS, "0", "-1").split() == []
        fresh = await take(connection, member="fresh",
                           not_after_ms=redis_ms(redis_server) + 5000)
        assert fresh.taken and not fresh.expired
    finally:
        await connection.stop()


@pytest_twisted.ensureDeferred
async def test_daemons_not_heard_from_keep_their_shares(redis_server: RedisServer) -> None:
    """
    10 per window among 3 daemons: with only d1 heard from, d2's and d3's shares (3
    each) are kept free; d2's heartbeat gives its share back; d2 silent for the presence
    time takes it away again.
    """
    connection = await connected(redis_server.url)
    try:
        one = Presence("d1", 3, 0.3)
        replies = [await take(connection, member=f"a{i}", limit=10, window=5.0,
                              max_wait=0.5, presence=one) for i in range(5)]
        assert [r.taken for r in replies] == [True] * 4 + [False]
        await connection.run(PRESENCE_SCRIPT, [HOSTS], ["d2", "300", "0"])
        more = [await take(connection, member=f"b{i}", limit=10, window=5.0, max_wait=0.5,
                           presence=one) for i in range(4)]
        assert [r.taken for r in more] == [True] * 3 + [False]
        await sleep(0.35)
        late = await take(connection, member="c", limit=10, window=5.0, max_wait=0.5,
                          presence=one)
        assert not late.taken
        assert set(redis_server.cli("ZRANGE", HOSTS, "0", "-1").split()) == {"d1"}
    finally:
        await connection.stop()
