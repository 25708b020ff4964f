"""
The private-stream benchmark (issue 24): ``python bench/private.py [--seconds 15]``.

okxsim adds 50 ms to every REST reply and enforces OKX's rate limits. Three strategies,
each on its own keep-alive connection, poll ``accounts``, ``positions`` and ``orders`` in
turn and sleep 100 ms, for ``--seconds`` (after a warm-up of ``--warmup`` seconds that
opens the key's private session), once through a daemon with ``--private-stream on`` and
once with ``off``, side by side: p50/p90/p99 per method, the REST reads okxsim saw after
the warm-up (balance, positions, open orders), okxsim's rate-limit refusals, and the time
from a fill at okxsim (a market order sent straight to okxsim, not through the daemon) to
``GetAccount`` through the daemon showing it. Two floors in the same moment: the daemon
answering an unknown method, and a bare ``twisted.web`` resource (``bench/floor.py``)
answering it, which no docker call over HTTP can beat on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import procs  # noqa: E402
from bench.load import _read_response, http_request, percentile  # noqa: E402
from bench.run import start_pair, stop_pair  # noqa: E402
from bench.scenarios import RPC_PATH, daemon_ok, okx_parts, rpc_body  # noqa: E402

__all__ = ["main"]

METHODS = ("accounts", "positions", "orders")
READS = {
    "accounts": "/api/v5/account/balance",
    "positions": "/api/v5/account/positions",
    "orders": "/api/v5/trade/orders-pending",
}
STRATEGIES = 3
SLEEP = 0.1


async def _call(reader: Any, writer: Any, port: int, method: str) -> tuple[float, bytes]:
    request = http_request("POST", RPC_PATH, port, rpc_body(method, {}, signed=True))
    began = time.perf_counter()
    writer.write(request)
    await writer.drain()
    _, body, _ = await _read_response(reader)
    return (time.perf_counter() - began) * 1000, body


async def _strategy(port: int, until: float, warm_until: float,
                    samples: dict[str, list[float]], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < until:
            for method in METHODS:
                ms, body = await _call(reader, writer, port, method)
                if not daemon_ok(body):
                    errors.append(body[:200].decode("utf-8", "replace"))
                elif time.monotonic() >= warm_until:
                    samples[method].append(ms)
            await asyncio.sleep(SLEEP)
    finally:
        writer.close()


async def _poll(port: int, seconds: float, warmup: float) -> tuple[dict[str, list[float]],
                                                                    list[str]]:
    samples: dict[str, list[float]] = {method: [] for method in METHODS}
    errors: list[str] = []
    start = time.monotonic()
    await asyncio.gather(*(
        _strategy(port, start + warmup + seconds, start + warmup, samples, errors)
        for _ in range(STRATEGIES)
    ))
    return samples, errors


async def _floor(port: int, calls: int = 300) -> list[float]:
    """
    The same daemon answering a call that reaches no copy and no OKX (an unknown method,
    answered with an error) on one connection: what the machine's load alone costs now.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        times = []
        for _ in range(calls):
            ms, _ = await _call(reader, writer, port, "nosuchmethod")
            times.append(ms)
            await asyncio.sleep(0.005)
        return times
    finally:
        writer.close()


async def _fill_to_account(daemon_port: int, sim_port: int) -> float:
    """ms from okxsim's answer to a market buy sent straight to it to GetAccount showing it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", daemon_port)
    try:
        _, first = await _call(reader, writer, daemon_port, "accounts")
        before = json.loads(first)["data"]
        payload = {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "market",
                   "sz": "10", "tgtCcy": "quote_ccy"}
        target, headers, body = okx_parts("POST", "/api/v5/trade/order", None, payload,
                                          signed=True)
        sim_reader, sim_writer = await asyncio.open_connection("127.0.0.1", sim_port)
        sim_writer.write(http_request("POST", target, sim_port, body, headers))
        await sim_writer.drain()
        _, answer, _ = await _read_response(sim_reader)
        filled = time.perf_counter()
        sim_writer.close()
        if b'"sCode":"0"' not in answer:
            raise RuntimeError(f"the market order was refused: {answer[:300]!r}")
        while time.perf_counter() - filled < 10:
            _, reply = await _call(reader, writer, daemon_port, "accounts")
            if daemon_ok(reply) and json.loads(reply)["data"] != before:
                return (time.perf_counter() - filled) * 1000
            await asyncio.sleep(0.002)
        raise RuntimeError("GetAccount never showed the fill")
    finally:
        writer.close()


def one_mode(mode: str, seconds: float, warmup: float, directory: Path) -> dict[str, Any]:
    directory.mkdir(parents=True, exist_ok=True)
    with procs.running(directory) as processes:
        pair = start_pair(
            processes, f"private-{mode}", latency_ms=50, rate_limits=True,
            daemon_args=("--private-stream", mode), with_floor=True,
        )
        try:
            # The warm-up opens the session (first reads over REST); counting starts after.
            start_state: dict[str, Any] = {}

            cpu: dict[str, float] = {}

            async def run() -> tuple[dict[str, list[float]], list[str]]:
                task = asyncio.ensure_future(_poll(pair.daemon.port, seconds, warmup))
                await asyncio.sleep(warmup)
                start_state.update(pair.sim_state())
                cpu["before"] = procs.cpu_seconds(pair.daemon.pid)
                return await task

            samples, errors = asyncio.run(run())
            cpu["after"] = procs.cpu_seconds(pair.daemon.pid)
            end_state = pair.sim_state()
            fills = [asyncio.run(_fill_to_account(pair.daemon.port, pair.sim.port))
                     for _ in range(5)]
            floor = asyncio.run(_floor(pair.daemon.port))
            assert pair.floor is not None
            bare = asyncio.run(_floor(pair.floor.port))
        finally:
            stop_pair(processes, pair)
    calls = {
        method: end_state.get("requests", {}).get(path, 0)
        - start_state.get("requests", {}).get(path, 0)
        for method, path in READS.items()
    }
    return {
        "samples": {m: len(v) for m, v in samples.items()},
        "latency": {
            m: {f"p{q}": percentile(v, q / 100) for q in (50, 90, 99)} for m, v in samples.items()
        },
        "rest_calls": calls,
        "rejected": end_state.get("rejected", {}),
        "errors": len(errors),
        # Daemon CPU per call after the warm-up (its own work, whatever the machine's load).
        "cpu_ms_per_call": 1000 * (cpu["after"] - cpu["before"])
        / max(1, sum(len(v) for v in samples.values())),
        "first_error": errors[0] if errors else "",
        "fill_to_account_ms": sorted(fills),
        "floor": {f"p{q}": percentile(floor, q / 100) for q in (50, 99)},
        "bare": {f"p{q}": percentile(bare, q / 100) for q in (50, 99)},
    }


def table(results: dict[str, dict[str, Any]], seconds: float) -> str:
    lines = [
        f"| method | p50 on | p90 on | p99 on | p50 off | p90 off | p99 off | REST reads "
        f"after warm-up (on / off, {seconds:g} s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    on, off = results["on"], results["off"]
    for method in METHODS:
        a, b = on["latency"][method], off["latency"][method]
        lines.append(
            f"| {method} | {a['p50']:.2f} ms | {a['p90']:.2f} ms | {a['p99']:.2f} ms | "
            f"{b['p50']:.1f} ms | {b['p90']:.1f} ms | {b['p99']:.1f} ms | "
            f"{on['rest_calls'][method]} / {off['rest_calls'][method]} |"
        )
    for mode in ("on", "off"):
        fills = results[mode]["fill_to_account_ms"]
        lines.append(
            f"\nprivate stream {mode}: fill at okxsim -> GetAccount shows it, 5 fills: "
            + ", ".join(f"{f:.0f} ms" for f in fills)
            + f"; okxsim rate-limit refusals: {results[mode]['rejected'] or 'none'}; "
            f"failed calls: {results[mode]['errors']}; daemon CPU per call: "
            f"{results[mode]['cpu_ms_per_call']:.2f} ms; the same daemon answering an "
            f"unknown method alone (no copy, no OKX): p50 {results[mode]['floor']['p50']:.2f} "
            f"ms, p99 {results[mode]['floor']['p99']:.2f} ms; a bare twisted.web resource "
            f"answering it (bench/floor.py): p50 {results[mode]['bare']['p50']:.2f} ms, "
            f"p99 {results[mode]['bare']['p99']:.2f} ms"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="fmzokx-private-") as tmp:
        for mode in ("on", "off"):
            print(f"--private-stream {mode}: {STRATEGIES} strategies polling for "
                  f"{args.seconds:g} s after {args.warmup:g} s of warm-up")
            results[mode] = one_mode(mode, args.seconds, args.warmup, Path(tmp) / mode)
    print(table(results, args.seconds))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
