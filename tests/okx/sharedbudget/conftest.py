"""Fixtures for the shared-budget tests (the real redis-server is the rig's ``redis_server``)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def events(info_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The shared-budget tests' name for the rig's :func:`tests.conftest.info_events`."""
    return info_events
