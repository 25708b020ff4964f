"""
Child processes for the benchmark: ``twistd okxsim`` and ``twistd fmzokx`` on loopback.

Every process is started in its own session (so a Ctrl-C at the terminal reaches only the
harness, which then stops its children in order), logs to a file in the run directory,
and is stopped -- SIGTERM, then SIGKILL after a grace period -- when the
:class:`Processes` context exits, whatever the reason. Ports are discovered by binding
port 0 on 127.0.0.1; nothing ever listens on or connects to another address.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = [
    "LOOPBACK",
    "REPO_ROOT",
    "Child",
    "Processes",
    "TimeBudgetExceeded",
    "child_env",
    "cpu_seconds",
    "deadline",
    "free_port",
    "http_call",
    "json_call",
    "machine_info",
    "profiled_twistd_command",
    "rss_kib",
    "time_wait_to",
    "running",
    "twistd_command",
    "twistd_supports",
    "wait_ready",
]

LOOPBACK = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent


class TimeBudgetExceeded(Exception):
    """The whole run took longer than its ``--max-seconds`` budget."""


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (bind port 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def twistd_command() -> list[str]:
    """``twistd`` next to this interpreter, or the equivalent ``python -c`` invocation."""
    script = Path(sys.executable).parent / "twistd"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]


#: twistd under cProfile with a CPU-time clock (cProfile's default is wall time, which on
#: a busy 2-core machine charges time spent descheduled to whichever call was running).
PROFILED_TWISTD = """
import cProfile, sys, time
from twisted.application import app
from twisted.scripts.twistd import run
out = sys.argv.pop(1)
app._exitWithSignal = lambda signal: None  # return after SIGTERM instead of re-raising it
profiler = cProfile.Profile(time.process_time)
profiler.enable()
try:
    run()
finally:
    profiler.disable()
    profiler.dump_stats(out)
"""


def profiled_twistd_command(stats_file: Path) -> list[str]:
    """A command that runs twistd under a CPU-time cProfile, writing ``stats_file``."""
    return [sys.executable, "-c", PROFILED_TWISTD, str(stats_file)]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: the repo root first on PYTHONPATH (plugin discovery)."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + path if path else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


def twistd_supports(plugin: str, option: str, env: dict[str, str] | None = None) -> bool:
    """
    Whether ``twistd PLUGIN --help`` lists ``option`` (e.g. ``--ca-bundle``); ``env``
    as for the child (``PYTHONPATH`` naming another tree).
    """
    try:
        result = subprocess.run(
            [*twistd_command(), plugin, "--help"],
            env=child_env(env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return option in result.stdout


def time_wait_to(port: int) -> int:
    """
    Sockets in TIME-WAIT on either end of a connection to 127.0.0.1:``port`` (from
    /proc/net/tcp): each is a closed connection (whichever side closed first), so a rising
    count means connections are not being reused.
    """
    suffix = f":{port:04X}"
    count = 0
    try:
        with open("/proc/net/tcp", encoding="ascii") as table:
            next(table, None)
            for line in table:
                fields = line.split()
                if len(fields) > 3 and fields[3] == "06" and (
                    fields[1].endswith(suffix) or fields[2].endswith(suffix)
                ):
                    count += 1
    except OSError:
        return 0
    return count


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (from /proc, clock-tick resolution)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (``VmRSS`` from /proc)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class Child:
    """One running twistd process."""

    name: str
    args: list[str]
    log_path: Path
    started: float
    process: subprocess.Popen[bytes]
    port: int
    scheme: str = "http"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{LOOPBACK}:{self.port}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Processes:
    """Starts children in ``directory`` and guarantees they are stopped."""

    directory: Path
    children: list[Child] = field(default_factory=list)

    def start(
        self,
        name: str,
        plugin: str,
        plugin_args: Sequence[str],
        port: int,
        *,
        scheme: str = "http",
        env: dict[str, str] | None = None,
        twistd_args: Sequence[str] = (),
        command: Sequence[str] | None = None,
    ) -> Child:
        """
        Start ``twistd -n --pidfile= [TWISTD_ARGS] PLUGIN ARGS``, logging to a file.

        :param command: what runs twistd, if not :func:`twistd_command` (profiling).
        """
        log_path = self.directory / f"{name}.log"
        launcher = list(command) if command is not None else twistd_command()
        args = [*launcher, "-n", "--pidfile=", *twistd_args, plugin, *plugin_args]
        log_file = open(log_path, "ab")  # noqa: SIM115 - owned by the child
        try:
            started = time.perf_counter()
            process = subprocess.Popen(
                args,
                cwd=self.directory,
                env=child_env(env),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log_file.close()
        child = Child(name, args, log_path, started, process, port, scheme)
        self.children.append(child)
        return child

    def stop(self, child: Child, grace: float = 5.0) -> None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; by pid, never by name."""
        if child in self.children:
            self.children.remove(child)
        if child.process.poll() is not None:
            return
        try:
            child.process.send_signal(signal.SIGTERM)
            child.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait(timeout=grace)
        except ProcessLookupError:
            pass

    def stop_all(self) -> None:
        """Stop every child, newest first (the daemon before its okxsim)."""
        for child in reversed(list(self.children)):
            try:
                self.stop(child)
            except Exception:  # noqa: BLE001 - keep stopping the others
                child.process.kill()


@contextmanager
def running(directory: Path) -> Iterator[Processes]:
    """A :class:`Processes` whose children are stopped on exit, Ctrl-C included."""
    procs = Processes(directory)
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    try:
        yield procs
    finally:
        procs.stop_all()
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`TimeBudgetExceeded` in the main thread after ``seconds``."""

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise TimeBudgetExceeded(f"the run exceeded its budget of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def http_call(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    tls: ssl.SSLContext | None = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    """One blocking HTTP call to 127.0.0.1 (readiness probes and set-up only)."""
    connection: http.client.HTTPConnection
    if tls is not None:
        connection = http.client.HTTPSConnection(LOOPBACK, port, timeout=timeout, context=tls)
    else:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_ready(
    child: Child,
    probe: Any,
    *,
    timeout: float = 30.0,
    interval: float = 0.005,
) -> float:
    """
    Poll ``probe()`` until it returns true; return seconds since the child was started.

    :raises RuntimeError: if the child exits or ``timeout`` passes first (with its log).
    """
    limit = time.perf_counter() + timeout
    while True:
        if not child.alive():
            raise RuntimeError(
                f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}"
            )
        try:
            if probe():
                return time.perf_counter() - child.started
        except (OSError, http.client.HTTPException, ssl.SSLError, ValueError):
            pass
        if time.perf_counter() > limit:
            raise RuntimeError(
                f"{child.name} was not ready after {timeout:g} s:\n{child.log_tail()}"
            )
        time.sleep(interval)


def json_call(
    port: int, method: str, path: str, payload: Any = None, *, tls: ssl.SSLContext | None = None
) -> Any:
    """A blocking JSON call; returns the decoded reply (raises on a non-200 status)."""
    body = None if payload is None else json.dumps(payload).encode()
    status, content = http_call(port, method, path, body, tls=tls)
    if status != 200:
        raise RuntimeError(f"{method} {path} answered {status}: {content[:200]!r}")
    return json.loads(content)


def machine_info(generator: str) -> dict[str, str]:
    """What the figures ran on: commit, CPU, Python, platform, load generator."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from bench.load import wrk_path

    wrk = wrk_path()
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10, check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    return {
        "commit": commit or "unknown",
        "cpus": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "generator": (
            f"wrk ({wrk}) for throughput/concurrency/memory, asyncio for the rest"
            if generator == "wrk" and wrk else "asyncio (bench/load.py) for every figure"
        ),
    }
