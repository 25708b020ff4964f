"""
The fmzokx benchmark: ``python bench/run.py [--quick | --smoke] [--repeat N] [--baseline REF]``.

Starts okxsim (rate limits off, chosen latency) and the daemon as separate ``twistd``
processes on 127.0.0.1, drives them, and prints a table of medians over ``--repeat`` runs:
overhead against a direct okxsim call, throughput, concurrency under 50 ms latency, TLS,
pagination of 1,000 open orders, memory over ~100k requests, memory under an adversarial
mix of new keys and random paths (bench/adversarial.py), start-up time, and market data
from the WebSocket against REST (okxsim +50 ms, rate limits on; bench/stream.py). Every
phase but that last one runs the daemon with ``--market-data rest``. With ``--baseline
REF`` each repeat first measures the overhead of the daemon as of git revision REF
(bench/baseline.py), so a change is priced in the same run.
See docs/performance.rst for the method and the latest figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: make ``bench`` and ``fmzokx`` importable from the repo root.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import baseline, procs  # noqa: E402
from bench.adversarial import DAEMON_ARGS, phase_adversarial  # noqa: E402
from bench.load import (  # noqa: E402
    LoadResult,
    WrkResult,
    http_request,
    run_load,
    run_wrk,
    wrk_path,
)
from bench.procs import (  # noqa: E402
    Child,
    Processes,
    cpu_seconds,
    free_port,
    json_call,
    machine_info,
    rss_kib,
    wait_ready,
)
from bench.report import render, table  # noqa: E402
from bench.scenarios import (  # noqa: E402
    ORDER_AMOUNT,
    RPC_PATH,
    Scenario,
    daemon_ok,
    direct_ok,
    okx_request_factory,
    rpc_body,
    scenarios,
)
from bench.stream import phase_stream  # noqa: E402
from bench.tls import Pki, make_pki  # noqa: E402

__all__ = ["Settings", "main"]

Result = LoadResult | WrkResult
FLOOR_SCRIPT = Path(__file__).resolve().parent / "floor.py"


@dataclass(frozen=True)
class Settings:
    """Sizes of one benchmark mode."""

    mode: str
    repeat: int
    overhead_requests: int
    throughput_seconds: float
    throughput_requests: int  # bound for the asyncio generator
    concurrency_seconds: float
    concurrency_requests: int
    tls_requests: int
    pagination_orders: int
    pagination_calls: int
    memory_requests: int
    generator: str  # "wrk" or "asyncio"
    max_seconds: float
    adversarial_seconds: float = 60.0
    stream_seconds: float = 5.0
    stream_requests: int = 200_000  # bound; the phase runs for stream_seconds


def settings_for(args: argparse.Namespace) -> Settings:
    have_wrk = wrk_path() is not None and args.generator != "asyncio"
    if args.generator == "wrk" and wrk_path() is None:
        raise SystemExit("--generator wrk: wrk is not installed (apt-get install wrk)")
    if args.smoke:
        return Settings(
            "smoke", args.repeat or 1, 40, 2, 300, 2, 100, 20, 150, 1,
            args.memory_requests or 300, "asyncio", args.max_seconds or 120,
            adversarial_seconds=args.adversarial_seconds or 5,
            stream_seconds=1.0, stream_requests=400,
        )
    if args.quick:
        return Settings(
            "quick", args.repeat or 1, 300, 3, 6000, 4, 1500, 100, 1000, 2,
            args.memory_requests or 20_000, "wrk" if have_wrk else "asyncio",
            args.max_seconds or 600, adversarial_seconds=args.adversarial_seconds or 20,
            stream_seconds=3.0,
        )
    return Settings(
        "full", args.repeat or 3, 1000, 5, 12_000, 10, 6000, 300, 1000, 3,
        args.memory_requests or 100_000, "wrk" if have_wrk else "asyncio",
        args.max_seconds or 1800, adversarial_seconds=args.adversarial_seconds or 60,
    )


# -- starting the two processes ---------------------------------------------------------


def _sim_ready(child: Child, tls: Any = None) -> Callable[[], bool]:
    def probe() -> bool:
        status, _ = procs.http_call(child.port, "GET", "/api/v5/public/time", tls=tls)
        return status == 200

    return probe


def _daemon_ready(child: Child) -> Callable[[], bool]:
    ticker = scenarios()[0]

    def probe() -> bool:
        body = rpc_body(ticker.rpc_method, ticker.rpc_params, signed=False)
        status, content = procs.http_call(child.port, "POST", RPC_PATH, body, timeout=2.0)
        return status == 200 and daemon_ok(content)

    return probe


@dataclass
class Pair:
    sim: Child
    daemon: Child
    startup: float  # seconds from exec to the first served ticker
    tls: Any = None
    floor: Child | None = None  # bench/floor.py against the same okxsim (plain HTTP only)

    def sim_state(self) -> dict[str, Any]:
        state: dict[str, Any] = json_call(self.sim.port, "GET", "/_sim/state", tls=self.tls)
        return state

    def sim_requests(self, path: str) -> int:
        return int(self.sim_state().get("requests", {}).get(path, 0))

    def reset_sim(self) -> None:
        json_call(self.sim.port, "POST", "/_sim/reset", {}, tls=self.tls)


def start_pair(
    processes: Processes,
    tag: str,
    *,
    latency_ms: float = 0,
    pki: Pki | None = None,
    ca_option: bool = False,
    twistd_args: tuple[str, ...] = (),
    command: list[str] | None = None,
    daemon_args: tuple[str, ...] = (),
    rate_limits: bool = False,
    market_data: str | None = "rest",
    private_stream: str | None = None,
    with_floor: bool = True,
    source: Path | None = None,
) -> Pair:
    """
    okxsim, then the daemon and (over plain HTTP) the floor pointed at it; wait until
    both serve a ticker.

    :param rate_limits: OKX's limits on in okxsim and pacing on in the daemon.
    :param market_data: the daemon's ``--market-data`` (``None``: leave it out, for a
        daemon that predates the option).
    :param source: run the daemon from this source tree (a ``--baseline`` export).
    """
    limits = "on" if rate_limits else "off"
    sim_port = free_port()
    listen = pki.server_endpoint(sim_port) if pki else f"tcp:{sim_port}:interface=127.0.0.1"
    sim = processes.start(
        f"okxsim-{tag}", "okxsim",
        ["--listen", listen, "--rate-limits", limits, "--latency", f"{latency_ms:g}",
         "--seed", "1"],
        sim_port, scheme="https" if pki else "http",
    )
    tls = pki.client_context() if pki else None
    wait_ready(sim, _sim_ready(sim, tls))
    daemon_port = free_port()
    args = [
        "--listen", f"tcp:{daemon_port}:interface=127.0.0.1",
        "--okx-url", sim.base_url, "--rate-limits", limits, *daemon_args,
    ]
    if market_data is not None:
        args += ["--market-data", market_data]
    if private_stream is not None:
        args += ["--private-stream", private_stream]
    env: dict[str, str] = {}
    if source is not None:
        env["PYTHONPATH"] = str(source)  # that tree alone: see bench/baseline.py
    if procs.twistd_supports("fmzokx", "--status-listen", env):
        args += ["--status-listen", "none"]  # a baseline's daemon may run alongside
    if pki is not None:
        if ca_option:
            args += ["--ca-bundle", str(pki.ca_file)]
        else:
            # Without --ca-bundle the daemon trusts the platform store, which OpenSSL
            # lets SSL_CERT_FILE replace: same handshake, same pool, same code path.
            env["SSL_CERT_FILE"] = str(pki.ca_file)
    daemon = processes.start(
        f"fmzokx-{tag}", "fmzokx", args, daemon_port, env=env, twistd_args=twistd_args,
        command=command,
    )
    startup = wait_ready(daemon, _daemon_ready(daemon))
    floor = None
    if pki is None and with_floor:
        floor_port = free_port()
        floor = processes.start(
            f"floor-{tag}", f"--python={FLOOR_SCRIPT}", [], floor_port,
            env={"FMZOKX_FLOOR_PORT": str(floor_port), "FMZOKX_FLOOR_UPSTREAM": sim.base_url},
        )
        wait_ready(floor, _daemon_ready(floor))
    return Pair(sim, daemon, startup, tls, floor)


def stop_pair(processes: Processes, pair: Pair) -> None:
    if pair.floor is not None:
        processes.stop(pair.floor)
    processes.stop(pair.daemon)
    processes.stop(pair.sim)


# -- phases -----------------------------------------------------------------------------


def _require(result: Result, what: str, minimum: int = 1) -> None:
    ok = result.ok if isinstance(result, LoadResult) else result.requests
    if ok < minimum:
        detail = result.first_error if isinstance(result, LoadResult) else ""
        raise RuntimeError(f"{what}: no successful requests ({detail})")
    if isinstance(result, LoadResult) and result.errors:
        print(f"  warning: {what}: {result.errors} failed requests, first: {result.first_error}")
    if isinstance(result, WrkResult) and result.errors:
        print(f"  warning: {what}: wrk counted {result.errors} socket/status errors")


def phase_overhead(
    pair: Pair, settings: Settings, out: dict[str, float], prefix: str = ""
) -> None:
    """
    1 connection, 0 ms latency: daemon minus direct, per method (asyncio generator), and
    the floor minus direct in the same run (daemon / floor = the ratio the targets read).
    ``prefix`` goes in front of every key (the ``--baseline`` daemon's figures).
    """
    measured: dict[str, float] = {}
    _overhead(pair, settings, measured)
    out.update({prefix + key: value for key, value in measured.items()})


def _overhead(pair: Pair, settings: Settings, out: dict[str, float]) -> None:
    n = settings.overhead_requests
    for scenario in scenarios():
        if scenario.name == "trade":
            pair.reset_sim()  # fresh balances; resting orders do not pile up across runs
        sides = [
            ("direct", pair.sim, scenario.direct_factory(pair.sim.port), direct_ok),
            ("daemon", pair.daemon, scenario.daemon_factory(pair.daemon.port), daemon_ok),
        ]
        if pair.floor is not None and scenario.name != "trade":  # the floor only GETs
            sides.append(
                ("floor", pair.floor, scenario.daemon_factory(pair.floor.port), daemon_ok)
            )
        for side, child, factory, check in sides:
            port = child.port
            run_load(port, factory, check, requests=max(20, n // 10), seconds=30)  # warm-up
            before = cpu_seconds(child.pid)
            result = run_load(port, factory, check, requests=n, seconds=120)
            _require(result, f"overhead {scenario.name} {side}")
            used = cpu_seconds(child.pid) - before
            if side == "daemon":
                out[f"cpu.{scenario.name}.ms"] = 1000 * used / max(result.ok, 1)
            elif side == "floor":
                out[f"cpu.{scenario.name}.floor_ms"] = 1000 * used / max(result.ok, 1)
            out[f"overhead.{scenario.name}.{side}.p50"] = result.p(0.5)
            out[f"overhead.{scenario.name}.{side}.p99"] = result.p(0.99)
        name = scenario.name
        for q in ("p50", "p99"):
            out[f"overhead.{name}.{q}"] = (
                out[f"overhead.{name}.daemon.{q}"] - out[f"overhead.{name}.direct.{q}"]
            )
        if f"overhead.{name}.floor.p50" in out:
            floor = out[f"overhead.{name}.floor.p50"] - out[f"overhead.{name}.direct.p50"]
            out[f"overhead.{name}.floor_p50"] = floor
            if floor > 0:
                out[f"overhead.{name}.floor_ratio"] = out[f"overhead.{name}.p50"] / floor
    pair.reset_sim()


def _scenario_load(
    pair: Pair, settings: Settings, scenario: Scenario, *, side: str, connections: int,
    seconds: float, requests: int,
) -> Result:
    """Closed-loop load on one scenario: direct, the daemon or the floor (wrk if chosen)."""
    if side == "direct":
        port = pair.sim.port
        if settings.generator == "wrk":
            target, headers, body = scenario.direct_parts()
            return run_wrk(port, target, method=scenario.okx_method, body=body,
                           headers=headers, connections=connections, seconds=seconds)
        return run_load(port, scenario.direct_factory(port), direct_ok,
                        connections=connections, requests=requests, seconds=seconds)
    child = pair.floor if side == "floor" else pair.daemon
    assert child is not None
    port = child.port
    if settings.generator == "wrk":
        return run_wrk(port, RPC_PATH, method="POST", body=scenario.rpc_bytes(),
                       connections=connections, seconds=seconds)
    return run_load(port, scenario.daemon_factory(port), daemon_ok, connections=connections,
                    requests=requests, seconds=seconds)


def _sides(pair: Pair) -> tuple[str, ...]:
    return ("direct", "daemon", "floor") if pair.floor is not None else ("direct", "daemon")


def _served(result: Result) -> int:
    return result.ok if isinstance(result, LoadResult) else result.requests


#: Workloads for the multi-connection figures: the same public ticker from every
#: connection (which the client coalesces into shared upstream calls), and the signed
#: balance read, which is never shared, so every RPC is one upstream call.
WORKLOADS = ("ticker", "accounts")


def _workload(name: str) -> Scenario:
    return next(s for s in scenarios() if s.name == name)


def phase_throughput(pair: Pair, settings: Settings, out: dict[str, float]) -> None:
    """50 connections, 0 ms latency: requests/s through the daemon and direct."""
    for name in WORKLOADS:
        scenario = _workload(name)
        upstream_path = scenario.okx_path
        for side in _sides(pair):
            _scenario_load(pair, settings, scenario, side=side, connections=50, seconds=1,
                           requests=min(500, settings.throughput_requests))  # warm-up
            before = pair.sim_requests(upstream_path)
            closed_before = procs.time_wait_to(pair.sim.port)
            result = _scenario_load(
                pair, settings, scenario, side=side, connections=50,
                seconds=settings.throughput_seconds, requests=settings.throughput_requests,
            )
            closed = procs.time_wait_to(pair.sim.port) - closed_before
            upstream = pair.sim_requests(upstream_path) - before
            _require(result, f"throughput {name} {side}")
            out[f"throughput.{name}.{side}.rps"] = result.rps
            out[f"throughput.{name}.{side}.p99"] = result.p(0.99)
            if side == "daemon":
                served = _served(result)
                out[f"throughput.{name}.upstream_ratio"] = upstream / served if served else 0.0
                out[f"throughput.{name}.new_per_100"] = 100 * max(closed, 0) / max(served, 1)
        out[f"throughput.{name}.ratio"] = (
            out[f"throughput.{name}.daemon.rps"] / out[f"throughput.{name}.direct.rps"]
        )
        if pair.floor is not None:
            out[f"throughput.{name}.floor_ratio"] = (
                out[f"throughput.{name}.daemon.rps"] / out[f"throughput.{name}.floor.rps"]
            )


def phase_concurrency(pair: Pair, settings: Settings, out: dict[str, float]) -> None:
    """20 connections, okxsim adding 50 ms to every reply: p50/p99."""
    for name in WORKLOADS:
        scenario = _workload(name)
        for side in _sides(pair):
            _scenario_load(pair, settings, scenario, side=side, connections=20, seconds=1,
                           requests=100)
            result = _scenario_load(
                pair, settings, scenario, side=side, connections=20,
                seconds=settings.concurrency_seconds, requests=settings.concurrency_requests,
            )
            _require(result, f"concurrency {name} {side}")
            out[f"concurrency.{name}.{side}.p50"] = result.p(0.5)
            out[f"concurrency.{name}.{side}.p99"] = result.p(0.99)
            out[f"concurrency.{name}.{side}.rps"] = result.rps
        if pair.floor is not None:
            out[f"concurrency.{name}.floor_ratio_p99"] = (
                out[f"concurrency.{name}.daemon.p99"] / out[f"concurrency.{name}.floor.p99"]
            )


def phase_tls(pair: Pair, settings: Settings, out: dict[str, float]) -> None:
    """
    Over TLS: signed accounts at 50 connections through the daemon, counting the upstream
    connections it opened and closed; then ticker at 1 connection through the daemon
    (pooled upstream), directly over a kept-alive connection, and with a new handshake
    per call.
    """
    ticker = scenarios()[0]
    n = settings.tls_requests
    port = pair.sim.port
    accounts = _workload("accounts")
    _scenario_load(pair, settings, accounts, side="daemon", connections=50, seconds=1,
                   requests=min(500, settings.throughput_requests))  # warm-up
    closed_before = procs.time_wait_to(port)
    loaded = _scenario_load(
        pair, settings, accounts, side="daemon", connections=50,
        seconds=settings.throughput_seconds, requests=settings.throughput_requests,
    )
    _require(loaded, "tls accounts at 50 connections")
    closed = procs.time_wait_to(port) - closed_before
    out["tls.accounts50.rps"] = loaded.rps
    out["tls.accounts50.p99"] = loaded.p(0.99)
    out["tls.accounts50.new_per_100"] = 100 * max(closed, 0) / max(_served(loaded), 1)
    runs: list[tuple[str, int, Callable[[], bytes], Callable[[bytes], bool], bool, Any]] = [
        ("direct_pooled", port, ticker.direct_factory(port), direct_ok, False, pair.tls),
        ("direct_fresh", port, ticker.direct_factory(port, close=True), direct_ok, True,
         pair.tls),
        ("daemon", pair.daemon.port, ticker.daemon_factory(pair.daemon.port), daemon_ok, False,
         None),
    ]
    for name, target, factory, check, fresh, tls in runs:
        run_load(target, factory, check, requests=max(10, n // 10), seconds=30, tls=tls,
                 fresh_connection=fresh)
        result = run_load(target, factory, check, requests=n, seconds=120, tls=tls,
                          fresh_connection=fresh)
        _require(result, f"tls {name}")
        out[f"tls.{name}.p50"] = result.p(0.5)
    out["tls.handshake_cost"] = out["tls.direct_fresh.p50"] - out["tls.direct_pooled.p50"]


def phase_pagination(pair: Pair, settings: Settings, out: dict[str, float]) -> None:
    """``orders`` with N open orders: wall time of the RPC and upstream pages used."""
    pair.reset_sim()
    port = pair.sim.port
    place = okx_request_factory(
        port, "POST", "/api/v5/trade/order", None,
        {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit",
         "px": "1000", "sz": ORDER_AMOUNT},
        signed=True,
    )
    placed = run_load(port, place, direct_ok, requests=settings.pagination_orders, seconds=120)
    if placed.ok != settings.pagination_orders:
        raise RuntimeError(f"placed {placed.ok} of {settings.pagination_orders} orders: "
                           f"{placed.first_error}")
    walls: list[float] = []
    pages: list[int] = []
    body = http_request(
        "POST", RPC_PATH, pair.daemon.port,
        rpc_body("orders", {"symbol": "BTC_USDT"}, signed=True),
    )
    for _ in range(settings.pagination_calls):
        before = pair.sim_requests("/api/v5/trade/orders-pending")
        count: list[int] = []

        def check(content: bytes, count: list[int] = count) -> bool:
            document = json.loads(content)
            count.append(len(document.get("data") or []))
            return "data" in document

        result = run_load(pair.daemon.port, lambda: body, check, requests=1, seconds=120)
        _require(result, "pagination")
        if count and count[0] != settings.pagination_orders:
            raise RuntimeError(f"orders returned {count[0]} of {settings.pagination_orders}")
        walls.append(result.latencies_ms[0])
        pages.append(pair.sim_requests("/api/v5/trade/orders-pending") - before)
    out["pagination.wall_ms"] = statistics.median(walls)
    out["pagination.pages"] = statistics.median(pages)
    out["pagination.orders"] = settings.pagination_orders
    pair.reset_sim()


def phase_memory(pair: Pair, settings: Settings, out: dict[str, float]) -> None:
    """RSS after a warm-up, then after ~N requests (ticker, depth, accounts in turn)."""
    bodies = [
        rpc_body(s.rpc_method, s.rpc_params, signed=s.signed) for s in scenarios()[:3]
    ]
    turn = [0]

    def factory() -> bytes:
        turn[0] += 1
        return http_request("POST", RPC_PATH, pair.daemon.port, bodies[turn[0] % 3])

    rates: dict[bytes, float] = {}

    def drive(requests: int) -> int:
        if settings.generator == "wrk":
            done = 0
            for body in bodies:  # a third of the requests for each method
                if body not in rates:  # calibrate: wrk runs for a time, not a count
                    probe = run_wrk(pair.daemon.port, RPC_PATH, method="POST", body=body,
                                    connections=50, seconds=2)
                    rates[body] = max(probe.rps, 100.0)
                    done += probe.requests
                result = run_wrk(
                    pair.daemon.port, RPC_PATH, method="POST", body=body, connections=50,
                    seconds=max(1.0, requests / 3 / rates[body]),
                )
                rates[body] = max(result.rps, 100.0)  # follow the sustained rate
                done += result.requests
            return done
        load = run_load(
            pair.daemon.port, factory, daemon_ok, connections=50, requests=requests,
            seconds=600,
        )
        return load.ok

    drive(max(300, settings.memory_requests // 20))
    warm = rss_kib(pair.daemon.pid)
    chunks = 5 if settings.memory_requests >= 10_000 else 1
    total = 0
    samples = [warm]
    for _ in range(chunks):
        total += drive(settings.memory_requests // chunks)
        samples.append(rss_kib(pair.daemon.pid))
    out["memory.warm_mib"] = warm / 1024
    out["memory.after_mib"] = samples[-1] / 1024
    out["memory.growth_mib"] = (samples[-1] - warm) / 1024
    out["memory.requests"] = total
    print("  rss MiB after each chunk: " + ", ".join(f"{s / 1024:.1f}" for s in samples))


# -- the run ----------------------------------------------------------------------------


@dataclass
class Run:
    settings: Settings
    ca_option: bool
    market_data: bool = True  # the daemon has --market-data (and the stream)
    # the daemon has --private-stream: these phases measure REST, so they turn it off
    # (bench/private.py measures it)
    private_stream: bool = False
    baseline: str = ""  # the --baseline revision, abbreviated
    baseline_source: Path | None = None
    repeats: list[dict[str, float]] = field(default_factory=list)
    startups: list[float] = field(default_factory=list)
    tls_note: str = ""

    def median(self, key: str) -> float | None:
        values = [r[key] for r in self.repeats if key in r]
        return statistics.median(values) if values else None

    def lowest(self, key: str) -> float | None:
        values = [r[key] for r in self.repeats if key in r]
        return min(values) if values else None


def one_repeat(run: Run, processes: Processes, index: int, pki: Pki, last: bool) -> None:
    settings = run.settings
    out: dict[str, float] = {}
    if run.baseline_source is not None:
        print(f"repeat {index + 1}/{settings.repeat}: okxsim 0 ms + daemon at {run.baseline}: "
              "overhead (1 connection)")
        rest = "rest" if baseline.has_option(run.baseline_source, "--market-data") else None
        pair = start_pair(processes, f"r{index}-baseline", market_data=rest, with_floor=False,
                          source=run.baseline_source)
        phase_overhead(pair, settings, out, prefix=baseline.PREFIX)
        stop_pair(processes, pair)
    print(f"repeat {index + 1}/{settings.repeat}: okxsim 0 ms + daemon")
    plain = "rest" if run.market_data else None
    off = "off" if run.private_stream else None
    pair = start_pair(processes, f"r{index}-plain", market_data=plain, private_stream=off)
    run.startups.append(pair.startup)
    out["startup.s"] = pair.startup
    print(f"  start-up {pair.startup:.2f} s; overhead (1 connection)")
    phase_overhead(pair, settings, out)
    print(f"  throughput (50 connections, {settings.generator})")
    phase_throughput(pair, settings, out)
    print(f"  pagination ({settings.pagination_orders} open orders)")
    phase_pagination(pair, settings, out)
    if last:
        print(f"  memory (~{settings.memory_requests} requests)")
        phase_memory(pair, settings, out)
    stop_pair(processes, pair)
    if last:
        print(f"  adversarial memory ({settings.adversarial_seconds:g} s, pacing on)")
        pair = start_pair(processes, f"r{index}-adversarial", daemon_args=DAEMON_ARGS,
                          market_data=plain, private_stream=off, with_floor=False)
        samples = phase_adversarial(pair.daemon.pid, pair.daemon.port, out,
                                    seconds=settings.adversarial_seconds)
        print("  rss MiB after warm-up, then each slice: "
              + ", ".join(f"{s:.1f}" for s in samples))
        stop_pair(processes, pair)

    print("  okxsim 50 ms + daemon: concurrency (20 connections)")
    pair = start_pair(processes, f"r{index}-latency", latency_ms=50, market_data=plain,
                      private_stream=off)
    run.startups.append(pair.startup)
    phase_concurrency(pair, settings, out)
    stop_pair(processes, pair)

    if run.market_data:
        for mode in ("ws", "rest"):
            print(f"  okxsim 50 ms, limits on + daemon --market-data {mode}: "
                  "ticker and depth (20 connections)")
            pair = start_pair(processes, f"r{index}-stream-{mode}", latency_ms=50,
                              rate_limits=True, market_data=mode,
                              private_stream=off)
            run.startups.append(pair.startup)
            phase_stream(pair, mode, settings, out)
            stop_pair(processes, pair)

    print("  okxsim over TLS + daemon: 1 connection")
    try:
        pair = start_pair(processes, f"r{index}-tls", pki=pki, ca_option=run.ca_option,
                          market_data=plain, private_stream=off)
    except RuntimeError as error:
        run.tls_note = "n/a (needs --ca-bundle)"
        print(f"  TLS daemon did not start: {str(error).splitlines()[0]}")
    else:
        run.startups.append(pair.startup)
        phase_tls(pair, settings, out)
        stop_pair(processes, pair)
    run.repeats.append(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="shorter runs, one repeat")
    size.add_argument("--smoke", action="store_true",
                      help="a few hundred requests, asyncio generator only (CI)")
    parser.add_argument("--repeat", type=int, default=0, help="repeats (median reported)")
    parser.add_argument("--generator", choices=("auto", "wrk", "asyncio"), default="auto",
                        help="multi-connection load generator (default: wrk if installed)")
    parser.add_argument("--memory-requests", type=int, default=0,
                        help="requests for the memory figure (default 100000)")
    parser.add_argument("--adversarial-seconds", type=float, default=0,
                        help="length of the adversarial memory phase (default 60)")
    parser.add_argument("--max-seconds", type=float, default=0,
                        help="hard budget for the whole run")
    parser.add_argument("--json", type=Path, help="also write the raw per-repeat figures here")
    parser.add_argument("--keep", action="store_true", help="keep the run directory (logs)")
    parser.add_argument("--baseline", metavar="REF", default="",
                        help="also measure the overhead of the daemon at this git revision "
                        "(e.g. main), in the same run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = settings_for(args)
    info = machine_info(settings.generator)
    directory = Path(tempfile.mkdtemp(prefix="fmzokx-bench-"))
    print(f"fmzokx benchmark ({settings.mode}, {settings.repeat} repeat(s)); logs in {directory}")
    for name, value in info.items():
        print(f"  {name}: {value}")
    started = time.perf_counter()
    ca_option = procs.twistd_supports("fmzokx", "--ca-bundle")
    run = Run(settings, ca_option, procs.twistd_supports("fmzokx", "--market-data"))
    run.private_stream = procs.twistd_supports("fmzokx", "--private-stream")
    if args.baseline:
        run.baseline, run.baseline_source = baseline.export_revision(args.baseline, directory)
        print(f"  baseline: {args.baseline} = {run.baseline}, exported to "
              f"{run.baseline_source}")
    try:
        with procs.deadline(settings.max_seconds), procs.running(directory) as processes:
            pki = make_pki(directory)
            for index in range(settings.repeat):
                one_repeat(run, processes, index, pki, last=index == settings.repeat - 1)
    except KeyboardInterrupt:
        print("interrupted; child processes stopped", file=sys.stderr)
        return 130
    except procs.TimeBudgetExceeded as error:
        print(f"{error}; child processes stopped", file=sys.stderr)
        return 2
    finally:
        if not args.keep and (run.repeats or settings.mode == "smoke"):
            if run.baseline_source is not None:
                shutil.rmtree(run.baseline_source, ignore_errors=True)
            for path in sorted(directory.glob("*")):
                path.unlink(missing_ok=True)
            try:
                directory.rmdir()
            except OSError:
                pass
    if not ca_option:
        note = "(daemon trusts the CA via SSL_CERT_FILE: twistd fmzokx has no --ca-bundle)"
        run.tls_note = run.tls_note or note
    print()
    elapsed = time.perf_counter() - started
    print(f"Results: medians of {len(run.repeats)} repeat(s), {elapsed:.0f} s")
    rows = table(run)
    if run.baseline:
        rows += baseline.rows(run.median, run.baseline)
    print(render(rows))
    if run.tls_note:
        print(f"TLS: {run.tls_note}")
    if args.json:
        args.json.write_text(json.dumps(
            {"machine": info, "settings": settings.__dict__, "repeats": run.repeats,
             "startups": run.startups},
            indent=2,
        ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
