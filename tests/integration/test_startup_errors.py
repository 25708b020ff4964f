"""
Start-up mistakes with a real ``twistd`` process: a port already in use, a journal locked
by another daemon, a malformed endpoint and a token file that cannot be read are one line
naming the problem and a non-zero exit within seconds, no traceback, no wall of
``--help`` and, daemonised, no hang and no pidfile left behind.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.procs import child_env, twistd_command

# Nothing listens on port 9 here: the daemon never reaches a real OKX.
OFFLINE = ["--okx-url", "http://127.0.0.1:9"]


def twistd(
    *arguments: str, cwd: Path, daemon: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``twistd fmzokx``: in the foreground, or daemonised with a pidfile and log."""
    twistd_options = (
        ["--pidfile", str(cwd / "twistd.pid"), "--logfile", str(cwd / "twistd.log")]
        if daemon
        else ["--nodaemon", "--pidfile="]
    )
    return subprocess.run(
        [*twistd_command(), *twistd_options, "fmzokx", "--status-listen", "none", *arguments],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
        stdin=subprocess.DEVNULL,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], problem: str) -> None:
    """Exit status 1, nothing on stdout, and ``problem`` as the one line on stderr."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr == f"twistd fmzokx: {problem}\n"


@pytest.mark.parametrize("daemon", [False, True], ids=["foreground", "daemonised"])
def test_port_already_in_use_is_one_line(tmp_path: Path, busy_port: int, daemon: bool) -> None:
    listen = f"tcp:{busy_port}:interface=127.0.0.1"
    started = time.monotonic()
    result = twistd("--listen", listen, "--sandbox", "--journal", str(tmp_path / "j.sqlite3"),
                    cwd=tmp_path, daemon=daemon)
    assert time.monotonic() - started < 30
    assert_one_line(
        result,
        f"cannot listen on {listen}: the address is already in use (another fmzokx, or "
        "another program, holds this port: stop it or choose another port with --listen)",
    )
    # Before the sandbox banner, before twistd's own log, and no pidfile left behind.
    assert not (tmp_path / "twistd.pid").exists()
    assert not (tmp_path / "twistd.log").exists()


def test_a_busy_status_port_names_its_option(tmp_path: Path, busy_port: int) -> None:
    listen = f"tcp:{busy_port}:interface=127.0.0.1"
    result = subprocess.run(
        [*twistd_command(), "--nodaemon", "--pidfile=", "fmzokx", "--status-listen", listen,
         "--listen", "tcp:0:interface=127.0.0.1", *OFFLINE,
         "--journal", str(tmp_path / "j.sqlite3")],
        env=child_env(), capture_output=True, text=True, timeout=60, check=False,
        stdin=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert_one_line(
        result,
        f"cannot listen on {listen}: the address is already in use (another fmzokx, or "
        "another program, holds this port: stop it or choose another port with "
        "--status-listen)",
    )


@pytest.mark.parametrize("daemon", [False, True], ids=["foreground", "daemonised"])
def test_a_journal_locked_by_another_daemon_is_one_line(tmp_path: Path, daemon: bool) -> None:
    journal = tmp_path / "journal.sqlite3"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from fmzokx.journal.lock import JournalLock\n"
         f"JournalLock.acquire({str(journal)!r}); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        started = time.monotonic()
        result = twistd("--listen", "tcp:0:interface=127.0.0.1", "--journal", str(journal),
                        *OFFLINE, cwd=tmp_path, daemon=daemon)
        assert time.monotonic() - started < 30
    finally:
        holder.kill()
        holder.wait()
    assert_one_line(
        result,
        f"order journal {journal} is in use by another fmzokx (pid {holder.pid} holds it, "
        "by this or another path to the same file); stop it, or give this daemon its own "
        "--journal",
    )
    assert not (tmp_path / "twistd.pid").exists()


@pytest.mark.parametrize("listen", ["tcp:notaport", "foo:bar", "tcp:6666:backlog=many"])
def test_a_malformed_listen_endpoint_is_one_line(tmp_path: Path, listen: str) -> None:
    result = twistd("--listen", listen, *OFFLINE, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(
        f"twistd fmzokx: --listen {listen!r} is not an endpoint Twisted can listen on ("
    )
    assert result.stderr.rstrip().endswith("(see twistd fmzokx --help)")


def test_a_unix_socket_in_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    listen = f"unix:{tmp_path}/missing/rpc.sock"
    result = twistd("--listen", listen, *OFFLINE, "--journal", str(tmp_path / "j.sqlite3"),
                    cwd=tmp_path)
    assert_one_line(result, f"cannot listen on {listen}: No such file or directory")


def test_version_names_fmzokx(tmp_path: Path) -> None:
    from fmzokx import __version__

    result = twistd("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith(f"fmzokx {__version__} (Twisted ")


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


@pytest.mark.parametrize(
    ("argument", "message"),
    [(["--seed", "x"], "--seed must be an integer, got 'x'"),
     (["--listen", "foo:bar"], "--listen 'foo:bar' is not an endpoint Twisted can listen on")],
)
def test_okxsim_usage_errors_are_one_line(argument: list[str], message: str) -> None:
    """``twistd okxsim`` answers a bad option as ``twistd fmzokx`` does (20 lines before)."""
    result = subprocess.run(
        [*twistd_command(), "--nodaemon", "--pidfile=", "okxsim", *argument],
        env=child_env(), capture_output=True, text=True, timeout=60, check=False,
        stdin=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"twistd okxsim: {message}")
    assert result.stderr.rstrip().endswith("(see twistd okxsim --help)")


def test_okxsim_port_already_in_use_is_one_line(busy_port: int) -> None:
    """``twistd okxsim`` on a taken port: one line, as ``twistd fmzokx`` (a traceback before)."""
    listen = f"tcp:{busy_port}:interface=127.0.0.1"
    result = subprocess.run(
        [*twistd_command(), "--nodaemon", "--pidfile=", "okxsim", "--listen", listen],
        env=child_env(), capture_output=True, text=True, timeout=60, check=False,
        stdin=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr == (
        f"twistd okxsim: cannot listen on {listen}: the address is already in use (another "
        "fmzokx, or another program, holds this port: stop it or choose another port with "
        "--listen)\n"
    )
