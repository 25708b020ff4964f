"""
The daemon end to end on a real reactor: ``makeService`` listening on a loopback port.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred

from tests.helpers import daemon_in_process


@pytest_twisted.ensureDeferred
async def test_daemon_answers_on_loopback(tmp_path: Path) -> None:
    """makeService on port 0 serves the envelope, 405, 413 and /healthz over real TCP."""
    # Port 9 (discard) is closed here: OKX is unreachable, which /healthz must say.
    service, base = await daemon_in_process(
        "--listen", "tcp:0:interface=127.0.0.1", "--status-listen", "none",
        "--okx-url", "http://127.0.0.1:9", "--journal", str(tmp_path / "journal.sqlite3"))
    try:

        response = await treq.post(
            f"{base}/OKX",
            data=json.dumps({"method": "nosuch", "params": {}}).encode(),
            persistent=False,
        )
        assert response.code == 200
        body = await response.json()
        assert body["error"].startswith("unsupported method: nosuch")

        response = await treq.get(f"{base}/OKX", persistent=False)
        assert response.code == 405
        assert "error" in await response.json()

        response = await treq.post(f"{base}/OKX", data=b"x" * (2 << 20), persistent=False)
        assert response.code == 413

        response = await treq.get(f"{base}/healthz", persistent=False)
        assert response.code == 503
        health = await response.json()
        assert health["status"] == "degraded"
        assert health["okx"]["okx_base_url"] == "http://127.0.0.1:9"
    finally:
        await service.stopService()
        # Let the closed connections' cleanup run before the next test.
        waiter: Deferred[None] = Deferred()
        reactor.callLater(0, waiter.callback, None)  # type: ignore[attr-defined]
        await waiter
