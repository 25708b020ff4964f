"""
The adversarial memory phase: ``python bench/adversarial.py [--seconds N]`` on its own,
or as a phase of ``bench/run.py``.

Drives the daemon (pacing on, as in production) with a mix built to mint a new entry in
every per-key, per-path and per-instrument structure on every call:

- ``accounts`` with a brand-new API key each time (okxsim answers 50111): credential
  parsing, the secrets registry, a per-key pacing budget, metrics;
- ``__api_`` GETs of a random, never-repeated OKX-shaped path with a new key (okxsim
  answers 50111): a pacing budget per path and key, the path metric label;
- ``io`` SetDirection with a brand-new key: the io transport's per-key state;
- ``trade`` on a swap with a brand-new key: the position-mode read for that key;
- and a plain ``ticker`` in between.

It samples the daemon's resident memory (VmRSS) after a warm-up and after each of
``chunks`` equal slices of the run, and reports start, middle, end and peak. Before
issue #19 RSS rose from 58.5 to 100.6 MB in 60 s and was still rising; with every
structure bounded it must level off: the growth over the second half of the run is the
figure to watch.
"""

from __future__ import annotations

import argparse
import itertools
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import http_request, run_load  # noqa: E402
from bench.procs import rss_kib  # noqa: E402
from bench.scenarios import RPC_PATH  # noqa: E402

__all__ = ["adversarial_factory", "phase_adversarial", "rows"]

#: The daemon's options for this phase: OKX's rate limits paced, as in production.
DAEMON_ARGS = ("--rate-limits", "on")

_WORDS = ("asset", "account", "trade", "market", "public", "finance", "rubik", "copytrading",
          "users", "broker", "sprd", "tradingBot", "system", "affiliate")


def _body(method: str, params: dict[str, str], key: str, secret_key: str, nonce: int) -> bytes:
    return json.dumps(
        {"access_key": key, "secret_key": secret_key, "method": method, "params": params,
         "nonce": nonce},
        separators=(",", ":"),
    ).encode()


def _new_key() -> tuple[str, str]:
    """A never-seen API key, as the docker would send it (key, SECRET,PASSPHRASE)."""
    return (
        f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}-"
        f"{secrets.token_hex(2)}-{secrets.token_hex(6)}",
        f"{secrets.token_hex(16).upper()},{secrets.token_urlsafe(9)}",
    )


def adversarial_factory(port: int) -> tuple[Callable[[], bytes], dict[str, int]]:
    """A request factory cycling through the mix, and counters of what it minted."""
    counter = itertools.count()
    nonce = itertools.count(int(time.time() * 1000) * 1000)
    minted = {"keys": 0, "paths": 0, "requests": 0}

    def factory() -> bytes:
        turn = next(counter)
        minted["requests"] += 1
        kind = turn % 5
        if kind == 0:
            key, secret_key = _new_key()
            minted["keys"] += 1
            body = _body("accounts", {}, key, secret_key, next(nonce))
        elif kind == 1:
            path = (f"/api/v5/{_WORDS[turn % len(_WORDS)]}/{secrets.token_hex(6)}-"
                    f"{turn}")
            key, secret_key = _new_key()
            minted["paths"] += 1
            minted["keys"] += 1
            body = _body(f"__api_{path}", {"instId": "BTC-USDT"}, key, secret_key,
                         next(nonce))
        elif kind == 2:
            key, secret_key = _new_key()
            minted["keys"] += 1
            body = _body("io", {"code": "1", "args": '["sell"]'}, key, secret_key, next(nonce))
        elif kind == 3:
            key, secret_key = _new_key()
            minted["keys"] += 1
            body = _body("trade", {"symbol": "BTC_USDT.swap", "type": "buy", "price": "1000",
                                   "amount": "1"}, key, secret_key, next(nonce))
        else:
            body = _body("ticker", {"symbol": "BTC_USDT"}, "", "", next(nonce))
        return http_request("POST", RPC_PATH, port, body)

    return factory, minted


def new_key_cost(port: int, out: dict[str, float], calls: int = 300) -> None:
    """
    p50 of an ``io`` SetDirection (no OKX call) with one key throughout, and with a new
    key every call: what a first call for a key costs the daemon itself.
    """
    nonce = itertools.count(int(time.time() * 1000) * 1000 + 500_000)
    same_key, same_secret = _new_key()
    params = {"code": "1", "args": '["sell"]'}

    def same() -> bytes:
        body = _body("io", params, same_key, same_secret, next(nonce))
        return http_request("POST", RPC_PATH, port, body)

    def fresh() -> bytes:
        body = _body("io", params, *_new_key(), next(nonce))
        return http_request("POST", RPC_PATH, port, body)

    for name, factory in (("same", same), ("new", fresh)):
        run_load(port, factory, _answered, requests=calls // 10, seconds=30)  # warm-up
        result = run_load(port, factory, _answered, requests=calls, seconds=60)
        out[f"adversarial.{name}_key_p50_ms"] = result.p(0.5)


def _answered(body: bytes) -> bool:
    """Every call of the mix gets a JSON answer (most are errors by design)."""
    return body.startswith(b'{"data"') or body.startswith(b'{"error"')


def phase_adversarial(
    daemon_pid: int, daemon_port: int, out: dict[str, float], *, seconds: float,
    chunks: int = 10, connections: int = 20,
) -> list[float]:
    """
    Run the mix for ``seconds`` (after a warm-up of a tenth of that), sampling RSS after
    each of ``chunks`` slices; fill ``out`` and return the samples in MiB.
    """
    new_key_cost(daemon_port, out)
    factory, minted = adversarial_factory(daemon_port)
    run_load(daemon_port, factory, _answered, connections=connections, requests=10**7,
             seconds=max(1.0, seconds / 10))
    samples = [rss_kib(daemon_pid) / 1024]
    minted.update(keys=0, paths=0, requests=0)
    answered = errors = 0
    started = time.perf_counter()
    for _ in range(chunks):
        result = run_load(daemon_port, factory, _answered, connections=connections,
                          requests=10**7, seconds=seconds / chunks)
        answered += result.ok
        errors += result.errors
        samples.append(rss_kib(daemon_pid) / 1024)
    elapsed = time.perf_counter() - started
    middle = samples[len(samples) // 2]
    out["adversarial.seconds"] = elapsed
    out["adversarial.requests"] = answered
    out["adversarial.failed"] = errors
    out["adversarial.keys"] = minted["keys"]
    out["adversarial.paths"] = minted["paths"]
    out["adversarial.start_mib"] = samples[0]
    out["adversarial.middle_mib"] = middle
    out["adversarial.end_mib"] = samples[-1]
    out["adversarial.peak_mib"] = max(samples)
    out["adversarial.first_half_mib"] = middle - samples[0]
    out["adversarial.second_half_mib"] = samples[-1] - middle
    return samples


def rows(median: Callable[[str], float | None]) -> list[tuple[str, str, str, str]]:
    """The phase's rows for bench/run.py's table: (figure, median, target, met)."""

    def mib(key: str) -> str:
        value = median(key)
        return "n/a" if value is None else f"{value:.1f} MiB"

    seconds = median("adversarial.seconds")
    requests = median("adversarial.requests")
    keys = median("adversarial.keys")
    paths = median("adversarial.paths")
    second = median("adversarial.second_half_mib")
    what = (f"{requests or 0:,.0f} calls, {keys or 0:,.0f} new keys, {paths or 0:,.0f} new "
            f"paths in {seconds or 0:.0f} s")
    same, new = median("adversarial.same_key_p50_ms"), median("adversarial.new_key_p50_ms")
    return [
        (f"adversarial memory ({what})", "", "", ""),
        ("  RSS start / middle / end",
         f"{mib('adversarial.start_mib')} / {mib('adversarial.middle_mib')} / "
         f"{mib('adversarial.end_mib')}", "", ""),
        ("  RSS growth first half / second half",
         f"{mib('adversarial.first_half_mib')} / {mib('adversarial.second_half_mib')}",
         "2nd half <= 5 MiB",
         "n/a" if second is None else ("yes" if second <= 5 else "NO")),
        ("  io call p50, same key / a new key each call",
         "n/a" if same is None or new is None else f"{same:.2f} / {new:.2f} ms", "", ""),
    ]


def main(argv: list[str] | None = None) -> int:
    """Start okxsim and the daemon, run the phase once, print the figures."""
    from bench import procs
    from bench.run import start_pair, stop_pair

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the run")
    parser.add_argument("--chunks", type=int, default=10, help="RSS samples after warm-up")
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    directory = Path(tempfile.mkdtemp(prefix="fmzokx-adversarial-"))
    out: dict[str, Any] = {}
    with procs.deadline(args.seconds * 2 + 120), procs.running(directory) as processes:
        pair = start_pair(processes, "adversarial", daemon_args=DAEMON_ARGS,
                          private_stream="off")
        samples = phase_adversarial(pair.daemon.pid, pair.daemon.port, out,
                                    seconds=args.seconds, chunks=args.chunks,
                                    connections=args.connections)
        stop_pair(processes, pair)
    print("RSS MiB after warm-up, then after each slice: "
          + ", ".join(f"{s:.1f}" for s in samples))
    for figure, value, target, met in rows(out.get):
        print(f"{figure:<70} {value:<30} {target} {met}".rstrip())
    print(f"logs in {directory}")
    if args.json:
        args.json.write_text(json.dumps({"samples_mib": samples, **out}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
