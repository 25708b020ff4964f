"""
The status page of a real daemon in a real browser: ``twistd fmzokx --sandbox`` runs as
its own process with its embedded okxsim, the test makes docker calls over loopback --
good ones, failing ones, and ones carrying the test key and secret (one even sends the
secret as a symbol) -- and headless Chromium loads ``/status`` where the docs say it is:
on the status port (``--status-listen``; browsers refuse 6666), here a free one, since
another daemon on this machine may hold the default 6680. The DOM must show the traffic,
and neither the DOM nor the page source may contain a credential.

``FMZOKX_STATUS_SCREENSHOT=PATH`` keeps the screenshot (the docs' picture comes from here);
``FMZOKX_STATUS_TRAFFIC_SECONDS=N`` keeps light traffic going for N seconds first, so the
charts have a few minutes to show.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fmzokx.options import DEFAULT_STATUS_LISTEN
from fmzokx.sim import DEFAULT_ACCOUNT
from tests.chromium import colour_count, dump_dom, read_png, require_chromium, screenshot
from tests.integration.processes import Daemon, wait_for

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
KEY = DEFAULT_ACCOUNT.key
SECRET = DEFAULT_ACCOUNT.secret
PASSPHRASE = DEFAULT_ACCOUNT.passphrase


# Chromium's kRestrictedPorts (net/base/port_util.cc) near the daemon's ports.
BROWSER_BLOCKED = frozenset({6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080})


def test_the_docs_name_the_default_status_port_a_browser_opens() -> None:
    """The status page's documented address is the default --status-listen's port."""
    kind, port, interface = DEFAULT_STATUS_LISTEN.split(":")
    assert (kind, interface) == ("tcp", "interface=127.0.0.1")
    assert int(port) not in BROWSER_BLOCKED and 6666 in BROWSER_BLOCKED
    operations = (ROOT / "docs" / "operations.rst").read_text(encoding="utf-8")
    assert f"``http://127.0.0.1:{port}/status``" in operations
    assert f"ssh -N -L {port}:127.0.0.1:{port}" in operations


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """
    A sandbox daemon on a loopback port, its status page on a status port of its own;
    yields its base URL and the status page's URL, stops it after.
    """
    started = Daemon(tmp_path, None, "--journal", str(tmp_path / "sandbox-journal.sqlite3"),
                     rate_limits=True, status_page=True, wait=False)
    try:
        wait_for(lambda: started.health()[1]["status"] == "ok", "the daemon healthy",
                 started.proc, timeout=60)
        yield started.url, f"http://127.0.0.1:{started.status_port}/status"
    finally:
        started.stop()


def rpc(base: str, method: str, secret_key: str = f"{SECRET},{PASSPHRASE}",
        **params: str) -> Any:
    body = json.dumps({
        "access_key": KEY, "secret_key": secret_key, "method": method, "params": params,
        "nonce": time.time_ns(),
    }).encode()
    request = urllib.request.Request(f"{base}/OKX", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.load(reply)


def traffic(base: str) -> None:
    assert "data" in rpc(base, "ticker", symbol="BTC_USDT")
    assert "data" in rpc(base, "depth", symbol="ETH_USDT", limit="5")
    assert "data" in rpc(base, "records", symbol="BTC_USDT", period="60", limit="5")
    assert "data" in rpc(base, "accounts")
    assert "data" in rpc(base, "trade", symbol="BTC_USDT", type="buy", price="-1", amount="20")
    assert "51008" in rpc(base, "trade", symbol="BTC_USDT", type="buy", price="1",
                          amount="1e9")["error"]
    assert "error" in rpc(base, "ticker", symbol="USDT")
    assert "error" in rpc(base, "ticker", symbol=SECRET)  # a secret where a symbol goes
    assert "50113" in rpc(base, "accounts", secret_key=f"{SECRET}x,{PASSPHRASE}")["error"]


def test_live_status_page_in_chromium(daemon: tuple[str, str], tmp_path: Path) -> None:
    chromium = require_chromium()
    base, status_page = daemon
    traffic(base)
    keep_going = float(os.environ.get("FMZOKX_STATUS_TRAFFIC_SECONDS", "0") or 0)
    until = time.monotonic() + min(keep_going, 900.0)
    while time.monotonic() < until:
        rpc(base, "ticker", symbol="BTC_USDT")
        rpc(base, "depth", symbol="ETH_USDT", limit="5")
        if int(time.monotonic()) % 20 == 0:
            rpc(base, "trade", symbol="BTC_USDT", type="buy", price="1", amount="1e9")
        time.sleep(0.5)

    with urllib.request.urlopen(status_page, timeout=30) as reply:
        source = reply.read().decode()
        assert reply.headers["content-type"] == "text/html; charset=utf-8"
        assert reply.headers["content-security-policy"].startswith("default-src 'none'")
    dom = dump_dom(chromium, status_page, tmp_path)
    for text in (source, dom):
        assert "<h1>fmzokx status</h1>" in text
        assert 'data-label="OKX"' in text
        assert 'data-path="/api/v5/trade/order"' in text
        assert "51008" in text and "50113" in text
        assert "reachable" in text
        for needle in (KEY, SECRET, PASSPHRASE):
            assert needle not in text
    # The secret sent as a symbol: refused without being repeated (fmz/envelope.py).
    assert "carries this request's secret key" in dom

    picture = screenshot(
        chromium, status_page, tmp_path / "status.png", tmp_path, size=(1280, 2200)
    )
    _, _, rows = read_png(picture, max_rows=500)
    assert colour_count(rows, "#1a7f37") > 300  # the green "reachable" badge
    keep = os.environ.get("FMZOKX_STATUS_SCREENSHOT")
    if keep:
        shutil.copyfile(picture, keep)
