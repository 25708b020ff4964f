"""
OKX's clock steps back while an order is in transit, with real processes over loopback
sockets: ``twistd okxsim`` and ``twistd fmzokx --timeout 4`` as separate processes, the
clock and the fault set through okxsim's control API, the trade sent as the docker does.

okxsim's clock jumps 15 s behind after the daemon's start-up sync, and the order POST is
held 12 s in transit (okxsim's ``hold`` fault): the daemon gives up on the POST at 4 s and
reconciles. On its stale clock the order's expTime passed at 8 s; on OKX's it has not,
and the order goes live at 12 s. The daemon must measure OKX's clock before concluding
anything, and answer with the order -- the attack run saw "not placed ... safe to place
it again" at 8 s, and re-placing made two orders.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fmzokx.okx.bounds import AnswerBounds
from fmzokx.sim import DEFAULT_ACCOUNT

TWISTD = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]
#: twistd finds the fmzokx and okxsim plugins under the checkout's twisted/plugins.
CHECKOUT = Path(__file__).resolve().parents[2]
TIMEOUT = 4.0
#: Loopback only, and never through a proxy the environment may name.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def call(url: str, payload: object | None = None, timeout: float = 60) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"},
        method="GET" if data is None else "POST",
    )
    with OPENER.open(request, timeout=timeout) as response:
        return json.loads(response.read())


def wait_for(check: Any, what: str, seconds: float = 60) -> Any:
    end = time.monotonic() + seconds
    last: Exception | None = None
    while time.monotonic() < end:
        try:
            result = check()
            if result:
                return result
        except OSError as error:
            last = error
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {seconds} s (last error: {last})")


def start(tmp_path: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*TWISTD, "-n", f"--pidfile={tmp_path / name}.pid", f"--logfile={tmp_path / name}.log",
         name, *args],
        cwd=CHECKOUT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """okxsim and fmzokx running; yields (okxsim base URL, fmzokx RPC URL)."""
    sim_port, rpc_port = free_port(), free_port()
    started = [start(tmp_path, "okxsim", "--listen", f"tcp:{sim_port}:interface=127.0.0.1")]
    try:
        sim = f"http://127.0.0.1:{sim_port}"
        wait_for(lambda: call(f"{sim}/api/v5/public/time")["code"] == "0", "okxsim start")
        started.append(start(
            tmp_path, "fmzokx", "--listen", f"tcp:{rpc_port}:interface=127.0.0.1",
            "--status-listen", "none",
            "--okx-url", sim, "--timeout", str(TIMEOUT),
            "--journal", str(tmp_path / "fmzokx-journal.sqlite3"),
        ))
        daemon = f"http://127.0.0.1:{rpc_port}"
        wait_for(lambda: call(f"{daemon}/healthz")["status"] == "ok", "fmzokx clock sync")
        yield sim, f"{daemon}/OKX"
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


def test_order_held_while_okx_clock_steps_back_is_found_not_called_absent(
    processes: tuple[str, str]
) -> None:
    sim, rpc = processes
    trade = {
        "access_key": DEFAULT_ACCOUNT.key,
        "secret_key": f"{DEFAULT_ACCOUNT.secret},{DEFAULT_ACCOUNT.passphrase}",
        "method": "trade",
        "params": {"symbol": "BTC_USDT", "type": "buy", "price": "-1", "amount": "20"},
        "nonce": 1_795_600_000_000_000_001,
    }
    assert "data" in call(rpc, dict(trade, method="ticker", params={"symbol": "BTC_USDT"}))
    assert call(f"{sim}/_sim/clock", {"offset_ms": -15_000})["code"] == "0"
    fault = {"path": "/api/v5/trade/order", "mode": "hold", "count": 1, "delay_ms": 12_000}
    assert call(f"{sim}/_sim/faults", fault)["code"] == "0"

    began = time.monotonic()
    reply = call(rpc, trade)
    elapsed = time.monotonic() - began

    assert "data" in reply, reply
    orders = call(f"{sim}/_sim/state")["orders"]
    assert len(orders) == 1, orders
    assert reply["data"] == {"id": f"BTC-USDT,{orders[0]['ordId']}"}
    assert 12 <= elapsed <= AnswerBounds(TIMEOUT).trade
    # The docker's retry of the same call is answered from the journal: still one order.
    assert call(rpc, trade).get("data") == reply["data"]
    assert len(call(f"{sim}/_sim/state")["orders"]) == 1
