"""
The status page in a real browser: headless Chromium loads the rendered page, and the
DOM it builds and the picture it draws are checked (``tox -e browser``).

Set ``FMZOKX_STATUS_SCREENSHOT=PATH`` to keep the screenshot (the one in the docs comes
from here).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from fmzokx.logs import SecretRegistry
from fmzokx.status.page import render_page
from tests.chromium import colour_count, dump_dom, read_png, require_chromium, screenshot
from tests.status.test_page import PASSPHRASE, SECRET, START, busy_snapshot, stream_status

pytestmark = pytest.mark.browser


def test_chromium_renders_the_status_page(tmp_path: Path) -> None:
    chromium = require_chromium()
    registry = SecretRegistry()
    registry.add(SECRET, PASSPHRASE)
    snapshot = busy_snapshot(registry.scrub)
    snapshot["errors"].insert(0, {"time": START + 100, "label": "OKX", "method": "accounts",
                                  "message": f"OKX refused key {SECRET} ({PASSPHRASE})"})
    snapshot["stream"] = stream_status()
    snapshot["shared_state"] = {"backend": "redis", "where": "redis://10.0.0.5:6379/0",
                                "state": "shared", "degraded": False, "hosts": 3,
                                "fallbacks": 0, "last_round_trip_ms": 0.31}
    page = tmp_path / "status.html"
    page.write_text(render_page(snapshot, scrub=registry.scrub), encoding="utf-8")

    dom = dump_dom(chromium, page.as_uri(), tmp_path)
    assert "<h1>fmzokx status</h1>" in dom
    assert 'data-label="OKX"' in dom and 'data-path="/api/v5/trade/order"' in dom
    assert "OKX refused key &lt;redacted&gt; (&lt;redacted&gt;)" in dom
    assert dom.count("<svg") == 4 and "<polyline" in dom
    assert "Market-data stream" in dom
    assert 'data-channel="books:ETH-USDT"' in dom and dom.count("<table>") == 9
    assert SECRET not in dom and PASSPHRASE not in dom
    assert "<script" not in dom

    picture = screenshot(chromium, page.as_uri(), tmp_path / "status.png", tmp_path)
    width, height, rows = read_png(picture, max_rows=700)
    assert (width, height) == (1280, 1600)
    # The stylesheet applied: the green "reachable" badge and the blue calls/s line.
    assert colour_count(rows, "#1a7f37") > 300
    assert colour_count(rows, "#1565c0") > 50
    keep = os.environ.get("FMZOKX_STATUS_SCREENSHOT")
    if keep:
        shutil.copyfile(picture, keep)
