"""
The crash guarantee with real processes over real sockets: ``twistd okxsim`` and
``twistd fmzokx`` as children on 127.0.0.1, the daemon SIGKILLed with an order in
flight (okxsim's ``delay`` fault holds the reply after committing the order), restarted
in the same working directory, and the docker's same request answered with the same
order after it filled; then the same with the journal's disk failing mid-run
(``RLIMIT_FSIZE`` set on the running daemon: the kernel refuses its file writes, as a
full disk would).

Run alone: ``python -m pytest tests/integration/test_journal_crash.py``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.procs import child_env, http_call
from tests.integration import processes
from tests.integration.processes import Exchange, wait_for

ROOT = Path(__file__).resolve().parents[2]


class Daemon(processes.Daemon):
    """``twistd fmzokx`` pointed at okxsim, its journal in ``directory`` (the default)."""

    def buy(self, nonce: int, timeout: float = 60.0) -> Any:
        params = {"symbol": "BTC_USDT", "type": "buy", "price": "-1", "amount": "20"}
        return self.call("trade", params, nonce=nonce, timeout=timeout)

    def buy_in_background(self, nonce: int) -> tuple[threading.Thread, list[Any]]:
        """Send a trade and read its answer on a thread (the daemon may die meanwhile)."""
        answers: list[Any] = []

        def go() -> None:
            try:
                answers.append(self.buy(nonce, timeout=90))
            except (OSError, AssertionError) as error:
                answers.append(error)

        thread = threading.Thread(target=go, daemon=True)
        thread.start()
        return thread, answers


def journal_entries(directory: Path) -> list[dict[str, Any]]:
    """The operator's reader, as a separate process, on the daemon's directory."""
    done = subprocess.run(
        [sys.executable, "-m", "fmzokx.journal.cli", "--json", "--kind", "order"],
        cwd=directory, env=child_env(), capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.fixture
def place(tmp_path: Path) -> Iterator[tuple[Path, Exchange, list[Daemon]]]:
    """A working directory, okxsim, and a list the test puts its daemons in (all stopped)."""
    workdir = tmp_path / "rundir"
    workdir.mkdir()
    exchange = Exchange(tmp_path)
    daemons: list[Daemon] = []
    try:
        yield workdir, exchange, daemons
    finally:
        for daemon in daemons:
            daemon.proc.kill()
        exchange.proc.stop()


def test_sigkill_with_an_order_in_flight(place: tuple[Path, Exchange, list[Daemon]]) -> None:
    workdir, exchange, daemons = place
    first = Daemon(workdir, exchange)
    daemons.append(first)
    nonce = time.time_ns()
    exchange.fault("delay", delay_ms=60_000)
    thread, answers = first.buy_in_background(nonce)
    (order,) = wait_for(exchange.orders, "the order at okxsim", first.proc)
    assert order["state"] == "filled"
    first.proc.kill()
    thread.join(timeout=30)
    assert answers and not isinstance(answers[0], dict), "the docker got no answer"
    (entry,) = journal_entries(workdir)
    assert (entry["cl_ord_id"], entry["outcome"]) == (order["clOrdId"], None)

    second = Daemon(workdir, exchange)
    daemons.append(second)
    reply = second.buy(nonce)
    assert reply.get("data") == {"id": f"BTC-USDT,{order['ordId']}"}, reply
    assert len(exchange.orders()) == 1, "no second order"
    (entry,) = journal_entries(workdir)
    assert (entry["outcome"], entry["ord_id"]) == ("placed", order["ordId"])

    other = second.buy(time.time_ns())
    assert other["data"]["id"] != reply["data"]["id"]
    assert len(exchange.orders()) == 2

    # A second daemon on the same journal refuses to start, with one line.
    third = Daemon(workdir, exchange, wait=False)
    code = third.proc.process.wait(timeout=60)
    third.proc.stop()
    assert code != 0
    # twistd -n sends the process's stderr through its log: one log line says it.
    refusal = (
        f"fmzokx: order journal {workdir / 'fmzokx-journal.sqlite3'} is in use by another "
        f"fmzokx (pid {second.pid} holds it, by this or another path to the same file); "
        "stop it, or give this daemon its own --journal"
    )
    assert any(line.endswith(refusal) for line in third.proc.lines), third.proc.output()
    # The running daemon is unaffected.
    assert "data" in second.call("accounts", {})


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs Linux prlimit")
def test_journal_disk_failing_mid_run(place: tuple[Path, Exchange, list[Daemon]]) -> None:
    workdir, exchange, daemons = place
    first = Daemon(workdir, exchange)
    daemons.append(first)

    def settled(count: int) -> bool:
        # Outcomes are written after the answer: wait for them before failing the disk.
        entries = journal_entries(workdir)
        return len(entries) == count and all(e["outcome"] for e in entries)

    assert "data" in first.buy(time.time_ns())
    wait_for(lambda: settled(1), "the first outcome in the journal", first.proc)
    limits = resource.prlimit(first.pid, resource.RLIMIT_FSIZE)

    # The disk fails: new orders are refused, reads keep working.
    resource.prlimit(first.pid, resource.RLIMIT_FSIZE, (1, limits[1]))
    refused = first.buy(time.time_ns())
    assert "order not placed: order journal" in refused["error"], refused
    assert "new orders are refused" in refused["error"]
    assert len(exchange.orders()) == 1
    assert "data" in first.call("ticker", {"symbol": "BTC_USDT"})
    assert "data" in first.call("accounts", {})
    status, health = http_call(first.port, "GET", "/healthz")
    assert json.loads(health)["journal"]["writable"] is False and status == 503

    # The disk is back: orders are accepted again without a restart.
    resource.prlimit(first.pid, resource.RLIMIT_FSIZE, limits)
    assert "data" in first.buy(time.time_ns())
    assert len(exchange.orders()) == 2
    wait_for(lambda: settled(2), "the second outcome in the journal", first.proc)

    # An order in flight when the disk fails: its outcome cannot be written.
    nonce = time.time_ns()
    exchange.fault("delay", delay_ms=3_000)
    thread, answers = first.buy_in_background(nonce)
    wait_for(lambda: len(exchange.orders()) == 3, "the third order at okxsim", first.proc)
    resource.prlimit(first.pid, resource.RLIMIT_FSIZE, (1, limits[1]))
    thread.join(timeout=60)
    order = next(o for o in exchange.orders() if o["ordId"] not in {
        e["ord_id"] for e in journal_entries(workdir)})
    assert answers == [{"data": {"id": f"BTC-USDT,{order['ordId']}"},
                        "raw": answers[0]["raw"]}], answers
    first.proc.kill()
    pending = [e for e in journal_entries(workdir) if e["outcome"] is None]
    assert [e["cl_ord_id"] for e in pending] == [order["clOrdId"]]

    second = Daemon(workdir, exchange)
    daemons.append(second)
    again = second.buy(nonce)
    assert again["data"] == {"id": f"BTC-USDT,{order['ordId']}"}
    assert len(exchange.orders()) == 3, "no second order"
    assert settled(3) and {e["outcome"] for e in journal_entries(workdir)} == {"placed"}
    assert "data" in second.buy(time.time_ns())
    assert len(exchange.orders()) == 4
