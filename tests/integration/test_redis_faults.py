"""
The shared budget when Redis hangs rather than dies: three daemons (``twistd fmzokx``
children, as in ``test_shared_budget``) in front of ``twistd okxsim`` with OKX's rate
limits on, sharing one account's budgets through a real redis-server.

* **Redis frozen** (SIGSTOP: connections stay open, nothing answers) while waves of
  calls arrive: every daemon goes local within a second of the freeze (not 4.3 s), the
  calls that were waiting on Redis are paced on the local shares (okxsim refuses none:
  once 19 of 90 orders drew 50011), and after SIGCONT the daemons take shared slots
  again at once, with no slot reserved for callers long gone (calls once waited ~10 s).
* **One daemon cut off** (its Redis connection through a TCP proxy that stops passing
  bytes) while the other two live: it waits out what it knows of the shared window and
  until the others keep its share free, so okxsim still refuses none.

Run alone: ``python -m pytest tests/integration/test_redis_faults.py``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest_twisted
from twisted.internet import protocol, reactor
from twisted.internet.defer import ensureDeferred, gatherResults

from tests.integration.test_shared_budget import (
    Cluster,
    assert_all_answered,
    shared_options,
    sleep,
)
from tests.redisserver import RedisServer

# With the rig's 1 s guard a window is 3 s: the slowest call may wait out a frozen
# Redis's presence time and a window before its share opens, then queue in it.
WINDOW = 2.0 + 1.0


async def waves(cluster: Cluster, count: int, every: float, **burst: int) -> list[Any]:
    """``count`` bursts, one every ``every`` seconds, on every daemon."""

    async def wave(n: int) -> list[Any]:
        await sleep(every * n)
        return await cluster.burst(**burst)

    results = await gatherResults([ensureDeferred(wave(n)) for n in range(count)])
    return [reply for replies in results for reply in replies]


def redis_ms(server: RedisServer) -> int:
    seconds, micros = server.cli("TIME").split()
    return int(seconds) * 1000 + int(micros) // 1000


def phantom_slots(server: RedisServer, since_ms: int) -> list[tuple[str, str, int]]:
    """Reservations (not carried sends) for a slot at or after ``since_ms``."""
    found = []
    for key in server.cli("KEYS", "fmzokx:slots:*").split():
        entries = server.cli("ZRANGE", key, "0", "-1", "WITHSCORES").split()
        for member, score in zip(entries[::2], entries[1::2], strict=True):
            if ":c" not in member and int(float(score)) >= since_ms:
                found.append((key, member, int(float(score))))
    return found


async def degraded_at(cluster: Cluster, daemon: int) -> float:
    """When (time.monotonic) the daemon went local, from its /healthz."""
    shared = (await cluster.health(daemon))["shared_state"]
    assert shared["state"] == "degraded", shared
    return time.monotonic() - float(shared["since_seconds"])


@pytest_twisted.ensureDeferred
async def test_frozen_redis_under_waves_of_calls(redis_server: RedisServer) -> None:
    cluster = Cluster()
    try:
        # the documented 50 ms --shared-state-timeout
        await cluster.start_daemons(3, *shared_options(redis_server))
        await cluster.until_all(lambda h: h["shared_state"]["state"] == "shared")
        await cluster.warm_up()
        frozen: list[float] = []
        frozen_at_ms: list[int] = []

        async def freeze_soon() -> None:
            await sleep(0.3)
            frozen_at_ms.append(redis_ms(redis_server))
            redis_server.pause()
            frozen.append(time.monotonic())

        # 90 orders (OKX: 60 per 2 s on one instrument), 30 balance and 30 open-order
        # reads, in five waves over a second; Redis freezes after the second wave.
        replies, _ = await gatherResults([
            ensureDeferred(waves(cluster, 5, 0.2, accounts=2, orders=2, trades=6)),
            ensureDeferred(freeze_soon()),
        ])
        assert_all_answered(cluster, replies)
        state = await cluster.sim_state()
        assert state["rejected"] == {}
        assert len(state["orders"]) == 90
        for daemon in range(3):
            # a heartbeat (every 0.25 s) or a call finds it within the patience cap
            assert await degraded_at(cluster, daemon) - frozen[0] < 1.0

        await sleep(max(0.0, frozen[0] + 2 * WINDOW + 0.5 - time.monotonic()))
        redis_server.resume()
        resumed = time.monotonic()
        resumed_ms = redis_ms(redis_server)
        await cluster.until_all(lambda h: h["shared_state"]["state"] == "shared")
        assert time.monotonic() - resumed < 3.0  # a probe (every 0.5 s), no lock-out
        # The EVALSHAs that sat in the frozen Redis's sockets reserved nothing: no slot
        # at or after the resume but carried local sends (member "...:cN"). (Slots taken
        # before the freeze lie at most a window ahead of it; the freeze lasted longer.)
        assert resumed_ms - frozen_at_ms[0] > 2 * WINDOW * 1000
        assert phantom_slots(redis_server, resumed_ms) == []
        await sleep(WINDOW + 0.1)  # the carried local sends have left the window
        cluster.answered.clear()
        replies = await cluster.burst(accounts=3, orders=3, trades=5)
        assert_all_answered(cluster, replies)
        state = await cluster.sim_state()
        assert state["rejected"] == {}
        assert len(state["orders"]) == 90 + 15
    finally:
        redis_server.resume()
        await cluster.stop()


class _Pipe(protocol.Protocol):
    """One side of a proxied connection; holds what it receives while frozen."""

    peer: _Pipe | None = None

    def __init__(self, proxy: StallingProxy) -> None:
        self.proxy = proxy
        self.held: list[bytes] = []

    def dataReceived(self, data: bytes) -> None:
        if self.proxy.frozen or self.peer is None or self.peer.transport is None:
            self.held.append(data)
        else:
            self.peer.transport.write(data)

    def flush(self) -> None:
        held, self.held = self.held, []
        for data in held:
            self.dataReceived(data)

    def connectionLost(self, reason: Any = None) -> None:
        self.proxy.pipes.discard(self)
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.loseConnection()


class StallingProxy:
    """A TCP proxy to Redis that can stop passing bytes, connections left open."""

    def __init__(self, port: int) -> None:
        self.frozen = False
        self.pipes: set[_Pipe] = set()
        proxy = self

        class Upstream(protocol.ClientFactory):
            def __init__(self, downstream: _Pipe) -> None:
                self.downstream = downstream

            def buildProtocol(self, addr: Any) -> _Pipe:
                pipe = _Pipe(proxy)
                pipe.peer, self.downstream.peer = self.downstream, pipe
                proxy.pipes.add(pipe)
                reactor.callLater(0, self.downstream.flush)  # type: ignore[attr-defined]
                return pipe

        class Downstream(protocol.Factory):
            def buildProtocol(self, addr: Any) -> _Pipe:
                pipe = _Pipe(proxy)
                proxy.pipes.add(pipe)
                reactor.connectTCP(  # type: ignore[attr-defined]
                    "127.0.0.1", port, Upstream(pipe)
                )
                return pipe

        self.listening = reactor.listenTCP(  # type: ignore[attr-defined]
            0, Downstream(), interface="127.0.0.1"
        )
        self.url = f"redis://127.0.0.1:{self.listening.getHost().port}/0"

    def freeze(self) -> None:
        self.frozen = True

    def thaw(self) -> None:
        self.frozen = False
        for pipe in list(self.pipes):
            pipe.flush()

    async def stop(self) -> None:
        await self.listening.stopListening()
        for pipe in list(self.pipes):
            if pipe.transport is not None:
                pipe.transport.abortConnection()


@pytest_twisted.ensureDeferred
async def test_one_daemon_cut_off_while_the_others_live(redis_server: RedisServer) -> None:
    proxy = StallingProxy(redis_server.port)
    cluster = Cluster()
    try:
        direct = shared_options(redis_server)
        through = ["--shared-state", proxy.url, *direct[2:]]
        await cluster.start_daemons(1, *through)
        await cluster.start_daemons(2, *direct)
        await cluster.until_all(lambda h: h["shared_state"]["state"] == "shared")
        await cluster.warm_up()
        cut: list[float] = []

        async def cut_soon() -> None:
            await sleep(0.3)
            proxy.freeze()
            cut.append(time.monotonic())

        # 90 orders in waves over 1.6 s on all three; daemon 0 loses Redis in the middle
        replies, _ = await gatherResults([
            ensureDeferred(waves(cluster, 5, 0.4, accounts=2, orders=2, trades=6)),
            ensureDeferred(cut_soon()),
        ])
        assert_all_answered(cluster, replies)
        assert await degraded_at(cluster, 0) - cut[0] < 1.0
        for daemon in (1, 2):
            assert (await cluster.health(daemon))["shared_state"]["state"] == "shared"
        state = await cluster.sim_state()
        assert state["rejected"] == {}
        assert len(state["orders"]) == 90

        proxy.thaw()
        await cluster.until_all(lambda h: h["shared_state"]["state"] == "shared", limit=15)
        await sleep(WINDOW + 0.1)
        cluster.answered.clear()
        replies = await cluster.burst(accounts=3, orders=3, trades=5)
        assert_all_answered(cluster, replies)
        state = await cluster.sim_state()
        assert state["rejected"] == {}
    finally:
        await cluster.stop()
        await proxy.stop()
