"""
What a shared rate-limit slot costs: ``SharedSlots.reserve`` against a real
``redis-server`` on 127.0.0.1, beside the local pacer it replaces.

::

    python bench/sharedslot.py                 # 3 repeats, medians
    python bench/sharedslot.py --calls 500 --repeats 1 --json

For each setting it reports the latency one call adds (median, p90, p99 over
``--calls`` sequential reservations), the same with 16 and 64 reservations in flight,
the Redis commands per reservation (``INFO commandstats``: EVALSHA calls / slots), and
the daemon's own path, ``Pacer.acquire``, with the shared budget and with its local
windows. Budgets are spread over 1000 keys with OKX's
order limit (60 per 2 s), so no set grows past what a busy account holds. The server
is started here in a temporary directory on a free loopback port and stopped at the
end; nothing else is contacted. Figures belong in docs/performance.rst.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from twisted.internet import task  # noqa: E402
from twisted.internet.defer import ensureDeferred, gatherResults  # noqa: E402

from fmzokx.okx.pacing.limits import RateRule, Scope  # noqa: E402
from fmzokx.okx.pacing.pacer import Pacer  # noqa: E402
from fmzokx.okx.pacing.shared.connection import RedisConnection  # noqa: E402
from fmzokx.okx.pacing.shared.script import RESERVE_SCRIPT  # noqa: E402
from fmzokx.okx.pacing.shared.slots import SharedSlots  # noqa: E402
from fmzokx.okx.pacing.shared.url import parse_redis_url  # noqa: E402

RULE = RateRule("POST", "/api/v5/trade/order", 60, Scope.USER_INST_ID)
KEYS = [("POST", "/api/v5/trade/order", "key-0123abcd", f"BENCH{i}-USDT") for i in range(1000)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def redis_server(directory: Path) -> Iterator[int]:
    """A redis-server on a free loopback port, no persistence, stopped on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    config = directory / "redis.conf"
    config.write_text(
        f"bind 127.0.0.1\nport {port}\ndir {directory}\nsave \"\"\nappendonly no\n"
        f"logfile {directory / 'redis.log'}\n"
    )
    process = subprocess.Popen([binary, str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        for _ in range(500):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.01)
        else:
            raise SystemExit("redis-server did not start")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def evalsha_calls(port: int) -> int:
    out = subprocess.run(
        ["redis-cli", "-p", str(port), "INFO", "commandstats"],
        capture_output=True, text=True, timeout=10, check=True,
    ).stdout
    for line in out.splitlines():
        if line.startswith("cmdstat_evalsha:"):
            return int(line.split("calls=", 1)[1].split(",", 1)[0])
    return 0


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "median_ms": statistics.median(ordered) * 1000,
        "p90_ms": at(0.90) * 1000,
        "p99_ms": at(0.99) * 1000,
    }


async def measure(reactor: Any, port: int, calls: int) -> dict[str, Any]:
    connection = RedisConnection(
        reactor, parse_redis_url(f"redis://127.0.0.1:{port}/0"), scripts=[RESERVE_SCRIPT]
    )
    connection.start()
    for _ in range(500):
        if connection.ready:
            break
        await task.deferLater(reactor, 0.01, lambda: None)
    slots = SharedSlots(reactor, connection, hosts=2, where="bench", call_deadline=1.0)
    slots.start()
    while slots.degraded:
        await task.deferLater(reactor, 0.01, lambda: None)
    result: dict[str, Any] = {}
    try:
        before = evalsha_calls(port)
        samples = []
        for i in range(calls):
            start = time.perf_counter()
            slot = await ensureDeferred(slots.reserve(RULE, KEYS[i % len(KEYS)], max_wait=60))
            samples.append(time.perf_counter() - start)
            assert slot.shared and slot.taken
        result["sequential"] = percentiles(samples)
        result["redis_commands_per_slot"] = (evalsha_calls(port) - before) / calls
        for inflight in (16, 64):
            samples = []
            started = time.perf_counter()

            async def one(i: int, into: list[float]) -> None:
                start = time.perf_counter()
                await ensureDeferred(slots.reserve(RULE, KEYS[i % len(KEYS)], max_wait=60))
                into.append(time.perf_counter() - start)

            for batch in range(max(1, calls // inflight)):
                await gatherResults(
                    [ensureDeferred(one(batch * inflight + j, samples)) for j in range(inflight)]
                )
            elapsed = time.perf_counter() - started
            result[f"inflight_{inflight}"] = {
                **percentiles(samples),
                "slots_per_s": len(samples) / elapsed,
            }
        # the daemon's own path: Pacer.acquire drawing on the shared budget
        shared_pacer = Pacer(reactor, shared=slots)
        samples = []
        for i in range(calls):
            start = time.perf_counter()
            await ensureDeferred(shared_pacer.acquire(
                RULE, KEYS[(i + 500) % len(KEYS)], deadline=reactor.seconds() + 60
            ))
            samples.append(time.perf_counter() - start)
        result["pacer_shared"] = percentiles(samples)
        assert not slots.degraded and slots.fallbacks == 0
    finally:
        slots.stop()
        await connection.stop()
    pacer = Pacer(reactor)
    samples = []
    for i in range(calls):
        start = time.perf_counter()
        await ensureDeferred(
            pacer.acquire(RULE, KEYS[i % len(KEYS)], deadline=reactor.seconds() + 60)
        )
        samples.append(time.perf_counter() - start)
    result["local_pacer"] = percentiles(samples)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print raw figures as JSON")
    options = parser.parse_args()
    runs: list[dict[str, Any]] = []

    async def all_runs(reactor: Any) -> None:
        with tempfile.TemporaryDirectory(prefix="fmzokx-sharedslot-") as tmp:
            for _ in range(options.repeats):
                # start/stop block the reactor for a moment; nothing is being timed then
                with redis_server(Path(tmp)) as port:
                    runs.append(await measure(reactor, port, options.calls))
        report(runs, options)

    task.react(lambda reactor: ensureDeferred(all_runs(reactor)))


def report(runs: list[dict[str, Any]], options: argparse.Namespace) -> None:
    if options.json:
        print(json.dumps(runs, indent=2))
        return
    rows = [
        ("one call, nothing else in flight", "sequential"),
        ("16 calls in flight", "inflight_16"),
        ("64 calls in flight", "inflight_64"),
        ("Pacer.acquire, shared budget", "pacer_shared"),
        ("Pacer.acquire, local (no Redis)", "local_pacer"),
    ]
    print(f"shared slot cost, {options.calls} reservations x {options.repeats} runs, medians")
    print(f"{'setting':36} {'median ms':>10} {'p90 ms':>8} {'p99 ms':>8} {'slots/s':>9}")
    for label, name in rows:
        figures = [run[name] for run in runs]

        def med(field: str, figures: list[dict[str, float]] = figures) -> float:
            return statistics.median(f[field] for f in figures)

        rate = f"{med('slots_per_s'):9.0f}" if "slots_per_s" in figures[0] else f"{'':9}"
        print(
            f"{label:36} {med('median_ms'):10.3f} {med('p90_ms'):8.3f} {med('p99_ms'):8.3f} "
            f"{rate}"
        )
    commands = statistics.median(run["redis_commands_per_slot"] for run in runs)
    print(f"Redis commands (EVALSHA) per slot: {commands:.2f}")


if __name__ == "__main__":
    main()
