"""The installed command lines: ``twistd fmzokx --help`` and ``twistd okxsim --help``."""

from __future__ import annotations

import re
import subprocess

import pytest

from bench.procs import child_env, twistd_command


def help_text(plugin: str) -> str:
    result = subprocess.run(
        [*twistd_command(), plugin, "--help"], env=child_env(), capture_output=True,
        text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    "option",
    ["--listen", "--okx-url", "--timeout", "--rate-limits", "--sandbox", "--max-body",
     "--allow-ip", "--token-file", "--ca-bundle", "--max-connections", "--request-timeout",
     "--journal", "--journal-days"],
)
def test_fmzokx_help_lists_every_option(option: str) -> None:
    """twistd fmzokx --help shows each documented option."""
    assert option in help_text("fmzokx")


def test_fmzokx_synopsis_names_every_option() -> None:
    """
    The first line of ``twistd fmzokx --help`` (the synopsis) names every option the
    daemon accepts, taken from the Options class itself so a new option cannot be missed.
    """
    from fmzokx.tap import Options

    synopsis = help_text("fmzokx").splitlines()[0]
    assert synopsis.startswith("Usage: twistd [options] fmzokx ")
    options = {name.rstrip("=") for name in Options().longOpt} - {"help", "version"}
    named = set(re.findall(r"--([a-z][a-z-]*)", synopsis))
    missing = sorted(options - named)
    assert not missing, f"not in the synopsis: {missing}"


@pytest.mark.parametrize(
    "option", ["--listen", "--account", "--latency", "--seed", "--rate-limits"]
)
def test_okxsim_help_lists_every_option(option: str) -> None:
    """twistd okxsim --help shows each documented option."""
    assert option in help_text("okxsim")


def test_bad_option_is_a_usage_error() -> None:
    """A bad value exits non-zero with the helpful message on stderr."""
    result = subprocess.run(
        [*twistd_command(), "fmzokx", "--timeout", "soon"], env=child_env(),
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode != 0
    assert "--timeout must be a number" in result.stderr + result.stdout
