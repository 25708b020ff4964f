"""
The real processes the integration tests run: a ``twistd -n`` child whose output is kept,
a bounded wait on a condition, ``twistd okxsim`` on a free loopback port, and
``twistd fmzokx`` in front of it (or in front of its own ``--sandbox``).

Every test that keeps a ``twistd`` child running starts it here; what differs from one
test to the next (rate limits on, a status port, more options, the child's environment or
resource limits) is a parameter, not a copy. (A test that runs ``twistd`` to its exit, or
daemonised, runs ``bench.procs.twistd_command()`` with ``child_env()`` itself.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.procs import child_env, free_port, http_call, twistd_command
from fmzokx.sim import DEFAULT_ACCOUNT

ORDER = "/api/v5/trade/order"

#: ``twistd`` whose shared budget (``--shared-state``) adds the guard given as its first
#: argument to each window instead of the default 0.1 s: ``SharedSlots.guard``, which no
#: option sets, for the tests whose timing is built on a wider one (test_shared_budget).
GUARDED_TWISTD = """
import sys
guard = float(sys.argv.pop(1))
from fmzokx.okx.pacing.shared.settings import SharedStateService
create = SharedStateService.create.__func__
def guarded(cls, *args, **kwargs):
    service = create(cls, *args, **kwargs)
    service.slots.guard = guard
    return service
SharedStateService.create = classmethod(guarded)
from twisted.scripts.twistd import run
run()
"""


def loopback(port: int) -> str:
    """The endpoint description of ``port`` on 127.0.0.1."""
    return f"tcp:{port}:interface=127.0.0.1"


class Proc:
    """
    A twistd child whose output is read from a pipe (file writes may be made to fail).

    ``env``: more of the child's environment; ``before_exec``: run in the child before
    twistd starts (to set a resource limit, as a systemd unit would); ``twistd``: the
    command that runs twistd (by default ``bench.procs.twistd_command()``).
    """

    def __init__(
        self, name: str, args: list[str], cwd: Path, *, env: dict[str, str] | None = None,
        before_exec: Callable[[], None] | None = None, twistd: list[str] | None = None,
    ) -> None:
        self.name = name
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [*(twistd or twistd_command()), "-n", "--pidfile=", *args], cwd=cwd,
            env=child_env(env),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True, errors="replace", preexec_fn=before_exec,
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

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

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
    """
    okxsim in its own process (``extra``: more of its options, such as ``--account``),
    with OKX's rate limits off unless ``rate_limits``.
    """

    def __init__(self, directory: Path, *extra: str, rate_limits: bool = False) -> None:
        self.port = free_port()
        self.proc = Proc("okxsim", [
            "okxsim", "--listen", loopback(self.port),
            *([] if rate_limits else ["--rate-limits", "off"]), *extra,
        ], directory)
        wait_for(lambda: http_call(self.port, "GET", "/api/v5/public/time")[0] == 200,
                 "okxsim", self.proc)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def control(self, method: str, path: str, spec: Any = None) -> Any:
        """One call to okxsim (its ``/_sim/*`` control API, say); the decoded reply."""
        body = None if spec is None else json.dumps(spec).encode()
        status, reply = http_call(self.port, method, path, body)
        assert status == 200, reply
        return json.loads(reply)

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.control("GET", "/_sim/state")
        return state

    def orders(self) -> list[dict[str, Any]]:
        orders: list[dict[str, Any]] = self.state()["orders"]
        return orders

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not ended in 30 s."""
        self.proc.stop()

    def fault(self, mode: str, delay_ms: float = 0) -> Any:
        """One fault on the next order placement (okxsim's ``/_sim/faults``)."""
        spec = {"path": ORDER, "mode": mode, "count": 1, "delay_ms": delay_ms}
        return self.control("POST", "/_sim/faults", spec)


class Daemon:
    """
    ``twistd fmzokx`` pointed at okxsim, or at its embedded one (``--sandbox``) when
    ``exchange`` is ``None`` (``extra``: more of its options); ``wait`` until it answers a
    ticker.

    OKX's rate limits are off unless ``rate_limits``. The status page is off
    (``--status-listen none``: the default port may be taken on this machine) unless
    ``status_page``, which puts it on a free port of its own (:attr:`status_port`).
    ``env`` and ``before_exec`` are the child's, as for :class:`Proc`; ``shared_guard``
    sets the shared budget's guard (:data:`GUARDED_TWISTD`).

    :ivar call_timeout: how long :meth:`call` waits for an answer by default.
    """

    call_timeout = 60.0

    def __init__(
        self, directory: Path, exchange: Exchange | None, *extra: str, wait: bool = True,
        rate_limits: bool = False, status_page: bool = False,
        env: dict[str, str] | None = None, before_exec: Callable[[], None] | None = None,
        shared_guard: float | None = None,
    ) -> None:
        self.port = free_port()
        self.status_port = free_port() if status_page else None
        status = "none" if self.status_port is None else loopback(self.status_port)
        upstream = ["--sandbox"] if exchange is None else ["--okx-url", exchange.url]
        self.proc = Proc("fmzokx", [
            "fmzokx", "--listen", loopback(self.port), "--status-listen", status, *upstream,
            *([] if rate_limits else ["--rate-limits", "off"]), *extra,
        ], directory, env=env, before_exec=before_exec,
            twistd=None if shared_guard is None
            else [sys.executable, "-c", GUARDED_TWISTD, str(shared_guard)])
        if wait:
            wait_for(lambda: "data" in self.call("ticker", {"symbol": "BTC_USDT"}, keys=False),
                     "daemon", self.proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def health(self) -> tuple[int, dict[str, Any]]:
        """``/healthz``: its status code and document."""
        status, body = http_call(self.port, "GET", "/healthz")
        return status, json.loads(body)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not ended in 30 s."""
        self.proc.stop()

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
