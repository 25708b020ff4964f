"""
The market-data stream phase of ``bench/run.py``.

okxsim adds 50 ms to every REST reply and enforces OKX's rate limits; 20 connections ask
the daemon for one ticker (then one 20-level book), each asking again 100 ms after its
answer as a strategy's loop does, once through a daemon with ``--market-data ws`` (after
its first call subscribed) and once with ``--market-data rest``, side by side. For each:
p50/p99, requests/s, the REST calls okxsim saw during the load, and how old the answers
were: the local time at receipt minus the ``time`` field of the reply (okxsim runs on
the same machine's clock, so this is the answer's age).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench import procs
from bench.load import run_load
from bench.scenarios import Scenario, daemon_ok, scenarios

__all__ = ["WORKLOADS", "phase_stream", "stream_rows"]

WORKLOADS = ("ticker", "depth")
_CHANNEL = {"ticker": "tickers", "depth": "books"}
CONNECTIONS = 20
PACE = 0.1
"""Seconds each connection waits after an answer before asking again."""


def _aging(ages: list[float]) -> Callable[[bytes], bool]:
    """A body check that also records each answer's age in ms."""

    def check(body: bytes) -> bool:
        received = time.time()
        if not daemon_ok(body):
            return False
        try:
            stamp = json.loads(body)["data"]["time"]
        except (ValueError, KeyError, TypeError):
            return False
        ages.append(1000 * received - float(stamp))
        return True

    return check


def _wait_streamed(port: int, scenario: Scenario, seconds: float = 15.0) -> None:
    """Ask once (that subscribes), then wait until /healthz shows the channel live."""
    channel = _CHANNEL[scenario.name]
    run_load(port, scenario.daemon_factory(port), daemon_ok, requests=1, seconds=10)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, body = procs.http_call(port, "GET", "/healthz", timeout=2.0)
        if status == 200:
            health: dict[str, Any] = json.loads(body)
            states = health.get("stream", {}).get("live", {}).get("channels", {})
            if states.get(channel, {}).get("live"):
                return
        time.sleep(0.1)
    raise RuntimeError(f"stream phase: the {channel} channel never went live")


def phase_stream(
    pair: Any, mode: str, settings: Any, out: dict[str, float]
) -> None:
    """Load ``pair`` (okxsim +50 ms, limits on; the daemon in ``mode``) per workload."""
    for name in WORKLOADS:
        scenario = next(s for s in scenarios() if s.name == name)
        port = pair.daemon.port
        if mode == "ws":
            _wait_streamed(port, scenario)
        else:
            run_load(port, scenario.daemon_factory(port), daemon_ok, requests=20, seconds=10)
        before = pair.sim_requests(scenario.okx_path)
        cpu_before = procs.cpu_seconds(pair.daemon.pid)
        ages: list[float] = []
        result = run_load(
            port, scenario.daemon_factory(port), _aging(ages), connections=CONNECTIONS,
            requests=settings.stream_requests, seconds=settings.stream_seconds, pace=PACE,
        )
        if result.ok == 0:
            raise RuntimeError(f"stream {name} {mode}: no successful requests "
                               f"({result.first_error})")
        cpu = procs.cpu_seconds(pair.daemon.pid) - cpu_before
        key = f"stream.{name}.{mode}"
        out[f"{key}.cpu_ms"] = 1000 * cpu / result.ok
        if mode == "ws":
            # One caller alone: the answer time without queueing behind 19 others.
            alone = run_load(port, scenario.daemon_factory(port), daemon_ok,
                             requests=settings.stream_requests // 100 or 200, seconds=3)
            if alone.ok:
                out[f"{key}.alone_p50"] = alone.p(0.5)
        out[f"{key}.p50"] = result.p(0.5)
        out[f"{key}.p99"] = result.p(0.99)
        out[f"{key}.rps"] = result.rps
        out[f"{key}.rest_calls"] = pair.sim_requests(scenario.okx_path) - before
        out[f"{key}.requests"] = result.ok
        out[f"{key}.age_p50"] = statistics.median(ages) if ages else float("nan")
        out[f"{key}.age_max"] = max(ages) if ages else float("nan")


Row = tuple[str, str, str, str]


def stream_rows(
    median: Callable[[str], float | None],
    fmt: Callable[[float | None, str, int], str],
    met: Callable[[float | None, Callable[[float], bool]], str],
) -> list[Row]:
    """The table rows of the stream phase (ws with its targets, rest beside it)."""
    rows: list[Row] = []
    for name in WORKLOADS:
        ws, rest = f"stream.{name}.ws", f"stream.{name}.rest"
        p50 = median(f"{ws}.p50")
        calls = median(f"{ws}.rest_calls")
        age = median(f"{ws}.age_max")
        rows.append((
            f"stream {name} p50 / p99, {CONNECTIONS} conn each every {PACE * 1000:.0f} ms, "
            "okxsim +50 ms, limits on (ws)",
            f"{fmt(p50, '', 3)} / {fmt(median(f'{ws}.p99'), 'ms', 3)}",
            "p50 <= 1 ms", met(p50, lambda v: v <= 1.0),
        ))
        alone = median(f"{ws}.alone_p50")
        rows.append((f"  {name} p50, 1 connection alone (ws)", fmt(alone, "ms", 3),
                     "<= 1 ms", met(alone, lambda v: v <= 1.0)))
        rows.append((f"  {name} REST calls during the load (ws, subscribed)",
                     fmt(calls, "", 0), "0", met(calls, lambda v: v == 0)))
        rows.append((f"  {name} answer age p50 / max (ws)",
                     f"{fmt(median(f'{ws}.age_p50'), '', 1)} / {fmt(age, 'ms', 1)}",
                     "max <= 1000 ms", met(age, lambda v: v <= 1000)))
        rows.append((f"  {name} throughput / daemon CPU per RPC (ws)",
                     f"{fmt(median(f'{ws}.rps'), 'req/s', 0)} / "
                     f"{fmt(median(f'{ws}.cpu_ms'), 'ms', 2)}", "", ""))
        rows.append((
            f"  {name} p50 / p99, same load over REST (rest)",
            f"{fmt(median(f'{rest}.p50'), '', 1)} / {fmt(median(f'{rest}.p99'), 'ms', 1)}",
            "", "",
        ))
        rows.append((f"  {name} REST calls / throughput / daemon CPU per RPC (rest)",
                     f"{fmt(median(f'{rest}.rest_calls'), '', 0)} / "
                     f"{fmt(median(f'{rest}.rps'), 'req/s', 0)} / "
                     f"{fmt(median(f'{rest}.cpu_ms'), 'ms', 2)}", "", ""))
        rows.append((f"  {name} answer age p50 / max (rest)",
                     f"{fmt(median(f'{rest}.age_p50'), '', 1)} / "
                     f"{fmt(median(f'{rest}.age_max'), 'ms', 1)}", "", ""))
    return rows
