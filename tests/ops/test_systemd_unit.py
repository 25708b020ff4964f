"""
The systemd unit shipped in ``contrib/systemd/fmzokx.service``: ``systemd-analyze
verify`` accepts it, ``systemd-analyze security`` rates its exposure no worse than
measured when it was written, its plugin-cache step leaves Twisted nothing to write at
start-up, and the docs show this very file.

The unit names ``/opt/fmzokx/bin/...``; the tests point a copy at this interpreter's
bin directory, which has the same ``python`` and ``twistd``. Without systemd-analyze
the systemd tests are skipped with the reason, except under ``CI=true`` (``.ci/run``
installs it), where that is a failure -- as for Chromium (``tests/chromium.py``).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "contrib" / "systemd" / "fmzokx.service"
INSTALLED = "/opt/fmzokx/bin/"
MEASURED_EXPOSURE = 1.2
"""``systemd-analyze security`` of the unit when written (systemd 252); the docs' unit
before it was 3.2."""


def require_systemd_analyze() -> str:
    """The systemd-analyze executable; skips without it (fails when CI=true)."""
    found = shutil.which("systemd-analyze")
    if found:
        return found
    reason = "systemd-analyze is not installed (Debian: apt-get install systemd)"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason}; CI must check the unit (.ci/run installs it)")
    pytest.skip(reason)


def local_unit(directory: Path) -> Path:
    """A copy of the unit whose commands are this environment's ``python``/``twistd``."""
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "twistd").is_file(), f"no twistd next to {sys.executable}"
    copy = directory / "fmzokx.service"
    copy.write_text(UNIT.read_text(encoding="utf-8").replace(INSTALLED, f"{bin_dir}/"))
    return copy


def directives(name: str) -> list[str]:
    """Every value of ``name=`` in the unit, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", UNIT.read_text(encoding="utf-8"))
    return [
        line.split("=", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith(f"{name}=")
    ]


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = require_systemd_analyze()
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(local_unit(tmp_path))],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "fmzokx.service" not in result.stderr, result.stderr


def test_security_exposure_stays_at_most_the_measured_score(tmp_path: Path) -> None:
    analyze = require_systemd_analyze()
    result = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(local_unit(tmp_path))],
        capture_output=True, text=True, timeout=60, check=False,
    )
    found = re.search(r"Overall exposure level for fmzokx\.service: ([0-9.]+)", result.stdout)
    assert found, result.stdout[-2000:] + result.stderr[-2000:]
    assert float(found.group(1)) <= MEASURED_EXPOSURE, result.stdout


def test_the_sandbox_a_network_daemon_needs() -> None:
    """The protections stay in the unit, and the network stays allowed."""
    assert directives("SystemCallFilter") == ["@system-service", "~@privileged"]
    assert directives("SystemCallErrorNumber") == ["EPERM"]
    assert directives("RestrictAddressFamilies") == ["AF_INET AF_INET6 AF_UNIX"]
    assert directives("ProtectSystem") == ["strict"]
    assert directives("CapabilityBoundingSet") == [""]
    assert directives("StateDirectory") == ["fmzokx"]
    assert directives("User") == ["fmzokx"]
    assert not directives("PrivateNetwork") and not directives("IPAddressDeny")
    # /metrics' process metrics read /proc/stat: ProcSubset=pid would silently drop them.
    assert not directives("ProcSubset")
    (start,) = directives("ExecStart")
    assert start.startswith(f"{INSTALLED}twistd --nodaemon --pidfile= ")


def test_plugin_cache_step_leaves_nothing_to_write_at_start(tmp_path: Path) -> None:
    """
    ExecStartPre (as root) brings Twisted's dropin.cache up to date, so the daemon,
    which cannot write next to the root-owned plugins, finds nothing to rewrite: a second
    scan changes no cache file.

    The copies get names of their own: Twisted scans the plugin directories in order
    and skips a module name it has already seen, and in an installed (non-editable)
    environment, as under tox, the real ``fmzokx_plugin`` sits in Twisted's own plugins
    directory, which comes first -- copies under the same names would leave this
    directory nothing to cache.
    """
    (pre,) = directives("ExecStartPre")
    assert pre.startswith("+"), "the cache step must run with full privileges"
    command = shlex.split(pre[1:].replace(INSTALLED, f"{Path(sys.executable).parent}/"))
    plugins = tmp_path / "site" / "twisted" / "plugins"
    plugins.mkdir(parents=True)
    for name in ("fmzokx_plugin.py", "okxsim_plugin.py"):
        shutil.copy(ROOT / "twisted" / "plugins" / name, plugins / f"copy_of_{name}")
    environment = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    cache = plugins / "dropin.cache"
    assert not cache.exists()
    subprocess.run(command, env=environment, check=True, timeout=120, cwd=tmp_path)
    assert cache.is_file()
    before = cache.stat().st_mtime_ns, cache.read_bytes()
    subprocess.run(command, env=environment, check=True, timeout=120, cwd=tmp_path)
    assert (cache.stat().st_mtime_ns, cache.read_bytes()) == before


def test_the_docs_show_the_shipped_unit() -> None:
    operations = (ROOT / "docs" / "operations.rst").read_text(encoding="utf-8")
    assert ".. literalinclude:: ../contrib/systemd/fmzokx.service" in operations


def test_the_units_install_steps_are_the_docs() -> None:
    """
    The install steps in the unit's header are the docs' own, in the same order: fmzokx
    from its source tree (the project publishes no package to an index, so ``pip install
    fmzokx`` would fetch whatever an index has under that name) and Twisted's plugin
    index built before the first start; the unit copied from where it ships.
    """
    operations = (ROOT / "docs" / "operations.rst").read_text(encoding="utf-8")
    found = re.search(r"create a system user::\n\n((?: {4}.*\n)+)", operations)
    assert found, "the docs' install block"
    docs_steps = [line.strip() for line in found.group(1).splitlines()]
    unit_steps = [
        line[1:].strip()
        for line in UNIT.read_text(encoding="utf-8").splitlines()
        if line.startswith("#   sudo ")
    ]
    assert unit_steps[: len(docs_steps)] == docs_steps
    assert unit_steps[len(docs_steps)] == (
        "sudo install -m 0644 /path/to/fmzokx/contrib/systemd/fmzokx.service "
        "/etc/systemd/system/"
    )
    for step in unit_steps:
        if " pip install " in step:
            assert "/" in step.split(" pip install ", 1)[1], step  # a path, not a name
