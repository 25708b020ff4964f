"""
Reads the daemon paces are never refused by okxsim for rate: three pollers on the
balance and the positions, back to back, through ``twistd fmzokx`` and ``twistd okxsim``
(rate limits on) as real processes on loopback, for 20 s.

Run alone: ``python -m pytest tests/integration/test_paced_reads.py``.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from bench.procs import http_call
from tests.integration.processes import Proc, wait_for

SECONDS = 20.0


def test_three_pollers_draw_no_50011(tmp_path: Path) -> None:
    from bench.procs import free_port

    sim_port, port = free_port(), free_port()
    okxsim = Proc("okxsim", ["okxsim", "--listen", f"tcp:{sim_port}:interface=127.0.0.1"], tmp_path)
    daemon: Proc | None = None
    try:
        wait_for(lambda: http_call(sim_port, "GET", "/api/v5/public/time")[0] == 200,
                 "okxsim", okxsim)
        daemon = Proc("fmzokx", ["fmzokx", "--listen", f"tcp:{port}:interface=127.0.0.1",
                        "--status-listen", "none",
                        "--okx-url", f"http://127.0.0.1:{sim_port}"], tmp_path)
        answers: list[Any] = []

        def call(method: str) -> Any:
            from fmzokx.sim import DEFAULT_ACCOUNT

            envelope = {
                "access_key": DEFAULT_ACCOUNT.key,
                "secret_key": f"{DEFAULT_ACCOUNT.secret},{DEFAULT_ACCOUNT.passphrase}",
                "method": method, "params": {"symbol": "BTC_USDT.swap"},
                "nonce": time.time_ns(),
            }
            status, body = http_call(port, "POST", "/OKX", json.dumps(envelope).encode(),
                                     timeout=30)
            return json.loads(body)

        wait_for(lambda: "data" in call("accounts"), "daemon", daemon)
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
        status, body = http_call(sim_port, "GET", "/_sim/state")
        state = json.loads(body)
        print(len(answers), state["rejected"], [a for a in answers if "data" not in a][:3])
        assert state["rejected"] == {}
        assert len(answers) > 100
    finally:
        if daemon is not None:
            daemon.stop()
        okxsim.stop()
