"""
The order journal's cost: ``python bench/journal.py [--orders N] [--growth N] [--dir DIR]``.

Two measurements on the journal as the daemon runs it (the real
:class:`~fmzokx.journal.Journal`, its own thread, the real reactor):

latency
    ``--orders`` orders one after another, as one docker connection sends them: the
    intent write (fsync'd; the order POST waits for it), then the outcome write. Median and
    p99 of each and of both, as the reactor sees them (thread hand-offs included), and
    of the bare SQLite commit on the journal's thread for comparison.
growth
    ``--growth`` orders (intent and outcome, realistic 32-character clOrdIds, bodies and
    OKX replies) written to a fresh file: bytes per order and file size per 100,000
    orders; then all of them pruned and as many written again, to show that freed pages
    are reused (the file stays bounded under ``--journal-days``).

Run it on the disk the daemon's journal lives on (``--dir``, default a temporary
directory under the current one): fsync latency is a property of that disk.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fmzokx.fmz.identity import request_fingerprint  # noqa: E402
from fmzokx.journal import (  # noqa: E402
    ImmediateExecutor,
    Journal,
    OrderRecord,
    ThreadExecutor,
)
from fmzokx.journal import entries as journal_entries  # noqa: E402

KEY_FP = "key-5e1f0a9c"


def order_body(n: int) -> dict[str, Any]:
    return {
        "instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy" if n % 2 else "sell",
        "posSide": "long", "ordType": "limit", "px": f"{60000 + n % 1000}.5",
        "sz": "0.01", "clOrdId": f"{n:032x}",
    }


def make_intent(n: int, now_ms: int) -> OrderRecord:
    return OrderRecord.from_body(
        KEY_FP, order_body(n), nonce=1_795_608_668_000_000_000 + n,
        request_fp=request_fingerprint("trade", {"symbol": "BTC_USDT.swap", "n": n}),
        exp_time=now_ms + 5000,
    )


def reply(n: int) -> str:
    return json.dumps({
        "code": "0", "msg": "", "inTime": "1795608668041000", "outTime": "1795608668043000",
        "data": [{"clOrdId": f"{n:032x}", "ordId": str(2_000_000_000_000_000 + n),
                  "tag": "", "ts": "1795608668042", "sCode": "0", "sMsg": "Order placed"}],
    }, separators=(",", ":"))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure_latency(directory: Path, orders: int) -> dict[str, list[float]]:
    """Intent, outcome and both, in ms, on the real reactor and the journal's thread."""
    from twisted.internet import reactor
    from twisted.internet.defer import ensureDeferred
    from twisted.internet.task import react

    timings: dict[str, list[float]] = {"intent": [], "outcome": [], "both": [], "commit": []}

    async def go(reactor: Any) -> None:
        journal = Journal.open(str(directory / "latency.sqlite3"), reactor,
                               ThreadExecutor(reactor))
        database = journal.db

        def timed_commit(n: int) -> float:
            # The bare SQLite work of one durable intent, on the journal's thread.
            started = time.perf_counter()
            database.write(lambda c: journal_entries.insert_order(
                c, make_intent(n, 0), 0), durable=True)
            return (time.perf_counter() - started) * 1000

        try:
            for n in range(orders + 50):
                started = time.perf_counter()
                await journal.record_order_intent(make_intent(n, journal.now()))
                written = time.perf_counter()
                await journal.record_order_outcome(
                    KEY_FP, f"{n:032x}", "placed", ord_id=str(n), reply=reply(n))
                done = time.perf_counter()
                if n >= 50:  # warm-up excluded
                    timings["intent"].append((written - started) * 1000)
                    timings["outcome"].append((done - written) * 1000)
                    timings["both"].append((done - started) * 1000)
            for n in range(orders):
                timings["commit"].append(
                    await journal.executor.run(lambda n=n: timed_commit(10**9 + n)))
        finally:
            await journal.close()

    del reactor
    try:
        react(lambda r: ensureDeferred(go(r)))
    except SystemExit as stop:
        if stop.code:
            raise
    return timings


def file_size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def measure_growth(directory: Path, orders: int) -> dict[str, float]:
    """Bytes on disk for ``orders`` journalled orders, and after prune + as many again."""
    from twisted.internet.task import Clock

    path = directory / "growth.sqlite3"
    clock = Clock()
    clock.advance(1_795_608_668)
    journal = Journal.open(str(path), clock, ImmediateExecutor())
    db = journal.db
    empty = path.stat().st_size

    def fill(offset: int) -> None:
        for n in range(offset, offset + orders):
            now = journal.now()
            # One transaction each, as the daemon writes them; NORMAL sync for speed here
            # (the bytes written do not depend on when they are fsync'd).
            db.write(lambda c, n=n, now=now: journal_entries.insert_order(
                c, make_intent(n, now), now), durable=False)
            db.write(lambda c, n=n, now=now: journal_entries.set_order_outcome(
                c, KEY_FP, f"{n:032x}", "placed", now, ord_id=str(n), reply=reply(n)),
                durable=False)
            clock.advance(0.01)

    def checkpoint() -> int:
        db.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return file_size(path)

    fill(0)
    first = checkpoint()
    clock.advance(86400 * 31)
    while db.write(lambda c: journal_entries.prune(c, journal.now() - 86400_000 * 30, 5000),
                   durable=False)[0]:
        pass
    after_prune = checkpoint()
    fill(orders)
    second = checkpoint()
    journal.executor.stop()
    db.close()
    assert journal.lock is not None
    journal.lock.release()
    return {
        "empty": empty,
        "first": first,
        "after_prune": after_prune,
        "second": second,
        "per_order": (first - empty) / orders,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--orders", type=int, default=2000, help="orders timed (default 2000)")
    parser.add_argument("--growth", type=int, default=100_000,
                        help="orders written for the growth figure (default 100000)")
    parser.add_argument("--dir", default=None, help="directory for the journal files")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fmzokx-bench-journal-", dir=args.dir or ".") as tmp:
        directory = Path(tmp)
        timings = measure_latency(directory, args.orders)
        growth = measure_growth(directory, args.growth)
    mib = 1024 * 1024
    per_100k = growth["per_order"] * 100_000
    rows = [
        (f"intent write, fsync'd (reactor -> thread -> reactor), {args.orders} orders",
         timings["intent"]),
        ("outcome write (synchronous=NORMAL)", timings["outcome"]),
        ("intent + outcome", timings["both"]),
        ("bare durable commit on the journal thread", timings["commit"]),
    ]
    print(f"fmzokx journal benchmark: Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, files in {args.dir or os.getcwd()}")
    print()
    print(f"{'write latency':<72}  {'median':>9}  {'p99':>9}")
    for label, values in rows:
        print(f"{label:<72}  {statistics.median(values):>6.3f} ms  "
              f"{percentile(values, 0.99):>6.3f} ms")
    print()
    print(f"{'file growth':<72}  {'value':>20}")
    print(f"{'bytes per journalled order (intent + outcome + OKX reply)':<72}  "
          f"{growth['per_order']:>17.0f} B")
    print(f"{'file size per 100,000 orders':<72}  {per_100k / mib:>16.1f} MiB")
    print(f"{f'after {args.growth:,} orders':<72}  {growth['first'] / mib:>16.1f} MiB")
    print(f"{'after pruning them all':<72}  {growth['after_prune'] / mib:>16.1f} MiB")
    print(f"{f'after {args.growth:,} more (freed pages reused)':<72}  "
          f"{growth['second'] / mib:>16.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
