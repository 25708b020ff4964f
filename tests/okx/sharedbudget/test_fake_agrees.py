"""
The table of :mod:`.cases`, run once through the fake store on a :class:`Clock` (exactly)
and once through the real scripts on a redis-server (pytest-twisted, real time): both
must give the answers the table expects, so the fake the :class:`SharedSlots` tests rely
on does what production's Lua does.

Real time moves while the real run goes, so its times are compared within
:data:`SLACK`; the cases keep everything they tell apart further apart than that.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import pytest_twisted
from attrs import define
from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import Clock

from fmzokx.okx.pacing.shared.connection import RedisConnection
from fmzokx.okx.pacing.shared.script import (
    PRESENCE_SCRIPT,
    RESERVE_SCRIPT,
    Presence,
    Script,
    hosts_redis_key,
    reserve_args,
)
from tests.helpers import real_sleep as sleep
from tests.redisserver import RedisServer

from .cases import CASES, Case, Heartbeat
from .fakestore import FakeStore
from .support import connected

KEY = "fmzokx:slots:GET:/api/v5/account/balance:key-0123abcd"
HOSTS = hosts_redis_key("fmzokx")
SLACK = 60
"""Milliseconds a real-time result may be off by (a loaded machine is slow, not wrong)."""

STATE_SCRIPT = Script("""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return {now, redis.call('PTTL', KEYS[1]), redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES'),
        redis.call('ZRANGE', KEYS[2], 0, -1)}
""")
"""Test-only: Redis's time, the budget's PTTL, its slots and the daemons heard from."""


@define
class State:
    now: int
    ttl: int  # PTTL: -2 when the key does not exist
    slots: list[tuple[str, int]]  # (member, Redis ms) in ZRANGE order
    hosts: set[str]


Call = Callable[[Script, list[str], list[str]], Awaitable[Any]]


async def play(
    case: Case,
    call: Call,
    state: Callable[[], Awaitable[State]],
    wait_until: Callable[[int], Awaitable[None]],
    slack: int,
) -> None:
    """Run ``case``'s steps through ``call`` and check every answer the table expects."""
    start = (await state()).now

    def near(actual: int, expected: int, what: str) -> None:
        assert abs(actual - expected) <= slack, f"{what}: {actual} is not {expected}"

    for number, step in enumerate(case.steps):
        where = f"{case.name} step {number}"
        await wait_until(step.at)
        not_after = 0 if step.not_after is None else start + step.at + step.not_after
        if isinstance(step, Heartbeat):
            now = await call(PRESENCE_SCRIPT, [HOSTS], [step.host, str(step.ttl), str(not_after)])
            near(now - start, step.at, f"{where} now")
            assert (await state()).hosts == step.hosts, where
            continue
        args = reserve_args(
            step.limit, step.window / 1000, step.max_wait / 1000, step.member,
            [age / 1000 for age in step.carried],
            presence=Presence(step.host, step.hosts, step.presence_ttl / 1000),
            not_after_ms=not_after,
        )
        code, wait, now, newest = await call(RESERVE_SCRIPT, [KEY, HOSTS], args)
        expect = step.expect
        assert code == expect.code, where
        near(now - start, step.at, f"{where} now")
        near(wait, expect.wait, f"{where} wait")
        near(newest, expect.newest, f"{where} newest")
        if expect.slots is None and expect.ttl is None and expect.hosts is None:
            continue
        after = await state()
        if expect.slots is not None:
            assert [m for m, _ in after.slots] == [m for m, _ in expect.slots], where
            for (member, at), (_, expected) in zip(after.slots, expect.slots, strict=True):
                near(at - start, expected, f"{where} slot {member}")
        if expect.ttl is not None:
            if expect.ttl < 0:
                assert after.ttl == expect.ttl, where
            else:
                near(after.now + after.ttl - now, expect.ttl, f"{where} ttl")
        if expect.hosts is not None:
            assert after.hosts == expect.hosts, where


def _ids() -> list[str]:
    return [case.name for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_fake(case: Case) -> None:
    clock = Clock()
    clock.advance(1_765_000_000.0)  # a real epoch: not_after 0 means "any"
    store = FakeStore(clock, latency=0)
    start = clock.seconds()

    async def call(script: Script, keys: list[str], args: list[str]) -> Any:
        answer = store.run(script, keys, args)
        clock.advance(0)
        return await answer

    async def state() -> State:
        now = store._now()
        expires = store.expiries.get(KEY)
        alive = KEY in store.windows and expires is not None and expires >= now
        slots = sorted(store.windows[KEY]) if alive else []
        return State(now, expires - now if alive and expires is not None else -2,
                     [(member, at) for at, member in slots], set(store.hosts))

    async def wait_until(at: int) -> None:
        clock.advance(max(0.0, start + at / 1000 - clock.seconds()))

    done: Deferred[None] = ensureDeferred(play(case, call, state, wait_until, slack=0))
    failures: list[Any] = []
    done.addErrback(failures.append)
    if failures:
        failures[0].raiseException()
    assert done.called


@pytest.mark.parametrize("case", CASES, ids=_ids())
@pytest_twisted.ensureDeferred
async def test_script(case: Case, redis_server: RedisServer) -> None:
    connection: RedisConnection = await connected(
        redis_server.url, scripts=[RESERVE_SCRIPT, PRESENCE_SCRIPT, STATE_SCRIPT]
    )

    async def call(script: Script, keys: list[str], args: list[str]) -> Any:
        return await connection.run(script, keys, args)

    async def state() -> State:
        now, ttl, flat, hosts = await connection.run(STATE_SCRIPT, [KEY, HOSTS], [])
        pairs = [(str(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]
        return State(now, ttl, pairs, {str(h) for h in hosts})

    started: list[float] = []  # the reactor's time at the case's start, after Redis's

    async def wait_until(at: int) -> None:
        now = reactor.seconds()
        if not started:
            started.append(now - at / 1000)
        left = started[0] + at / 1000 - now
        if left > 0:
            await sleep(left)

    try:
        await play(case, call, state, wait_until, slack=SLACK)
    finally:
        await connection.stop()
