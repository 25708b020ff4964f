"""
``bench/run.py --baseline REF``: price a change in the same run, on the same machine.

The daemon as of git revision REF is exported (``git archive``) into the run directory
and started from that tree alone (its directory is the only ``PYTHONPATH`` entry, so its
``fmzokx`` and its twistd plugin are found before this checkout's: the import system's
path finder runs ahead of an editable install's finder). Each repeat measures its
overhead phase just before this tree's; the table adds each method's p50 at REF and
the change, against the journal issue's budget of +0.50 ms on ``trade``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from bench import procs
from bench.scenarios import scenarios

__all__ = ["PREFIX", "export_revision", "has_option", "rows"]

PREFIX = "baseline."
"""Prefix of the baseline daemon's figures in a repeat's results."""

TRADE_BUDGET_MS = 0.5


def export_revision(revision: str, directory: Path) -> tuple[str, Path]:
    """``git archive`` the repository at ``revision`` into ``directory``; (short id, tree)."""
    repo = procs.REPO_ROOT
    try:
        short = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", f"{revision}^{{commit}}"],
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as error:
        raise SystemExit(f"--baseline {revision!r}: not a git revision here ({error})") from None
    target = directory / f"baseline-{short}"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", short],
        capture_output=True, check=True, timeout=120,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True, timeout=120)
    return short, target


def has_option(tree: Path, option: str) -> bool:
    """Whether the exported daemon's ``twistd fmzokx`` knows ``option`` (from its source)."""
    tap = tree / "fmzokx" / "tap.py"
    return tap.is_file() and f'"{option.lstrip("-")}"' in tap.read_text(encoding="utf-8")


def rows(
    median: Callable[[str], float | None], revision: str
) -> list[tuple[str, str, str, str]]:
    """Table rows: each method's overhead p50 at ``revision`` and this tree's change."""
    result: list[tuple[str, str, str, str]] = []
    for scenario in scenarios():
        name = scenario.name
        before = median(f"{PREFIX}overhead.{name}.p50")
        after = median(f"overhead.{name}.p50")
        change = None if before is None or after is None else after - before
        result.append((
            f"overhead {name} p50 at {revision} (same run)",
            "n/a" if before is None else f"{before:.3f} ms", "", "",
        ))
        trade = name == "trade"
        result.append((
            f"  change, this tree - {revision}",
            "n/a" if change is None else f"{change:+.3f} ms",
            f"<= +{TRADE_BUDGET_MS:.2f} ms" if trade else "",
            ("n/a" if change is None else "yes" if change <= TRADE_BUDGET_MS else "NO")
            if trade else "",
        ))
    return result
