"""
The garbage collector's pauses in the daemon under load, with and without the start-up
freeze: ``python bench/gcpause.py [--rounds 3] [--seconds 15]``.

A full collection stops everything: every call in flight waits for it, so its length
lands in the tail (p99) of every concurrent caller. The daemon runs under ``gc.callbacks``
that time each collection by generation; okxsim adds 50 ms per reply and wrk keeps 20
connections calling signed ``accounts`` (the p99 figure of issue 17). ``frozen`` runs
:func:`fmzokx.service.freeze_gc` one second after start, ``not frozen`` never (the daemon
itself freezes 30 s after start; both runs end before that). Rounds alternate the two.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import procs  # noqa: E402
from bench.load import run_wrk, wrk_path  # noqa: E402
from bench.run import start_pair  # noqa: E402
from bench.scenarios import RPC_PATH, rpc_body  # noqa: E402

__all__ = ["main"]

# Runs in the daemon's process before twistd: argv[1] the freeze delay, argv[2] the output.
TIMED_TWISTD = r"""
import gc, json, sys, time
freeze_after = float(sys.argv.pop(1))
out = sys.argv.pop(1)
import fmzokx.service
fmzokx.service.GC_FREEZE_AFTER = freeze_after
pauses, began = [], [0.0]
def timed(phase, info):
    if phase == "start":
        began[0] = time.perf_counter()
    else:
        pauses.append((info["generation"], (time.perf_counter() - began[0]) * 1000))
gc.callbacks.append(timed)
from twisted.internet import reactor
def dump():
    with open(out, "w") as f:
        json.dump({"pauses": pauses, "tracked": len(gc.get_objects())}, f)
reactor.addSystemEventTrigger("before", "shutdown", dump)
from twisted.scripts.twistd import run
run()
"""


def one_run(frozen: bool, seconds: float, directory: Path) -> dict[str, float]:
    out = directory / "pauses.json"
    delay = "1" if frozen else "1e9"
    with procs.running(directory) as processes:
        pair = start_pair(
            processes, "gc", latency_ms=50, with_floor=False, private_stream="off",
            command=[sys.executable, "-c", TIMED_TWISTD, delay, str(out)],
        )
        body = rpc_body("accounts", {}, signed=True)
        run_wrk(pair.daemon.port, RPC_PATH, method="POST", body=body, connections=20,
                seconds=2)
        load = run_wrk(pair.daemon.port, RPC_PATH, method="POST", body=body, connections=20,
                       seconds=seconds)
        processes.stop(pair.daemon, grace=30)
    data = json.loads(out.read_text())
    full = [ms for generation, ms in data["pauses"] if generation == 2]
    return {
        "p50": load.p50_ms, "p99": load.p99_ms, "rps": load.rps,
        "full": len(full), "full_ms": statistics.median(full) if full else 0.0,
        "full_max": max(full, default=0.0), "tracked": data["tracked"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args(argv)
    if wrk_path() is None:
        raise SystemExit("bench/gcpause.py needs wrk (apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="fmzokx-gcpause-"))
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    with procs.deadline(1800):
        for number in range(args.rounds):
            for frozen in ((False, True) if number % 2 == 0 else (True, False)):
                runs[frozen].append(
                    one_run(frozen, args.seconds, Path(tempfile.mkdtemp(dir=work)))
                )
            print(f"round {number + 1}/{args.rounds} done", flush=True)
    print(f"\nsigned accounts, 20 connections, okxsim +50 ms, {args.seconds:g} s per run; "
          f"medians of {args.rounds} runs (each run's figure in brackets)")
    rows = [
        ("p50 ms", "p50"), ("p99 ms", "p99"), ("requests/s", "rps"),
        ("full collections", "full"), ("full collection, median ms", "full_ms"),
        ("full collection, longest ms", "full_max"), ("objects the collector walks", "tracked"),
    ]
    print(f"{'':30} {'not frozen':>28} {'frozen':>28}")
    for title, key in rows:
        cells = []
        for frozen in (False, True):
            values = [run[key] for run in runs[frozen]]
            each = ", ".join(f"{v:.0f}" if v >= 100 else f"{v:.1f}" for v in values)
            cells.append(f"{statistics.median(values):.1f} ({each})")
        print(f"{title:30} {cells[0]:>28} {cells[1]:>28}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
