"""The twistd plugins are discoverable, one-line usage errors, and lazy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins

ROOT = Path(__file__).resolve().parents[1]


def test_fmzokx_plugin_is_found() -> None:
    """getPlugins(IServiceMaker) finds tapname 'fmzokx' pointing at fmzokx.tap."""
    makers = {maker.tapname: maker for maker in getPlugins(IServiceMaker)}
    assert "fmzokx" in makers
    assert makers["fmzokx"].module == "fmzokx.tap"  # type: ignore[attr-defined]
    from fmzokx.options import Options

    options = makers["fmzokx"].options
    assert issubclass(options, Options) and options is not Options  # the one-line wrapper


def test_okxsim_plugin_is_found() -> None:
    """getPlugins(IServiceMaker) finds tapname 'okxsim' pointing at fmzokx.sim.tap."""
    makers = {maker.tapname: maker for maker in getPlugins(IServiceMaker)}
    assert "okxsim" in makers
    assert makers["okxsim"].module == "fmzokx.sim.tap"  # type: ignore[attr-defined]
    from fmzokx.sim.tap import SimulatorOptions

    options = makers["okxsim"].options
    assert issubclass(options, SimulatorOptions) and options is not SimulatorOptions


def test_plugin_discovery_imports_no_fmzokx_module() -> None:
    """
    ``twistd --help`` lists every plugin: finding ours must not import fmzokx (nor install
    a reactor), or every twistd command on the machine would pay for it.
    """
    script = (
        "import sys\n"
        "from twisted.application.service import IServiceMaker\n"
        "from twisted.plugin import getPlugins\n"
        "names = sorted(m.tapname for m in getPlugins(IServiceMaker))\n"
        "assert 'fmzokx' in names and 'okxsim' in names, names\n"
        "print(sorted(m for m in sys.modules if m == 'fmzokx' or m.startswith('fmzokx.')))\n"
        "print('twisted.internet.reactor' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True,
        timeout=60,
    )
    assert result.stdout.splitlines() == ["[]", "False"], result.stdout + result.stderr
