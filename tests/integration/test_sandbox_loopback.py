"""
``twistd fmzokx --sandbox`` end to end on a real reactor: the embedded okxsim on a
loopback port, the daemon in front of it, a strategy's calls over real TCP.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest_twisted
import treq

from fmzokx.sim import DEFAULT_ACCOUNT
from tests.helpers import daemon_in_process
from tests.helpers import real_sleep as sleep


@pytest_twisted.ensureDeferred
async def test_sandbox_strategy_round_trip(tmp_path: Path) -> None:
    """Ticker, balance, order, open orders, cancel and healthz through the sandboxed daemon."""
    service, base = await daemon_in_process(
        "--sandbox", "--listen", "tcp:0:interface=127.0.0.1", "--status-listen", "none",
        "--journal", str(tmp_path / "sandbox-journal.sqlite3"))
    try:
        url = f"{base}/OKX"
        nonce = iter(range(1, 1000))

        async def call(method: str, **params: str) -> Any:
            body = {
                "access_key": DEFAULT_ACCOUNT.key,
                "secret_key": f"{DEFAULT_ACCOUNT.secret},{DEFAULT_ACCOUNT.passphrase}",
                "method": method,
                "params": params,
                "nonce": next(nonce),
            }
            response = await treq.post(url, data=json.dumps(body).encode(), persistent=False)
            assert response.code == 200
            return await response.json()

        ticker = (await call("ticker", symbol="BTC_USDT"))["data"]
        assert ticker["symbol"] == "BTC_USDT" and float(ticker["last"]) > 0
        assert {r["currency"] for r in (await call("accounts"))["data"]} >= {"BTC", "USDT"}
        price = str(round(float(ticker["last"]) / 2, 1))
        order = await call("trade", symbol="BTC_USDT", type="buy", price=price, amount="0.01")
        order_id = order["data"]["id"]
        listed = (await call("orders", symbol="BTC_USDT"))["data"]
        assert [o["id"] for o in listed] == [order_id]
        assert (await call("cancel", id=order_id))["data"] is True

        for _ in range(50):
            response = await treq.get(url.replace("/OKX", "/healthz"), persistent=False)
            health = await response.json()
            if health["status"] == "ok":
                break
            await sleep(0.1)
        assert health["status"] == "ok" and health["okx"]["clock_synced"]
    finally:
        await service.stopService()
        await sleep(0)
