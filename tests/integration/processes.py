"""
The real processes the integration tests run: a ``twistd -n`` child whose output is kept,
a bounded wait on a condition, ``twistd okxsim`` on a free loopback port, and
``twistd fmzokx`` in front of it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from bench.procs import child_env, free_port, http_call, twistd_command
from fmzokx.sim import DEFAULT_ACCOUNT

ORDER = "/api/v5/trade/order"


class Proc:
    """A twistd child whose output is read from a pipe (file writes may be made to fail)."""

    def __init__(self, name: str, args: list[str], cwd: Path) -> None:
        self.name = name
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [*twistd_command(), "-n", "--pidfile=", *args], cwd=cwd, env=child_env(),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True, errors="replace",
        )
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self, last: int | None = 40) -> str:
        """The child's last ``last`` lines of output (``None``: all of it)."""
        return "\n".join(self.lines if last is None else self.lines[-last:])

    def kill(self) -> None:
        """SIGKILL, by pid."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._reader.join(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reader.join(timeout=10)


def wait_for(check: Any, what: str, proc: Proc, timeout: float = 30.0) -> Any:
    """Poll ``check()`` until it returns something true (bounded in time)."""
    limit = time.monotonic() + timeout
    while time.monotonic() < limit:
        if proc.process.poll() is not None:
            raise AssertionError(f"{proc.name} exited while waiting for {what}:\n"
                                 f"{proc.output()}")
        try:
            found = check()
        except OSError:
            found = None
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no {what} after {timeout:g} s; {proc.name} said:\n{proc.output()}")


class Exchange:
    """okxsim in its own process (``extra``: more of its options, such as ``--account``)."""

    def __init__(self, directory: Path, *extra: str) -> None:
        self.port = free_port()
        self.proc = Proc("okxsim", ["okxsim", "--listen", f"tcp:{self.port}:interface=127.0.0.1",
                                    "--rate-limits", "off", *extra], directory)
        wait_for(lambda: http_call(self.port, "GET", "/api/v5/public/time")[0] == 200,
                 "okxsim", self.proc)

    def orders(self) -> list[dict[str, Any]]:
        status, body = http_call(self.port, "GET", "/_sim/state")
        assert status == 200
        orders: list[dict[str, Any]] = json.loads(body)["orders"]
        return orders

    def fault(self, mode: str, delay_ms: float = 0) -> None:
        spec = {"path": ORDER, "mode": mode, "count": 1, "delay_ms": delay_ms}
        status, _ = http_call(self.port, "POST", "/_sim/faults", json.dumps(spec).encode())
        assert status == 200


class Daemon:
    """
    ``twistd fmzokx`` pointed at okxsim (``extra``: more of its options), with no status
    port; ``wait`` until it answers a ticker.

    :ivar call_timeout: how long :meth:`call` waits for an answer by default.
    """

    call_timeout = 60.0

    def __init__(
        self, directory: Path, exchange: Exchange, *extra: str, wait: bool = True
    ) -> None:
        self.port = free_port()
        self.proc = Proc("fmzokx", [
            "fmzokx", "--listen", f"tcp:{self.port}:interface=127.0.0.1",
            "--status-listen", "none",
            "--okx-url", f"http://127.0.0.1:{exchange.port}", "--rate-limits", "off", *extra,
        ], directory)
        if wait:
            wait_for(lambda: "data" in self.call("ticker", {"symbol": "BTC_USDT"}, keys=False),
                     "daemon", self.proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def call(self, method: str, params: dict[str, str], *, nonce: int | None = None,
             keys: bool = True, timeout: float | None = None) -> Any:
        """One docker call with the default account (or none); the decoded reply."""
        envelope = {
            "access_key": DEFAULT_ACCOUNT.key if keys else "",
            "secret_key": f"{DEFAULT_ACCOUNT.secret},{DEFAULT_ACCOUNT.passphrase}"
            if keys else "",
            "method": method, "params": params, "nonce": nonce or time.time_ns(),
        }
        status, body = http_call(self.port, "POST", "/OKX", json.dumps(envelope).encode(),
                                 timeout=self.call_timeout if timeout is None else timeout)
        assert status == 200, body
        return json.loads(body)
