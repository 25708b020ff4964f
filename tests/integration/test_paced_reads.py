"""
Reads the daemon paces are never refused by okxsim for rate: three pollers on the
balance and the positions, back to back, through ``twistd fmzokx`` and ``twistd okxsim``
(rate limits on) as real processes on loopback, for 20 s.

Run alone: ``python -m pytest tests/integration/test_paced_reads.py``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from tests.integration.processes import Daemon, Exchange, wait_for

SECONDS = 20.0


def test_three_pollers_draw_no_50011(tmp_path: Path) -> None:
    exchange = Exchange(tmp_path, rate_limits=True)
    try:
        daemon = Daemon(tmp_path, exchange, rate_limits=True)
        try:
            answers: list[Any] = []

            def call(method: str) -> Any:
                return daemon.call(method, {"symbol": "BTC_USDT.swap"}, timeout=30)

            wait_for(lambda: "data" in call("accounts"), "daemon", daemon.proc)
            ends = time.monotonic() + SECONDS

            def poll(method: str) -> None:
                while time.monotonic() < ends:
                    answers.append(call(method))

            threads = [threading.Thread(target=poll, args=(method,))
                       for method in ("accounts", "accounts", "accounts", "positions",
                                      "positions", "positions")]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=SECONDS + 60)
            state = exchange.state()
            print(len(answers), state["rejected"], [a for a in answers if "data" not in a][:3])
            assert state["rejected"] == {}
            assert len(answers) > 100
        finally:
            daemon.stop()
    finally:
        exchange.stop()
