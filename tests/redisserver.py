"""
A throwaway ``redis-server`` for tests: its own temporary directory, a free loopback
port, no persistence, started and stopped by the test (never a system service).

Tests that need it call :func:`require_redis_server`: without the binary they are
skipped with a visible reason, except under ``CI=true``, where that is a failure
(``.ci/run`` installs Debian's ``redis-server``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

__all__ = ["RedisServer", "free_port", "require_redis_server"]

_START_LIMIT = 10.0


def require_redis_server() -> str:
    """The ``redis-server`` binary, or skip (fail under CI) when it is missing."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = (
            "redis-server is not installed (apt-get install redis-server); the shared "
            "rate-budget tests need a real Redis"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " and CI=true requires them to run")
        pytest.skip(message)
    return binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process on 127.0.0.1; :meth:`start` again after :meth:`stop`."""

    def __init__(
        self,
        directory: Path,
        *,
        password: str | None = None,
        tls: tuple[Path, Path, Path] | None = None,
    ) -> None:
        self.binary = require_redis_server()
        self.directory = directory
        self.password = password
        self.tls = tls
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}127.0.0.1:{self.port}/0"

    def _config(self) -> Path:
        lines = [
            "bind 127.0.0.1",
            f"dir {self.directory}",
            'save ""',
            "appendonly no",
            "protected-mode yes",
            f"logfile {self.directory / 'redis.log'}",
        ]
        if self.password:
            lines.append(f"requirepass {self.password}")
        if self.tls:
            cert, key, ca = self.tls
            lines += [
                "port 0",
                f"tls-port {self.port}",
                f"tls-cert-file {cert}",
                f"tls-key-file {key}",
                f"tls-ca-cert-file {ca}",
                "tls-auth-clients no",
            ]
        else:
            lines.append(f"port {self.port}")
        path = self.directory / "redis.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [self.binary, str(self._config())],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + _START_LIMIT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited at start:\n{log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not listen on {self.port} within {_START_LIMIT} s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, nothing answers."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def cli(self, *args: str) -> str:
        """Run ``redis-cli`` against this server and return its output (tests only)."""
        command = ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "--raw"]
        if self.tls:
            command += ["--tls", "--cacert", str(self.tls[2])]
        env = dict(os.environ)
        if self.password:
            env["REDISCLI_AUTH"] = self.password
        done = subprocess.run(
            [*command, *args], capture_output=True, timeout=10, env=env, check=True
        )
        return done.stdout.decode("utf-8", "replace")
