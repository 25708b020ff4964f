"""
Start-up mistakes with a real ``twistd`` process: a port already in use and a token file
that cannot be read are one line naming the problem and a non-zero exit, no traceback and
no wall of ``--help``.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

TWISTD = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]
# Nothing listens on port 9 here: the daemon never reaches a real OKX.
OFFLINE = ["--okx-url", "http://127.0.0.1:9"]


def twistd(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TWISTD, "--nodaemon", "--pidfile=", "fmzokx", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
        stdin=subprocess.DEVNULL,
    )


def test_port_already_in_use_is_one_line(tmp_path: Path) -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        listen = f"tcp:{port}:interface=127.0.0.1"
        result = twistd("--listen", listen, *OFFLINE, cwd=tmp_path)
    finally:
        holder.close()
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "CannotListenError" not in output
    problem = [line for line in output.splitlines() if "cannot listen" in line]
    assert len(problem) == 1, output
    assert problem[0].endswith(
        f"cannot listen on {listen}: the address is already in use (another fmzokx, or "
        "another program, holds this port: stop it or choose another port with --listen)"
    )
    assert "starting up" in output  # twistd's own banner: the log is otherwise intact


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing-token", "does not exist"),
        (lambda d: d, "is a directory, not a file"),
        (lambda d: _write(d / "binary", b"\xff\xfe\x00token"), "is not a text file"),
        (lambda d: _write(d / "short", b"abc\n"), "must be at least 16 characters long"),
    ],
    ids=["missing", "directory", "not-text", "too-short"],
)
def test_unreadable_token_file_is_one_line(tmp_path: Path, make: object, message: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    result = twistd("--token-file", str(path), *OFFLINE, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"twistd fmzokx: --token-file '{path}'")
    assert message in result.stderr
    assert result.stderr.rstrip().endswith("(see twistd fmzokx --help)")
    assert "Traceback" not in result.stderr and "Usage:" not in result.stderr


def test_help_still_prints_the_help(tmp_path: Path) -> None:
    result = twistd("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: twistd [options] fmzokx ")


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_non_pem_ca_bundle_is_one_line(tmp_path: Path) -> None:
    """The lead's PEM check on --ca-bundle reaches the operator the same way: one line."""
    bundle = _write(tmp_path / "bundle.pem", b"this is not a certificate\n")
    result = twistd("--ca-bundle", str(bundle), *OFFLINE, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"twistd fmzokx: --ca-bundle '{bundle}' is not a PEM file")
    assert "Traceback" not in result.stderr
