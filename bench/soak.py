"""
The soak: strategies placing, polling and cancelling through faults and restarts, with
the daemon's memory, descriptors, journal and latency printed per window.

``twistd okxsim`` (OKX's rate limits on) and ``twistd fmzokx`` (its order journal in the
run directory) on 127.0.0.1. Each strategy is a thread with one keep-alive connection,
looping: place a resting limit order, read the open orders and the balance, cancel the
order, read it back. Every window okxsim is told to misbehave a little (a 500 on the
balance, a held open-orders page, a 50011 on a cancel, a dropped connection after an
order is placed), and with ``--restart-every`` the daemon is stopped (SIGTERM) and
started again on the same journal. A row per window:

``t  RSS  fds  journal  calls  errors  p50  p99  max``

RSS (VmRSS) and descriptors are the daemon's; the journal is its file and ``-wal``.
Errors are docker replies with an ``error`` field (faults make some: that is the point),
and are reported, not failed on. At the end, the RSS slope over each stretch between
restarts (least squares, after the first window's warm-up): "flat" is within
``--flat`` KiB per minute.

::

    python bench/soak.py                       # 2 minutes, 10 s windows (a smoke run)
    python bench/soak.py --minutes 60 --window 60 --restart-every 1200

Only 127.0.0.1 is ever contacted; the run is bounded by ``--minutes`` plus a grace.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.procs import (  # noqa: E402
    LOOPBACK,
    Child,
    Processes,
    deadline,
    free_port,
    http_call,
    rss_kib,
    running,
    wait_ready,
)
from fmzokx.sim import DEFAULT_ACCOUNT  # noqa: E402

SECRET_KEY = f"{DEFAULT_ACCOUNT.secret},{DEFAULT_ACCOUNT.passphrase}"
JOURNAL = "fmzokx-journal.sqlite3"

#: What okxsim is told each window: (path, mode, count, delay_ms).
FAULTS = [
    ("/api/v5/account/balance", "http-500", 2, 0),
    ("/api/v5/trade/orders-pending", "hold", 1, 300),
    ("/api/v5/trade/cancel-order", "rate-limit", 1, 0),
    ("/api/v5/trade/order", "drop-after-commit", 1, 0),
    ("/api/v5/trade/order", "delay", 1, 1500),
]


@dataclass
class Window:
    """What the strategies saw since the last row."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    refused: int = 0  # the daemon could not be reached (a restart)


class Soak:
    def __init__(self, procs: Processes, directory: Path, args: argparse.Namespace) -> None:
        self.procs = procs
        self.directory = directory
        self.args = args
        self.sim_port = free_port()
        self.port = free_port()
        self.lock = threading.Lock()
        self.window = Window()
        self.stopping = threading.Event()
        self.daemon: Child | None = None
        self._nonce = time.time_ns()

    # -- processes -------------------------------------------------------------------

    def start_okxsim(self) -> None:
        child = self.procs.start(
            "okxsim", "okxsim", ["--listen", f"tcp:{self.sim_port}:interface={LOOPBACK}"],
            self.sim_port,
        )
        wait_ready(child, lambda: http_call(self.sim_port, "GET", "/api/v5/public/time")[0]
                   == 200)

    def start_daemon(self) -> None:
        child = self.procs.start(
            "fmzokx", "fmzokx",
            ["--listen", f"tcp:{self.port}:interface={LOOPBACK}", "--status-listen", "none",
             "--okx-url", f"http://{LOOPBACK}:{self.sim_port}", "--log-level", "warn"],
            self.port,
        )
        wait_ready(child, lambda: http_call(self.port, "GET", "/healthz")[0] == 200,
                   timeout=60)
        self.daemon = child

    def restart_daemon(self) -> None:
        assert self.daemon is not None
        self.procs.stop(self.daemon, grace=30)  # (and forgets it)
        self.start_daemon()

    def fault(self, path: str, mode: str, count: int, delay_ms: float) -> None:
        spec = {"path": path, "mode": mode, "count": count, "delay_ms": delay_ms}
        http_call(self.sim_port, "POST", "/_sim/faults", json.dumps(spec).encode())

    # -- a strategy ------------------------------------------------------------------

    def nonce(self) -> int:
        with self.lock:
            self._nonce += 1000
            return self._nonce

    def strategy(self, number: int) -> None:
        connection: http.client.HTTPConnection | None = None
        price = 1000 + number  # far below the market: the order rests

        def call(method: str, **params: str) -> Any:
            nonlocal connection
            body = json.dumps({
                "access_key": DEFAULT_ACCOUNT.key, "secret_key": SECRET_KEY,
                "method": method, "params": params, "nonce": self.nonce(),
            }).encode()
            start = time.perf_counter()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=60)
                connection.request("POST", "/OKX", body=body,
                                   headers={"Content-Type": "application/json"})
                reply = json.loads(connection.getresponse().read())
            except (OSError, http.client.HTTPException, ValueError):
                if connection is not None:
                    connection.close()
                connection = None
                with self.lock:
                    self.window.refused += 1
                time.sleep(0.2)
                return None
            seconds = time.perf_counter() - start
            with self.lock:
                self.window.latencies.append(seconds)
                if "error" in reply:
                    self.window.errors += 1
            return reply

        while not self.stopping.is_set():
            placed = call("trade", symbol="BTC_USDT", type="buy", price=str(price),
                          amount="0.001")
            call("orders", symbol="BTC_USDT")
            call("accounts")
            if placed is not None and "data" in placed:
                order = placed["data"]["id"]
                call("cancel", id=order)
                call("order", id=order)
            time.sleep(self.args.think)
        if connection is not None:
            connection.close()

    # -- the run ---------------------------------------------------------------------

    def journal_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            path = self.directory / (JOURNAL + suffix)
            if path.exists():
                total += path.stat().st_size
        return total

    def descriptors(self) -> int:
        assert self.daemon is not None
        return len(os.listdir(f"/proc/{self.daemon.pid}/fd"))

    def run(self) -> list[dict[str, Any]]:
        args = self.args
        self.start_okxsim()
        self.start_daemon()
        threads = [threading.Thread(target=self.strategy, args=(n,), daemon=True)
                   for n in range(args.strategies)]
        for thread in threads:
            thread.start()
        rows: list[dict[str, Any]] = []
        began = time.monotonic()
        ends = began + args.minutes * 60
        next_restart = began + args.restart_every if args.restart_every else float("inf")
        fault = 0
        print(f"{'t':>6} {'RSS MiB':>8} {'fds':>4} {'journal':>9} {'calls':>6} {'errors':>6} "
              f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}  note", flush=True)
        while time.monotonic() < ends:
            window_ends = min(ends, time.monotonic() + args.window)
            note = ""
            if args.faults:  # one fault per window, in turn
                self.fault(*FAULTS[fault % len(FAULTS)])
                fault += 1
            while time.monotonic() < window_ends:
                time.sleep(min(1.0, max(0.0, window_ends - time.monotonic())))
            with self.lock:
                window, self.window = self.window, Window()
            restart = time.monotonic() >= next_restart and time.monotonic() < ends - args.window
            if restart:
                note = "restarted after this window"
            assert self.daemon is not None
            row = {
                "t": round(time.monotonic() - began),
                "rss_kib": rss_kib(self.daemon.pid),
                "fds": self.descriptors(),
                "journal_bytes": self.journal_bytes(),
                "calls": len(window.latencies),
                "errors": window.errors + window.refused,
                "p50_ms": _percentile(window.latencies, 50),
                "p99_ms": _percentile(window.latencies, 99),
                "max_ms": max(window.latencies, default=0.0) * 1000,
                "note": note,
            }
            rows.append(row)
            print(f"{row['t']:>6} {row['rss_kib'] / 1024:>8.1f} {row['fds']:>4} "
                  f"{row['journal_bytes'] / 1024:>7.0f}KB {row['calls']:>6} {row['errors']:>6} "
                  f"{row['p50_ms']:>7.1f} {row['p99_ms']:>7.1f} {row['max_ms']:>7.1f}  {note}",
                  flush=True)
            if restart:  # measured first: the row is the old process's
                self.restart_daemon()
                next_restart += args.restart_every
        self.stopping.set()
        for thread in threads:
            thread.join(timeout=90)
        return rows


def _percentile(values: list[float], percent: int) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, int(round(percent / 100 * (len(ordered) - 1))))
    return ordered[index] * 1000


def slope_kib_per_minute(rows: list[dict[str, Any]]) -> float | None:
    """Least-squares RSS slope over rows (KiB per minute); ``None`` for fewer than 3."""
    if len(rows) < 3:
        return None
    xs = [row["t"] / 60 for row in rows]
    ys = [float(row["rss_kib"]) for row in rows]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def stretches(
    rows: list[dict[str, Any]], warm_up: float = 0.0
) -> list[list[dict[str, Any]]]:
    """
    The rows between restarts, each without its first window and without the rows of
    its first ``warm_up`` seconds: the daemon's bounded caches (repeat replies, finished
    orders of the private copy, parsed URLs) fill at the pace of the orders, and RSS
    rising while they fill is not a leak.
    """
    parts: list[list[dict[str, Any]]] = [[]]
    starts = [0.0]
    for row in rows:
        parts[-1].append(row)
        if row["note"]:
            parts.append([])
            starts.append(float(row["t"]))
    return [
        [row for row in part[1:] if row["t"] - start > warm_up]
        for part, start in zip(parts, starts, strict=True)
        if len(part) > 1
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--window", type=float, default=10.0, help="seconds per row")
    parser.add_argument("--strategies", type=int, default=3)
    parser.add_argument("--think", type=float, default=0.2, help="seconds between loops")
    parser.add_argument("--restart-every", type=float, default=0.0,
                        help="stop and start the daemon every this many seconds (0: never)")
    parser.add_argument("--no-faults", dest="faults", action="store_false")
    parser.add_argument("--flat", type=float, default=64.0,
                        help="KiB/min of RSS growth still called flat")
    parser.add_argument("--warm-up", type=float, default=300.0,
                        help="seconds after each (re)start left out of the RSS slope "
                             "(bounded caches filling)")
    parser.add_argument("--from-json", type=Path,
                        help="judge the rows of an earlier run's --json instead of running")
    parser.add_argument("--json", type=Path, help="write the rows here too")
    args = parser.parse_args(argv)
    if args.from_json is not None:
        rows = json.loads(args.from_json.read_text())
        directory = args.from_json.parent
    else:
        directory = Path(tempfile.mkdtemp(prefix="fmzokx-soak-"))
        with deadline(args.minutes * 60 + 300), running(directory) as procs:
            rows = Soak(procs, directory, args).run()
    verdicts = []
    for number, part in enumerate(stretches(rows, args.warm_up), start=1):
        slope = slope_kib_per_minute(part)
        if slope is None:
            continue
        flat = slope <= args.flat  # only growth is a leak
        verdicts.append(flat)
        print(f"stretch {number}: RSS {part[0]['rss_kib'] / 1024:.1f} -> "
              f"{part[-1]['rss_kib'] / 1024:.1f} MiB, slope {slope:+.1f} KiB/min over "
              f"{(part[-1]['t'] - part[0]['t']) / 60:.1f} min: "
              f"{'flat' if flat else 'RISING'}")
    if args.json is not None and args.from_json is None:
        args.json.write_text(json.dumps(rows, indent=1))
    print(f"run directory: {directory}")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
