"""
The test rig shared by every test module.

Markers by place, so that the default run is fast and the slow kinds run in their own
tox environments (all of them in the README's test command):

- ``integration``: ``tests/integration/``, real ``twistd`` processes, Redis and sockets;
- ``bench``: ``tests/bench/``, the benchmark harness run small;
- ``slow``: set on the tests themselves, long whole-stack scenarios on a fake clock;
- ``browser``: set on the tests themselves (headless Chromium).

And the fixtures every kind of test uses: the log events at a chosen level
(:func:`captured`, :func:`info_events`), for the whole test or, with
:meth:`tests.helpers.LogEvents.during`, for one block of it; a throwaway
``redis-server`` (:func:`redis_server`); a loopback port already taken (:func:`busy_port`).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from twisted.logger import globalLogPublisher

from fmzokx.logs import get_level, set_level
from tests.helpers import LogEvents
from tests.redisserver import RedisServer

_HERE = Path(__file__).resolve().parent
_BY_FOLDER = {"integration": "integration", "bench": "bench"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        try:
            relative = Path(str(item.path)).resolve().relative_to(_HERE)
        except ValueError:
            continue
        marker = _BY_FOLDER.get(relative.parts[0]) if len(relative.parts) > 1 else None
        if marker is not None:
            item.add_marker(getattr(pytest.mark, marker))


def _events(level: str) -> Iterator[LogEvents]:
    previous = get_level()
    set_level(level)
    events = LogEvents()
    globalLogPublisher.addObserver(events.append)
    try:
        yield events
    finally:
        globalLogPublisher.removeObserver(events.append)
        set_level(previous)


@pytest.fixture
def captured() -> Iterator[LogEvents]:
    """Every log event at every level, debug included (the level is global: restored after)."""
    yield from _events("debug")


@pytest.fixture
def info_events() -> Iterator[LogEvents]:
    """Every log event at info level and above (the level is global: restored after)."""
    yield from _events("info")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server on a free loopback port, stopped after the test."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something else is listening on (for as long as the test runs)."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        yield holder.getsockname()[1]
    finally:
        holder.close()
