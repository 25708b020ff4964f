"""
Profile the daemon's hot path: ``python bench/profile.py [--method ticker] [--requests N]``.

Starts okxsim (0 ms latency, rate limits off) and the daemon under cProfile with a CPU-time
clock (:func:`bench.procs.profiled_twistd_command`), drives one method
through the daemon with the asyncio generator, stops the daemon so that it writes its
statistics, and prints where the daemon's CPU time went: grouped by area (HTTP server,
HTTP client, Klein, JSON, logging, signing, fmzokx's own layers...) and the top
functions by own time. cProfile slows small functions more than large ones, so read the
shares, not the absolute times. ``--sampler py-spy`` (py-spy installed, not a
dependency) samples the daemon instead, undistorted, and groups the samples the same way:
each sample is charged to the area of the innermost frame that is not generic.
"""

from __future__ import annotations

import argparse
import collections
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import procs  # noqa: E402
from bench.load import run_load  # noqa: E402
from bench.run import start_pair  # noqa: E402
from bench.scenarios import daemon_ok, scenarios  # noqa: E402

__all__ = ["AREAS", "area_of", "areas", "main", "sampled_areas"]

#: (substring of the file path or function name, area), first match wins.
AREAS: tuple[tuple[str, str], ...] = (
    ("fmzokx/okx/rest/signing", "fmzokx signing"),
    ("fmzokx/journal", "fmzokx order journal (SQLite, its own thread)"),
    ("fmzokx/okx/", "fmzokx OKX client"),
    ("fmzokx/fmz/resource", "fmzokx RPC resource"),
    ("fmzokx/fmz/envelope", "fmzokx envelope parsing"),
    ("fmzokx/fmz/jsonout", "fmzokx JSON output"),
    ("fmzokx/fmz/", "fmzokx protocol (methods, gateway)"),
    ("fmzokx/metrics", "fmzokx metrics"),
    ("fmzokx/logs", "fmzokx logging"),
    ("fmzokx/jsonlog", "fmzokx logging"),
    ("fmzokx/", "fmzokx other"),
    ("prometheus_client", "prometheus_client"),
    ("twisted/logger", "twisted.logger (log events)"),
    ("twisted/python/log", "twisted.python.log (legacy log/context)"),
    ("twisted/python/context", "twisted.python.log (legacy log/context)"),
    ("twisted/web/_newclient", "twisted.web client (HTTP/1.1 parser)"),
    ("twisted/web/client", "twisted.web client (Agent, pool)"),
    ("treq/", "treq"),
    ("twisted/web/http_headers", "twisted.web headers"),
    ("twisted/web/http", "twisted.web server (HTTP/1.1)"),
    ("twisted/web/server", "twisted.web server (HTTP/1.1)"),
    ("twisted/web/", "twisted.web other"),
    ("klein/", "klein"),
    ("twisted/internet/defer", "Deferreds and coroutines"),
    ("twisted/internet/tcp", "reactor and sockets"),
    ("twisted/internet/", "reactor and sockets"),
    ("twisted/protocols/", "twisted.protocols (LineReceiver)"),
    ("json/", "json (stdlib)"),
    ("<built-in method _json", "json (stdlib)"),
    ("email/", "email (Content-Type parsing)"),
    ("idna/", "URL handling (hyperlink, idna, urllib, cookiejar)"),
    ("urllib/", "URL handling (hyperlink, idna, urllib, cookiejar)"),
    ("http/cookiejar", "URL handling (hyperlink, idna, urllib, cookiejar)"),
    ("string.py", "string.Formatter (log formatting)"),
    ("hmac.py", "fmzokx signing"),
    ("hyperlink/", "URL handling (hyperlink, idna, urllib, cookiejar)"),
    ("zope/", "zope.interface"),
    ("attr/", "attrs"),
    ("<method 'poll' of 'select.epoll'", "epoll wait (idle)"),
    ("<built-in method", "builtins"),
    ("<method", "builtins"),
)


def area_of(filename: str, function: str) -> str:
    """The area a profiled function belongs to (see :data:`AREAS`)."""
    where = filename.replace("\\\\", "/")
    label = f"{where}:{function}" if where != "~" else function
    for needle, area in AREAS:
        if needle in label:
            return area
    return "other (stdlib)"


#: Areas whose own time is charged to their callers' areas instead (a builtin such as
#: ``isinstance`` or a generic stdlib helper says nothing about who needed it).
GENERIC = frozenset({"builtins", "other (stdlib)"})


def areas(raw: dict[Any, Any]) -> dict[str, float]:
    """
    Own time per area, with generic functions' time charged to their callers' areas
    (in proportion to the time each caller accounts for, up to a few levels up).
    """
    own_area = {key: area_of(key[0], key[2]) for key in raw}
    result: dict[str, float] = {}

    def charge(key: Any, seconds: float, depth: int) -> None:
        area = own_area.get(key, "other (stdlib)")
        callers = raw[key][4] if key in raw else {}
        if area not in GENERIC or depth > 6 or not callers:
            result[area] = result.get(area, 0.0) + seconds
            return
        total = sum(item[2] for item in callers.values()) or 1.0
        for caller, item in callers.items():
            charge(caller, seconds * item[2] / total, depth + 1)

    for key, (_cc, _nc, tottime, _ct, _callers) in raw.items():
        charge(key, tottime, 0)
    return result


_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def sampled_areas(raw_lines: list[str]) -> tuple[dict[str, float], int]:
    """
    Shares by area from py-spy's raw (collapsed) stacks: each sample goes to the area of
    its innermost frame that is not :data:`GENERIC`; idle samples (the reactor waiting
    in ``epoll``, the journal's thread waiting for work) are left out.
    """
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw_lines:
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        frames = stack.split(";")
        leaf = frames[-1]
        if leaf.startswith(("EPollReactor.doPoll", "Condition.wait", "Queue.get")):
            continue
        area = "other (stdlib)"
        for frame in reversed(frames):
            match = _FRAME.match(frame)
            function, filename = (match["function"], match["file"]) if match else (frame, "")
            area = area_of(filename, function)
            if area not in GENERIC:
                break
        counts[area] += int(number)
        total += int(number)
    return {area: count / total for area, count in counts.items()} if total else {}, total


def _sample(args: argparse.Namespace, scenario: Any) -> int:
    beside = Path(sys.executable).parent / "py-spy"  # installed in this virtualenv
    spy = str(beside) if beside.is_file() else shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--sampler py-spy: py-spy is not installed (pip install py-spy)")
    directory = Path(tempfile.mkdtemp(prefix="fmzokx-profile-"))
    raw_file = directory / "daemon.raw"
    with procs.deadline(600), procs.running(directory) as processes:
        pair = start_pair(processes, "profile", private_stream="off")
        factory = scenario.daemon_factory(pair.daemon.port)
        run_load(pair.daemon.port, factory, daemon_ok, requests=300,
                 connections=args.connections, seconds=60)
        sampler = subprocess.Popen(
            [spy, "record", "--pid", str(pair.daemon.pid), "--format", "raw", "--rate", "200",
             "--output", str(raw_file)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(1.5)  # py-spy attaches
        result = run_load(pair.daemon.port, factory, daemon_ok, requests=args.requests,
                          connections=args.connections, seconds=300)
        sampler.send_signal(2)
        sampler.wait(60)
    print(f"{args.method}: {result.ok} ok, {result.errors} failed, p50 "
          f"{result.p(0.5):.3f} ms (sampled), {result.rps:.0f} req/s")
    shares, samples = sampled_areas(raw_file.read_text().splitlines())
    print(f"\ndaemon CPU by area ({samples} busy samples at 200 Hz, idle left out)")
    for area, share in sorted(shares.items(), key=lambda item: -item[1]):
        print(f"  {100 * share:5.1f}%  {area}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--method", default="ticker",
                        choices=[s.name for s in scenarios()])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--stats", type=Path, help="keep the pstats file here")
    parser.add_argument("--sampler", choices=["cprofile", "py-spy"], default="cprofile")
    args = parser.parse_args(argv)
    scenario = next(s for s in scenarios() if s.name == args.method)
    if args.sampler == "py-spy":
        return _sample(args, scenario)
    directory = Path(tempfile.mkdtemp(prefix="fmzokx-profile-"))
    stats_file = args.stats or directory / "daemon.pstats"
    with procs.deadline(600), procs.running(directory) as processes:
        pair = start_pair(
            processes, "profile", private_stream="off",
            command=procs.profiled_twistd_command(stats_file),
        )
        factory = scenario.daemon_factory(pair.daemon.port)
        run_load(pair.daemon.port, factory, daemon_ok, requests=200,
                 connections=args.connections, seconds=60)
        result = run_load(pair.daemon.port, factory, daemon_ok, requests=args.requests,
                          connections=args.connections, seconds=300)
        print(f"{args.method}: {result.ok} ok, {result.errors} failed, p50 "
              f"{result.p(0.5):.3f} ms (under cProfile), {result.rps:.0f} req/s")
        processes.stop(pair.daemon, grace=30)
        processes.stop(pair.sim)
    stats = pstats.Stats(str(stats_file))
    raw = stats.stats  # type: ignore[attr-defined]
    by_area = areas(raw)
    total = sum(seconds for area, seconds in by_area.items() if area != "epoll wait (idle)")
    requests = result.ok + 200 + 1
    print(f"\ndaemon CPU by area (own time, idle excluded; {total:.2f} s over ~{requests} "
          f"requests = {1000 * total / requests:.3f} ms/request under cProfile)")
    for area, seconds in sorted(by_area.items(), key=lambda item: -item[1]):
        if area == "epoll wait (idle)":
            continue
        print(f"  {100 * seconds / total:5.1f}%  {area}")
    print(f"\ntop {args.top} functions by own time")
    stats.sort_stats("tottime").print_stats(args.top)
    print(f"top {args.top} by cumulative time")
    stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
