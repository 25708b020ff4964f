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

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fmzokx.okx.bounds import AnswerBounds
from tests.integration.processes import ORDER, Daemon, Exchange, wait_for

TIMEOUT = 4.0


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[tuple[Exchange, Daemon]]:
    """okxsim and fmzokx running, the daemon's start-up clock sync done."""
    exchange = Exchange(tmp_path, rate_limits=True)
    try:
        daemon = Daemon(
            tmp_path, exchange, "--timeout", str(TIMEOUT),
            "--journal", str(tmp_path / "fmzokx-journal.sqlite3"), rate_limits=True,
        )
        try:
            wait_for(lambda: daemon.health()[1]["status"] == "ok", "fmzokx clock sync",
                     daemon.proc, timeout=60)
            yield exchange, daemon
        finally:
            daemon.stop()
    finally:
        exchange.stop()


def test_order_held_while_okx_clock_steps_back_is_found_not_called_absent(
    processes: tuple[Exchange, Daemon]
) -> None:
    exchange, daemon = processes
    trade = {"symbol": "BTC_USDT", "type": "buy", "price": "-1", "amount": "20"}
    nonce = 1_795_600_000_000_000_001
    assert "data" in daemon.call("ticker", {"symbol": "BTC_USDT"}, nonce=nonce)
    assert exchange.control("POST", "/_sim/clock", {"offset_ms": -15_000})["code"] == "0"
    fault = {"path": ORDER, "mode": "hold", "count": 1, "delay_ms": 12_000}
    assert exchange.control("POST", "/_sim/faults", fault)["code"] == "0"

    began = time.monotonic()
    reply = daemon.call("trade", trade, nonce=nonce)
    elapsed = time.monotonic() - began

    assert "data" in reply, reply
    orders = exchange.orders()
    assert len(orders) == 1, orders
    assert reply["data"] == {"id": f"BTC-USDT,{orders[0]['ordId']}"}
    assert 12 <= elapsed <= AnswerBounds(TIMEOUT).trade
    # The docker's retry of the same call is answered from the journal: still one order.
    assert daemon.call("trade", trade, nonce=nonce).get("data") == reply["data"]
    assert len(exchange.orders()) == 1
