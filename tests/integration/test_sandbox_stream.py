"""
``twistd fmzokx --sandbox`` with ``--market-data ws`` (the default) on a real reactor:
once subscribed, ticker and depth come from the embedded okxsim's WebSocket and no longer
reach its REST endpoints; a dropped WebSocket falls back to REST and recovers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest_twisted
import treq

from fmzokx.service import GatewayService, SandboxService
from tests.helpers import daemon_in_process, docker_call
from tests.helpers import real_sleep as sleep


@pytest_twisted.ensureDeferred
async def test_sandbox_answers_from_the_stream_once_subscribed(tmp_path: Path) -> None:
    service, base = await daemon_in_process(
        "--sandbox", "--listen", "tcp:0:interface=127.0.0.1", "--status-listen", "none",
        "--journal", str(tmp_path / "sandbox-journal.sqlite3"))
    try:
        (sandbox,) = [s for s in service if isinstance(s, SandboxService)]
        (gateway,) = [s for s in service if isinstance(s, GatewayService)]
        sim = sandbox.simulator
        streams = gateway.okx.streams
        assert streams is not None
        url = f"{base}/OKX"

        async def call(method: str, **params: str) -> Any:
            return await docker_call(url, method, **params)

        def rest() -> int:
            counts = sim.request_counts
            return int(counts["/api/v5/market/ticker"] + counts["/api/v5/market/books"])

        await call("ticker", symbol="BTC_USDT")
        await call("depth", symbol="BTC_USDT", limit="400")
        for _ in range(50):
            response = await treq.get(url.replace("/OKX", "/healthz"), persistent=False)
            health = await response.json()
            channels = health.get("stream", {}).get("live", {}).get("channels", {})
            if channels == {"tickers": {"live": 1}, "books": {"live": 1}}:
                break
            await sleep(0.1)
        assert channels == {"tickers": {"live": 1}, "books": {"live": 1}}
        before = rest()
        for _ in range(10):
            ticker = (await call("ticker", symbol="BTC_USDT"))["data"]
            book = (await call("depth", symbol="BTC_USDT", limit="400"))["data"]
            assert float(ticker["last"]) > 0 and len(book["asks"]) == 400
            await sleep(0.05)
        assert rest() == before  # all twenty from the stream

        sim.ws.add_fault("/ws/v5/public", "disconnect")
        for _ in range(50):  # answered over REST until the copy is back, then by it
            await sleep(0.1)
            settled = rest()
            ticker = (await call("ticker", symbol="BTC_USDT"))["data"]
            assert float(ticker["last"]) > 0
            if rest() == settled and streams.live.stats.reconnects["/ws/v5/public"]:
                break
        assert rest() == settled
        assert streams.live.stats.reconnects["/ws/v5/public"] == 1
    finally:
        await service.stopService()
        await sleep(0)
