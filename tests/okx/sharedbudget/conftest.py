"""Fixtures for the shared-budget tests: a real redis-server, and connections to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.redisserver import RedisServer


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
def events(info_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The shared-budget tests' name for the rig's :func:`tests.conftest.info_events`."""
    return info_events
