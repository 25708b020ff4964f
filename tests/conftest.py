"""
The test rig shared by every test module.

Markers by place, so that the default run is fast and the slow kinds run in their own
tox environments (all of them in the README's test command):

- ``integration``: ``tests/integration/``, real ``twistd`` processes, Redis and sockets;
- ``bench``: ``tests/bench/``, the benchmark harness run small;
- ``browser``: set on the tests themselves (headless Chromium).
"""

from __future__ import annotations

from pathlib import Path

import pytest

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
