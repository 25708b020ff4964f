"""
Price a change against a git revision with the machine's noise cancelled:
``python bench/paired.py --baseline REF [--methods ticker,accounts,trade] [--requests N]``.

On a shared VM the same daemon's CPU per call moves by 15-30% between runs minutes apart
(the host, not the code), so two runs one after the other cannot resolve a 5% change.
Here the daemon at ``REF`` (exported like ``bench/run.py --baseline``) and this tree's run
side by side against one okxsim, and the calls are *interleaved one by one* -- A then B,
then B then A -- over one kept-alive connection each, so whatever the machine does to one
it does to the other within milliseconds. Per method it prints each daemon's p50 and CPU
per call (``/proc``, over the whole interleaved run) and the paired difference: the median
of the per-pair latency differences, and the CPU difference per call, both with the spread
over ``--rounds`` rounds (each round starts fresh processes, trees in alternating order).
"""

from __future__ import annotations

import argparse
import http.client
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import baseline, procs  # noqa: E402
from bench.procs import Child, cpu_seconds, free_port, wait_ready  # noqa: E402
from bench.run import _daemon_ready, _sim_ready  # noqa: E402
from bench.scenarios import RPC_PATH, Scenario, daemon_ok, rpc_body, scenarios  # noqa: E402

__all__ = ["main"]


def _start_daemon(
    processes: procs.Processes, tag: str, sim: Child, source: Path | None,
    extra: list[str],
) -> Child:
    port = free_port()
    tag = re.sub(r"[^A-Za-z0-9.]+", "-", tag).strip("-")
    env = {"PYTHONPATH": str(source)} if source is not None else {}
    # Two daemons run at once: neither may take the default status port.
    status = (
        ["--status-listen", "none"]
        if procs.twistd_supports("fmzokx", "--status-listen", env) else []
    )
    daemon = processes.start(
        f"fmzokx-{tag}", "fmzokx",
        ["--listen", f"tcp:{port}:interface=127.0.0.1", "--okx-url", sim.base_url,
         "--rate-limits", "off", "--market-data", "rest", *status,
         "--journal", str(processes.directory / f"{tag}.sqlite3"), *extra],
        port, env=env,
    )
    wait_ready(daemon, _daemon_ready(daemon))
    return daemon


def _caller(port: int, scenario: Scenario) -> Callable[[], float]:
    """One kept-alive connection; each call sends a fresh envelope and returns its ms."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call() -> float:
        body = rpc_body(scenario.rpc_method, scenario.rpc_params, signed=scenario.signed)
        started = time.perf_counter()
        connection.request("POST", RPC_PATH, body, {"Content-Type": "application/json"})
        reply = connection.getresponse().read()
        elapsed = (time.perf_counter() - started) * 1000
        if not daemon_ok(reply):
            raise RuntimeError(f"{scenario.name}: bad reply {reply[:200]!r}")
        return elapsed

    return call


def _round(
    processes: procs.Processes, trees: dict[str, tuple[Path | None, list[str]]],
    order: list[str], methods: list[Scenario], requests: int,
) -> dict[tuple[str, str], tuple[list[float], float]]:
    """One round: okxsim + both daemons; per (tree, method) the latencies and CPU ms/call."""
    sim_port = free_port()
    sim = processes.start(
        "okxsim", "okxsim",
        ["--listen", f"tcp:{sim_port}:interface=127.0.0.1", "--rate-limits", "off",
         "--latency", "0", "--seed", "1"],
        sim_port,
    )
    wait_ready(sim, _sim_ready(sim))
    daemons = {name: _start_daemon(processes, name, sim, *trees[name]) for name in order}
    out: dict[tuple[str, str], tuple[list[float], float]] = {}
    for scenario in methods:
        callers = {name: _caller(daemons[name].port, scenario) for name in order}
        for _ in range(min(200, requests)):  # warm-up: caches, pools, JIT-free but hot
            for name in order:
                callers[name]()
        latencies: dict[str, list[float]] = {name: [] for name in order}
        cpu_before = {name: cpu_seconds(daemons[name].pid) for name in order}
        for index in range(requests):
            turn = order if index % 2 == 0 else order[::-1]
            for name in turn:
                latencies[name].append(callers[name]())
        for name in order:
            cpu = (cpu_seconds(daemons[name].pid) - cpu_before[name]) * 1000 / requests
            out[(name, scenario.name)] = (latencies[name], cpu)
    for daemon in daemons.values():
        processes.stop(daemon)
    processes.stop(sim)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--baseline", required=True,
                        help="git revision to compare with ('.': this tree, to price options)")
    parser.add_argument("--baseline-args", default="", help="daemon options for the baseline")
    parser.add_argument("--args", default="", help="daemon options for this tree")
    parser.add_argument("--methods", default="ticker,accounts,trade")
    parser.add_argument("--requests", type=int, default=2000, help="calls per method per tree")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    wanted = args.methods.split(",")
    methods = [s for s in scenarios() if s.name in wanted]
    work = Path(tempfile.mkdtemp(prefix="fmzokx-paired-"))
    if args.baseline == ".":
        short, tree = "this tree " + (args.baseline_args or "as is"), None
    else:
        short, tree = baseline.export_revision(args.baseline, work)
    trees: dict[str, tuple[Path | None, list[str]]] = {
        short: (tree, args.baseline_args.split()),
        "this tree " + (args.args or "as is"): (None, args.args.split()),
    }
    names = list(trees)
    rounds: list[dict[tuple[str, str], tuple[list[float], float]]] = []
    with procs.deadline(3600):
        for number in range(args.rounds):
            order = names if number % 2 == 0 else names[::-1]
            with procs.running(Path(tempfile.mkdtemp(dir=work))) as processes:
                rounds.append(_round(processes, trees, order, methods, args.requests))
            print(f"round {number + 1}/{args.rounds} done", flush=True)
    a, b = names
    print(f"\npaired A/B, {args.requests} interleaved calls per method and tree, "
          f"{args.rounds} rounds; A = {a}, B = {b}; medians over rounds (spread)")
    header = f"{'method':10} {'A p50':>9} {'B p50':>9} {'B-A p50':>16} {'A cpu':>8} " \
             f"{'B cpu':>8} {'B-A cpu/call':>22}"
    print(header)
    for scenario in methods:
        m = scenario.name
        p50a = [statistics.median(r[(a, m)][0]) for r in rounds]
        p50b = [statistics.median(r[(b, m)][0]) for r in rounds]
        diff = [statistics.median([y - x for x, y in zip(r[(a, m)][0], r[(b, m)][0], strict=True)])
                for r in rounds]
        cpua = [r[(a, m)][1] for r in rounds]
        cpub = [r[(b, m)][1] for r in rounds]
        cpud = [y - x for x, y in zip(cpua, cpub, strict=True)]
        print(f"{m:10} {statistics.median(p50a):7.3f}ms {statistics.median(p50b):7.3f}ms "
              f"{statistics.median(diff):+7.3f} ({min(diff):+.2f}..{max(diff):+.2f}) "
              f"{statistics.median(cpua):6.3f}ms {statistics.median(cpub):6.3f}ms "
              f"{statistics.median(cpud):+7.3f} ({min(cpud):+.3f}..{max(cpud):+.3f}) ms "
              f"{100 * statistics.median(cpud) / statistics.median(cpua):+5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
