"""
Packaging facts an installer relies on: one version, a license file that matches the
declared license, the Python floor, and an sdist that carries what running the tests
needs.
"""

from __future__ import annotations

import ast
import re
from importlib.metadata import metadata, version
from pathlib import Path
from urllib.parse import urlsplit

import fmzokx

ROOT = Path(__file__).resolve().parents[1]


def test_one_version() -> None:
    """The installed metadata's version is fmzokx.__version__, and only pyproject reads it."""
    assert version("fmzokx") == fmzokx.__version__
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = { attr = "fmzokx.__version__" }' in pyproject
    assert re.search(r'(?m)^version\s*=\s*"', pyproject) is None  # no literal version


def test_setup_py_only_lists_packages() -> None:
    """Metadata in setup.py would shadow (or fight) pyproject's: it passes packages only."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    calls = [
        node for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup"
    ]
    assert len(calls) == 1
    assert {keyword.arg for keyword in calls[0].keywords} == {
        "packages", "package_data", "include_package_data",
    }


def test_license_file_matches_the_declared_license() -> None:
    meta = metadata("fmzokx")
    assert meta["License-Expression"] == "MIT"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text


def test_project_urls_are_addresses_a_reader_can_open() -> None:
    """
    Each Project-URL of the wheel is a label and an absolute https address (core
    metadata: "a browsable URL"; PyPI refuses an upload with anything else). They were
    paths into the source tree (``docs/index.rst``), which no installed wheel carries.
    The project documents no public home, so they name the two published documents it
    is built on, labelled as such.
    """
    entries = metadata("fmzokx").get_all("Project-URL") or []
    urls = dict(entry.split(", ", 1) for entry in entries)
    assert urls == {
        "FMZ custom protocol (upstream)": "https://www.fmz.com/digest-topic/10527",
        "OKX API v5 (upstream)": "https://www.okx.com/docs-v5/en/",
    }
    for label, url in urls.items():
        assert len(label) <= 32  # the core metadata's limit on a label
        parts = urlsplit(url)
        assert (parts.scheme, bool(parts.netloc)) == ("https", True), url


def test_python_floor_and_classifiers() -> None:
    meta = metadata("fmzokx")
    assert meta["Requires-Python"] == ">=3.10"
    classifiers = set(meta.get_all("Classifier") or [])
    for minor in (10, 11, 12, 13):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert "Framework :: Twisted" in classifiers


def test_sdist_manifest_carries_the_test_suite() -> None:
    """
    MANIFEST.in puts tests, docs, the benchmark, the systemd unit (contrib/) and the tox
    setup into the sdist.
    """
    lines = {
        line.strip() for line in (ROOT / "MANIFEST.in").read_text(encoding="utf-8").splitlines()
    }
    for directory in ("tests", "docs", "bench", "contrib"):
        assert f"graft {directory}" in lines
        assert (ROOT / directory).is_dir()
    included = " ".join(line for line in lines if line.startswith("include "))
    for name in ("tox.ini", "toxfile.py", "LICENSE", "README.md", ".python-version"):
        assert name in included.split()
        assert (ROOT / name).is_file()


def test_readme_lists_every_daemon_option() -> None:
    """README's options table has a row for each option of ``twistd fmzokx``."""
    from fmzokx.tap import Options

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"(?m)^\| `(--[a-z-]+)` \|", readme))
    options = Options()
    names = {f"--{flag[0]}" for flag in options.optFlags} | {
        f"--{parameter[0]}" for parameter in options.optParameters
    } | {f"--{name[4:].replace('_', '-')}" for name in dir(Options) if name.startswith("opt_")}
    names -= {"--help", "--version"}
    assert names, "no options found"
    assert names - rows == set(), f"README's options table misses {sorted(names - rows)}"
