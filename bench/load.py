"""
Load generators: a small asyncio HTTP/1.1 client, and a driver for ``wrk`` when installed.

The asyncio generator keeps one connection per worker alive (HTTP/1.1 keep-alive) unless
asked to open a fresh one per request, times every request with
:func:`time.perf_counter_ns`, and checks every reply with a caller-supplied predicate.
It reads ``Content-Length`` and chunked bodies (Twisted answers asynchronous resources
chunked). Every run is bounded both in requests and in seconds, and only ever connects to
127.0.0.1.

``wrk`` (C, event-driven) is used for the multi-connection figures when it is on PATH: it
costs far less CPU per request than any Python client, which matters on a 2-core machine
where client, daemon and okxsim share the cores. Its Lua ``done()`` hook prints the
request count and latency percentiles as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "LoadResult",
    "RequestFactory",
    "WrkResult",
    "http_request",
    "percentile",
    "run_load",
    "run_wrk",
    "wrk_path",
]

LOOPBACK = "127.0.0.1"

#: Builds the bytes of one complete HTTP request (called once per request).
RequestFactory = Callable[[], bytes]
#: Whether a reply body is a success.
BodyCheck = Callable[[bytes], bool]


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` (0..1) percentile by nearest rank; ``nan`` when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class LoadResult:
    """What one load run measured (latencies in milliseconds)."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0
    generator: str = "asyncio"
    first_error: str = ""

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + self.errors

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else float("nan")

    def p(self, fraction: float) -> float:
        return percentile(self.latencies_ms, fraction)


def http_request(
    method: str,
    path: str,
    port: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    close: bool = False,
) -> bytes:
    """The bytes of one HTTP/1.1 request to 127.0.0.1:``port``."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {LOOPBACK}:{port}"]
    if body or method in ("POST", "PUT"):
        lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _ProtocolError(Exception):
    pass


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Read one response: (status, body, server keeps the connection open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise _ProtocolError(f"bad status line {lines[0]!r}")
    status = int(parts[1])
    length: int | None = None
    chunked = False
    keep_alive = parts[0] == "HTTP/1.1"
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        value = value.strip()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "connection":
            keep_alive = value.lower() != "close"
    if chunked:
        chunks = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers from Twisted
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(chunks)
    elif length is not None:
        body = await reader.readexactly(length)
    else:
        body = await reader.read()
        keep_alive = False
    return status, body, keep_alive


async def _open(
    port: int, tls: ssl.SSLContext | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(
        LOOPBACK,
        port,
        ssl=tls,
        server_hostname=LOOPBACK if tls is not None else None,
        limit=1 << 24,
    )


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except (OSError, ssl.SSLError):
        pass


async def _load(
    port: int,
    factory: RequestFactory,
    check: BodyCheck,
    connections: int,
    requests: int,
    seconds: float,
    tls: ssl.SSLContext | None,
    fresh: bool,
    pace: float = 0.0,
) -> LoadResult:
    result = LoadResult(generator="asyncio" + (" (new TLS connection per call)" if fresh else ""))
    remaining = [requests]
    started = time.perf_counter()
    stop_at = started + seconds

    async def worker() -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        try:
            while remaining[0] > 0 and time.perf_counter() < stop_at:
                remaining[0] -= 1
                payload = factory()
                begin = time.perf_counter_ns()
                try:
                    if writer is None or reader is None:
                        reader, writer = await _open(port, tls)
                    writer.write(payload)
                    status, body, keep_alive = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError, _ProtocolError, ssl.SSLError,
                        ValueError, asyncio.LimitOverrunError) as error:
                    result.errors += 1
                    result.first_error = result.first_error or repr(error)
                    if writer is not None:
                        await _close(writer)
                    reader = writer = None
                    continue
                end = time.perf_counter_ns()
                if status == 200 and check(body):
                    result.latencies_ms.append((end - begin) / 1e6)
                else:
                    result.errors += 1
                    result.first_error = result.first_error or f"{status} {body[:200]!r}"
                if fresh or not keep_alive:
                    await _close(writer)
                    reader = writer = None
                if pace > 0:
                    await asyncio.sleep(pace)
        finally:
            if writer is not None:
                await _close(writer)

    await asyncio.gather(*(worker() for _ in range(connections)))
    result.elapsed = time.perf_counter() - started
    return result


def run_load(
    port: int,
    factory: RequestFactory,
    check: BodyCheck,
    *,
    connections: int = 1,
    requests: int = 1000,
    seconds: float = 60.0,
    tls: ssl.SSLContext | None = None,
    fresh_connection: bool = False,
    pace: float = 0.0,
) -> LoadResult:
    """
    Send up to ``requests`` requests over ``connections`` connections to 127.0.0.1:``port``
    for at most ``seconds``; each worker sends its next request when the previous reply
    has arrived (closed loop), after ``pace`` seconds of "think time" if given (a
    strategy's loop).
    """
    return asyncio.run(
        _load(port, factory, check, connections, requests, seconds, tls, fresh_connection,
              pace)
    )


# -- wrk ---------------------------------------------------------------------------------

_WRK_SCRIPT = """
wrk.method = {method}
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
{headers}
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
end
"""


def _lua_string(text: str) -> str:
    level = "="
    while f"]{level}]" in text:
        level += "="
    return f"[{level}[{text}]{level}]"


def wrk_path() -> str | None:
    """The ``wrk`` executable, if installed."""
    return shutil.which("wrk")


@dataclass
class WrkResult:
    """What one wrk run reported (latencies in milliseconds)."""

    requests: int
    elapsed: float
    p50_ms: float
    p99_ms: float
    errors: int
    generator: str = "wrk"

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed if self.elapsed > 0 else float("nan")

    def p(self, fraction: float) -> float:
        if fraction == 0.5:
            return self.p50_ms
        if fraction == 0.99:
            return self.p99_ms
        raise ValueError("wrk results carry p50 and p99 only")


def run_wrk(
    port: int,
    path: str,
    *,
    method: str = "GET",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    connections: int = 50,
    seconds: float = 5.0,
    threads: int = 1,
) -> WrkResult:
    """Run wrk against http://127.0.0.1:``port````path`` for ``seconds``."""
    executable = wrk_path()
    if executable is None:
        raise RuntimeError("wrk is not installed")
    extra = "\n".join(
        f"wrk.headers[ {_lua_string(name)} ] = {_lua_string(value)}"
        for name, value in (headers or {}).items()
    )
    script = _WRK_SCRIPT.format(
        method=_lua_string(method), body=_lua_string(body.decode("utf-8")), headers=extra
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        script_path = Path(handle.name)
    try:
        completed = subprocess.run(
            [
                executable,
                f"-t{max(1, min(threads, connections))}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                str(script_path),
                f"http://{LOOPBACK}:{port}{path}",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
    finally:
        script_path.unlink(missing_ok=True)
    for line in completed.stdout.splitlines():
        if line.startswith("WRKJSON "):
            data = json.loads(line[len("WRKJSON "):])
            errors = sum(data[name] for name in ("connect", "read", "write", "status", "timeout"))
            return WrkResult(
                requests=data["requests"],
                elapsed=data["duration_us"] / 1e6,
                p50_ms=data["p50_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                errors=errors,
            )
    raise RuntimeError(f"wrk printed no summary: {completed.stdout}\n{completed.stderr}")
