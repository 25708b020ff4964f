"""
Measure proposed hot-path changes before anyone edits the daemon:
``python bench/experiments.py [--variants a,b,...] [--rounds N]``.

Each *variant* is a small monkeypatch applied inside the daemon process before twistd
runs (:data:`PATCHES`), standing in for a change proposed to the owner of the patched
file. Variants run in interleaved rounds against the unpatched daemon (``baseline``), and
the report gives, per variant, the medians of:

- the daemon's own CPU time per ticker RPC (from /proc; robust on a shared machine),
- ticker p50 at 1 connection (asyncio generator), and
- signed ``accounts`` requests/s at 50 connections (wrk when installed).

Patches never change what goes on the wire; they only skip work.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

__all__ = ["PATCHES", "apply", "main"]


# -- the patches (run inside the daemon process) ----------------------------------------


def _treq_bypass() -> None:
    """
    fmzokx/okx/rest/client.py ``OkxClient._attempt``: call the Agent directly with the URL
    bytes already built for signing, instead of treq (which re-parses the URL with
    hyperlink + idna, runs its cookie jar through urllib/http.cookiejar and wraps the
    response on every call).
    """
    from treq.client import HTTPClient
    from twisted.web.http_headers import Headers

    from fmzokx.okx.rest.transport import BytesProducer

    original = HTTPClient.request

    def request(self: Any, method: str, url: Any, **kwargs: Any) -> Any:
        headers = kwargs.get("headers")
        if not isinstance(url, str) or not isinstance(headers, Headers) or (
            set(kwargs) - {"headers", "data", "unbuffered", "allow_redirects"}
        ):
            return original(self, method, url, **kwargs)
        data = kwargs.get("data")
        body = BytesProducer(data) if data else None
        return self._agent.request(method.encode("ascii"), url.encode("ascii"), headers, body)

    HTTPClient.request = request  # type: ignore[method-assign]


def _endpoint_cache() -> None:
    """
    fmzokx/okx/rest/transport.py ``_EndpointFactory.endpointForURI``: build the endpoint once
    per (scheme, host, port) and reuse it; the Agent asks for one on every request even
    when the pool has a connection, and HostnameEndpoint runs idna on the host each time.
    """
    from fmzokx.okx.rest import transport

    factory_class: Any = transport._EndpointFactory
    original = factory_class.endpointForURI

    def endpointForURI(self: Any, uri: Any) -> Any:  # noqa: N802 - Twisted's name
        cache = self.__dict__.setdefault("_bench_cache", {})
        key = (uri.scheme, uri.host, uri.port)
        endpoint = cache.get(key)
        if endpoint is None:
            endpoint = cache[key] = original(self, uri)
        return endpoint

    factory_class.endpointForURI = endpointForURI


def _no_form_parse() -> None:
    """
    fmzokx/fmz/site.py ``CappedRequest``: set ``_parsePOSTFormSubmission = False``;
    otherwise twisted.web parses every POST's Content-Type with email.message to look
    for form data the RPC never uses.
    """
    from fmzokx.fmz.site import CappedRequest

    CappedRequest._parsePOSTFormSubmission = False


def _no_rpc_log() -> None:
    """Drop the one info event per RPC (to price it; not proposed as such)."""
    from twisted.logger import Logger, LogPublisher

    from fmzokx.fmz import resource

    resource.RpcServer.log = Logger(
        namespace="fmzokx.fmz.resource", observer=LogPublisher()
    )


def _no_metrics() -> None:
    """Make the Prometheus observations no-ops (to price them; not proposed as such)."""
    from fmzokx import metrics

    for name in ("observe_rpc", "observe_upstream", "rpc_started", "rpc_finished"):
        if hasattr(metrics.Metrics, name):
            setattr(metrics.Metrics, name, lambda self, *args, **kwargs: None)


def _pool_50() -> None:
    """
    fmzokx/okx/rest/transport.py ``build_agent``: ``max_per_host=50`` instead of 10. With more
    concurrent upstream calls than that, every call beyond the tenth opens a new TCP (or
    TLS) connection and closes it after one request.
    """
    from fmzokx.okx.rest import transport

    defaults = transport.build_agent.__kwdefaults__
    if defaults is not None:
        defaults["max_per_host"] = 50


def _exact_url() -> None:
    """
    fmzokx/okx/rest/attempt.py ``AttemptSender.send``: hand treq the URL as
    ``fmzokx.okx.rest.exacturl.exact_url(text)`` (parsed once per distinct text, sent as is)
    instead of a string treq parses, idna-encodes and re-serialises on every call.
    """
    from treq.client import HTTPClient

    from fmzokx.okx.rest.exacturl import exact_url

    original = HTTPClient.request

    def request(self: Any, method: str, url: Any, **kwargs: Any) -> Any:
        return original(self, method, exact_url(url) if isinstance(url, str) else url,
                        **kwargs)

    HTTPClient.request = request  # type: ignore[method-assign]


def _gc_freeze() -> None:
    """
    After start-up, move everything allocated so far into the permanent generation
    (``gc.freeze()``), so the collector's full passes no longer walk the modules, classes
    and caches that live for the process's life.
    """
    import gc

    from twisted.internet import reactor

    reactor.callWhenRunning(reactor.callLater, 1.0, gc.freeze)


PATCHES: dict[str, Callable[[], None]] = {
    "exact-url": _exact_url,
    "gc-freeze": _gc_freeze,
    "pool-50": _pool_50,
    "treq-bypass": _treq_bypass,
    "endpoint-cache": _endpoint_cache,
    "no-form-parse": _no_form_parse,
    "no-rpc-log": _no_rpc_log,
    "no-metrics": _no_metrics,
}

#: Variants measured by default. endpoint-cache, pool-50 and no-form-parse were adopted
#: in the daemon (commit caa8a09) and are no-ops on later commits; they stay here to
#: re-measure older commits.
DEFAULT_VARIANTS = (
    "treq-bypass",
    "no-rpc-log",
    "no-metrics",
)


def apply(variant: str) -> None:
    """Apply ``variant`` (names joined with ``+``; ``baseline`` applies nothing)."""
    for name in variant.split("+"):
        if name and name != "baseline":
            PATCHES[name]()


PATCHED_TWISTD = """
import sys
variant = sys.argv.pop(1)
from bench.experiments import apply
apply(variant)
from twisted.scripts.twistd import run
run()
"""


# -- the measuring side -----------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_concurrency(
    variant: str, directory: Path, seconds: float, latency: float
) -> dict[str, float]:
    """Signed accounts at 20 connections with okxsim adding ``latency`` ms: p50/p99."""
    from bench import procs
    from bench.load import run_load, run_wrk, wrk_path
    from bench.run import start_pair
    from bench.scenarios import RPC_PATH, daemon_ok, scenarios

    accounts = scenarios()[2]
    out: dict[str, float] = {}
    with procs.running(directory) as processes:
        pair = start_pair(
            processes, variant.replace("+", "_"), latency_ms=latency, private_stream="off",
            command=[sys.executable, "-c", PATCHED_TWISTD, variant],
        )
        port = pair.daemon.port
        result: Any
        if wrk_path() is not None:
            run_wrk(port, RPC_PATH, method="POST", body=accounts.rpc_bytes(), connections=20,
                    seconds=1)
            result = run_wrk(port, RPC_PATH, method="POST", body=accounts.rpc_bytes(),
                             connections=20, seconds=seconds)
        else:
            result = run_load(port, accounts.daemon_factory(port), daemon_ok, connections=20,
                              requests=100_000, seconds=seconds)
        out["conc_p50"] = result.p(0.5)
        out["conc_p99"] = result.p(0.99)
        out["conc_rps"] = result.rps
    return out


def measure(variant: str, directory: Path, requests: int, seconds: float) -> dict[str, float]:
    from bench import procs
    from bench.load import run_load, run_wrk, wrk_path
    from bench.run import start_pair
    from bench.scenarios import RPC_PATH, daemon_ok, direct_ok, scenarios

    ticker, accounts = scenarios()[0], scenarios()[2]
    out: dict[str, float] = {}
    with procs.running(directory) as processes:
        pair = start_pair(
            processes, variant.replace("+", "_"), private_stream="off",
            command=[sys.executable, "-c", PATCHED_TWISTD, variant],
        )
        sim_factory = ticker.direct_factory(pair.sim.port)
        run_load(pair.sim.port, sim_factory, direct_ok, requests=200)
        direct = run_load(pair.sim.port, sim_factory, direct_ok, requests=requests)
        factory = ticker.daemon_factory(pair.daemon.port)
        run_load(pair.daemon.port, factory, daemon_ok, requests=300)
        before = _cpu_seconds(pair.daemon.pid)
        result = run_load(pair.daemon.port, factory, daemon_ok, requests=requests)
        out["cpu_ms"] = 1000 * (_cpu_seconds(pair.daemon.pid) - before) / max(result.ok, 1)
        out["p50"] = result.p(0.5)
        out["overhead_p50"] = result.p(0.5) - direct.p(0.5)
        if wrk_path() is not None:
            target = (pair.daemon.port, RPC_PATH)
            run_wrk(*target, method="POST", body=accounts.rpc_bytes(), connections=50,
                    seconds=1)
            wrk = run_wrk(*target, method="POST", body=accounts.rpc_bytes(), connections=50,
                          seconds=seconds)
            out["accounts_rps"] = wrk.rps
        else:
            load = run_load(pair.daemon.port, accounts.daemon_factory(pair.daemon.port),
                            daemon_ok, connections=50, requests=5000, seconds=seconds)
            out["accounts_rps"] = load.rps
        if result.errors:
            raise RuntimeError(f"{variant}: {result.errors} failed: {result.first_error}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--latency", type=float, default=0,
                        help="instead: accounts p50/p99 at 20 connections, this okxsim latency")
    args = parser.parse_args(argv)
    from bench import procs

    variants = ["baseline", *[v for v in args.variants.split(",") if v]]
    for variant in variants:
        for name in variant.split("+"):
            if name != "baseline" and name not in PATCHES:
                parser.error(f"unknown patch {name!r}; known: {', '.join(PATCHES)}")
    results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    directory = Path(tempfile.mkdtemp(prefix="fmzokx-experiments-"))
    with procs.deadline(3600):
        for round_index in range(args.rounds):
            for variant in variants:
                if args.latency:
                    figures = measure_concurrency(variant, directory, args.seconds, args.latency)
                else:
                    figures = measure(variant, directory, args.requests, args.seconds)
                results[variant].append(figures)
                print(f"round {round_index + 1} {variant}: " + ", ".join(
                    f"{k} {v:.3f}" for k, v in figures.items()), flush=True)

    def med(variant: str, key: str) -> float:
        return statistics.median(r[key] for r in results[variant])

    print(f"\nmedians of {args.rounds} rounds")
    if args.latency:
        print(f"{'variant':44} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
        for variant in variants:
            print(f"{variant:44} {med(variant, 'conc_p50'):8.1f} {med(variant, 'conc_p99'):8.1f}"
                  f" {med(variant, 'conc_rps'):8.0f}")
        return 0
    base_cpu, base_rps = med("baseline", "cpu_ms"), med("baseline", "accounts_rps")
    print(f"{'variant':44} {'CPU ms/RPC':>10} {'vs base':>8} {'ticker p50':>10} "
          f"{'overhead':>9} {'acc req/s':>9} {'vs base':>8}")
    for variant in variants:
        cpu, rps = med(variant, "cpu_ms"), med(variant, "accounts_rps")
        print(f"{variant:44} {cpu:10.3f} {100 * (cpu / base_cpu - 1):+7.1f}% "
              f"{med(variant, 'p50'):10.3f} {med(variant, 'overhead_p50'):9.3f} "
              f"{rps:9.0f} {100 * (rps / base_rps - 1):+7.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
