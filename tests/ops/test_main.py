"""
``python -m fmzokx``: --version, the command table, usage errors -- in process and as a
real ``python -m fmzokx`` subprocess.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Sequence
from importlib.metadata import version

import fmzokx
from fmzokx.__main__ import COMMANDS, Command, main, usage


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def python_m(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fmzokx", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version_is_the_package_version() -> None:
    """--version prints the one version: fmzokx.__version__, which the metadata also carries."""
    status, out, err = run("--version")
    assert (status, out, err) == (0, f"fmzokx {fmzokx.__version__}\n", "")
    assert version("fmzokx") == fmzokx.__version__
    assert run("-V")[1] == out


def test_help_lists_every_command() -> None:
    status, out, _ = run("--help")
    assert status == 0
    assert out == usage()
    for name, command in COMMANDS.items():
        assert f"  {name}  " in out and command.summary in out


def test_no_command_is_a_usage_error() -> None:
    status, out, err = run()
    assert (status, out) == (2, "")
    assert err.startswith("usage: python -m fmzokx")


def test_unknown_command_names_the_known_ones() -> None:
    status, out, err = run("jornal")
    assert (status, out) == (2, "")
    assert "unknown command 'jornal'; commands: call" in err


def test_every_command_loads() -> None:
    """Each table entry names a real callable (a typo in a dotted path fails here)."""
    for command in COMMANDS.values():
        assert callable(command.load())


SEEN: list[list[str]] = []


def fake_command(argv: Sequence[str]) -> int:
    """A command for the table test: records its arguments, exits 7."""
    SEEN.append(list(argv))
    return 7


def test_command_gets_the_remaining_arguments() -> None:
    """The chosen command's main receives the arguments after its name; its status is ours."""
    SEEN.clear()
    table = {"echo": Command(summary="test", entry="tests.ops.test_main:fake_command")}
    assert main(["echo", "a", "--b=c"], commands=table) == 7
    assert SEEN == [["a", "--b=c"]]


def test_python_m_version() -> None:
    result = python_m("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"fmzokx {fmzokx.__version__}\n"


def test_python_m_call_is_fmzokx_call() -> None:
    """``python -m fmzokx call`` runs fmzokx-call: its usage errors and its exit statuses."""
    result = python_m("call", "--help")
    assert result.returncode == 0
    assert "Send one call to fmzokx as the FMZ docker would" in result.stdout
    result = python_m("call", "ticker", "symbol")
    assert result.returncode == 2
    assert "must be written key=value" in result.stderr


def test_python_m_call_reports_no_reply() -> None:
    """Nothing listens on loopback port 1: exit status 3 and a one-line reason."""
    result = python_m("call", "--url", "http://127.0.0.1:1/OKX", "--timeout", "5", "ticker")
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("fmzokx-call: ")
    assert "Traceback" not in result.stderr


def test_python_m_journal_reads_the_journal(tmp_path: object) -> None:
    """``python -m fmzokx journal`` is the journal reader: a missing file is a clear error."""
    from pathlib import Path

    missing = Path(str(tmp_path)) / "nope.sqlite3"
    result = python_m("journal", "--help")
    assert result.returncode == 0
    assert "python -m fmzokx journal" in result.stdout
    result = python_m("journal", "--journal", str(missing))
    assert result.returncode != 0
    assert str(missing) in result.stderr and "Traceback" not in result.stderr
