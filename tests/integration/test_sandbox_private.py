"""
``twistd fmzokx --sandbox`` with ``--private-stream on`` (the default) on a real reactor:
once the key's private session is live, ``accounts``, ``positions`` and ``orders`` no
longer reach the embedded okxsim's REST endpoints, and an order placed through the daemon
shows in the very next ``orders``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest_twisted

from fmzokx.service import GatewayService, SandboxService
from tests.helpers import daemon_in_process, docker_call
from tests.helpers import real_sleep as sleep

READS = ("/api/v5/account/balance", "/api/v5/account/positions",
         "/api/v5/trade/orders-pending")


@pytest_twisted.ensureDeferred
async def test_sandbox_answers_account_reads_from_the_private_stream(tmp_path: Path) -> None:
    service, base = await daemon_in_process(
        "--sandbox", "--listen", "tcp:0:interface=127.0.0.1", "--status-listen", "none",
        "--market-data", "rest", "--journal", str(tmp_path / "sandbox-journal.sqlite3"))
    try:
        (sandbox,) = [s for s in service if isinstance(s, SandboxService)]
        (gateway,) = [s for s in service if isinstance(s, GatewayService)]
        sim = sandbox.simulator
        private = gateway.okx.private
        assert private is not None
        url = f"{base}/OKX"

        async def call(method: str, **params: str) -> Any:
            return await docker_call(url, method, **params)

        def rest() -> int:
            return sum(int(sim.request_counts[path]) for path in READS)

        await call("accounts")
        for _ in range(50):
            if private.health()["live"] == 1:
                break
            await sleep(0.1)
        assert private.health()["live"] == 1
        await call("accounts")  # a ping, if the first check found it quiet
        before = rest()
        for _ in range(10):
            for method in ("accounts", "positions", "orders"):
                await call(method)
            await sleep(0.05)
        assert rest() == before  # all thirty from the copy
        placed = await call("trade", symbol="BTC_USDT", type="buy", price="1000",
                            amount="0.001")
        orders = (await call("orders"))["data"]
        assert [order["id"] for order in orders] == [placed["data"]["id"]]
    finally:
        await service.stopService()
        await sleep(0)
