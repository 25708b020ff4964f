"""Helpers for the real-Redis tests (pytest-twisted, the real reactor)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import reactor

from fmzokx.okx.pacing.shared.connection import RedisConnection
from fmzokx.okx.pacing.shared.script import RESERVE_SCRIPT
from fmzokx.okx.pacing.shared.url import RedisTarget, parse_redis_url
from tests.helpers import real_sleep as sleep


async def until(condition: Callable[[], bool], limit: float = 10.0, step: float = 0.01) -> None:
    """Wait (really) until ``condition()`` holds; fail after ``limit`` seconds."""
    waited = 0.0
    while not condition():
        if waited >= limit:
            raise AssertionError(f"condition not met within {limit} s")
        await sleep(step)
        waited += step


async def connected(url: str | RedisTarget, **options: Any) -> RedisConnection:
    """A started connection with the slot script, once it is ready."""
    target = parse_redis_url(url) if isinstance(url, str) else url
    options.setdefault("scripts", [RESERVE_SCRIPT])
    connection = RedisConnection(reactor, target, **options)
    connection.start()
    await until(lambda: connection.ready)
    return connection
